/**
 * The serve scheduler (docs/fleet.md, "Serve"): when each mirror runs next. Every mirror runs on
 * its schedule plus a jitter, never twice at once; a failed or blocked run backs off
 * exponentially up to a cap, a successful one returns the mirror to its schedule; a trigger (a webhook) runs a
 * mirror at once, or once more right after the run in progress. The clock, the timers and the
 * random source are injected, so the rules are tested without waiting (test/fleet/scheduler.test.ts).
 * What a run does, and how many run at once, is the caller's (`run`, serve.ts with the runner's
 * HostLimiter).
 */
import { Cron } from 'croner';
import type { MirrorSchedule } from './manifest.js';
import type { RunOutcome, RunTrigger as StateRunTrigger } from './state.js';

/** A mirror's schedule, as the manifest gives it (an interval, or a cron expression). */
export type Schedule = MirrorSchedule;

/** What starts a run of a scheduled mirror (`once` is `fleet run`'s). */
export type RunTrigger = Exclude<StateRunTrigger, 'once'>;

/*
 * How a run ended (RunOutcome): `failed` and `blocked` back off (a blocked mirror waits for a
 * person, and the state counts it as failing too); `aborted` (the service stopped it) changes
 * nothing.
 */
export type { RunOutcome };

/** Time and timers; the real ones by default, a fake in unit tests. */
export interface Clock {
  now(): number;
  setTimer(callback: () => void, delayMillis: number): unknown;
  clearTimer(handle: unknown): void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimer: (callback, delayMillis) => {
    // Node's timers overflow past 2^31-1 ms (24.8 days) and then fire at once; a schedule that
    // far away is rechecked when this shorter timer fires (see arm()).
    const timer = setTimeout(callback, Math.min(delayMillis, MAX_TIMER_MILLIS));
    timer.unref?.();
    return timer;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

const MAX_TIMER_MILLIS = 2 ** 31 - 1;

export interface SchedulerOptions {
  /** Runs one mirror; resolves with how it ended (a rejection counts as `failed`). */
  run: (id: string, trigger: RunTrigger) => Promise<RunOutcome>;
  clock?: Clock;
  /** In [0, 1). Default Math.random. */
  random?: () => number;
  /** Jitter added to every scheduled time: up to this share of the mirror's period. Default 0.1. */
  jitterRatio?: number;
  /** ... and never more than this. Default 5 minutes. */
  maxJitterMillis?: number;
  /** The longest back-off after failures (never shorter than the mirror's period). Default 1 hour. */
  maxBackoffMillis?: number;
  /** Told each time a mirror's next run is decided (null: none, the mirror is running or gone). */
  onNextRun?: (id: string, at: number | null) => void;
}

/** What the scheduler knows of a mirror when it takes it on (from the state database). */
export interface MirrorHistory {
  /** When the last service planned its next run, or null. */
  nextRunAt: number | null;
  consecutiveFailures: number;
}

export interface ScheduledStatus {
  id: string;
  /** A run of this mirror is in progress (or waiting for a slot under the concurrency caps). */
  running: boolean;
  /** The trigger of a run queued behind the one in progress, or null. */
  queued: RunTrigger | null;
  nextRunAt: number | null;
  consecutiveFailures: number;
  /** True while the next run is a back-off after failures rather than the schedule. */
  backingOff: boolean;
}

interface Entry {
  id: string;
  schedule: Schedule;
  failures: number;
  timer: unknown;
  nextRunAt: number | null;
  running: Promise<void> | null;
  queued: RunTrigger | null;
  removed: boolean;
  backingOff: boolean;
}

/** The next time a schedule fires strictly after `from` (ms since the epoch). */
export function nextSlot(schedule: Schedule, from: number): number {
  if (schedule.kind === 'interval') return from + schedule.millis;
  const next = cronOf(schedule.expression).nextRun(new Date(from));
  // A cron expression that never fires again (a date in the past) is refused by the manifest;
  // should one slip through, a day from now keeps the mirror scheduled without spinning.
  return next === null ? from + DAY_MILLIS : next.getTime();
}

/** The gap between two runs of a schedule around `from`: what jitter and back-off scale with. */
export function periodOf(schedule: Schedule, from: number): number {
  if (schedule.kind === 'interval') return schedule.millis;
  const [first, second] = cronOf(schedule.expression).nextRuns(2, new Date(from));
  return first !== undefined && second !== undefined ? second.getTime() - first.getTime() : DAY_MILLIS;
}

/**
 * The wait before the next attempt after `failures` consecutive failed runs (1 or more): twice
 * the period after the first, doubling after each further one, capped at `maxBackoffMillis` but
 * never shorter than the period itself, so a back-off never runs a mirror more often than its
 * schedule would.
 */
export function backoffDelay(period: number, failures: number, maxBackoffMillis: number): number {
  const cap = Math.max(period, maxBackoffMillis);
  // 2^failures overflows to Infinity long after the cap is reached; min() keeps it finite.
  return Math.min(cap, period * 2 ** Math.min(failures, 52));
}

const DAY_MILLIS = 24 * 3_600_000;
const cronCache = new Map<string, Cron>();

function cronOf(expression: string): Cron {
  let cron = cronCache.get(expression);
  if (cron === undefined) {
    // No callback: croner only computes dates, it starts no timer of its own.
    cron = new Cron(expression, { paused: true });
    cronCache.set(expression, cron);
  }
  return cron;
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly jitterRatio: number;
  private readonly maxJitterMillis: number;
  private readonly maxBackoffMillis: number;
  private stopped = false;
  /** Runs of removed mirrors still in progress, by mirror id: stop() waits for them too. */
  private readonly orphans = new Map<Promise<void>, string>();

  constructor(private readonly options: SchedulerOptions) {
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.random = options.random ?? Math.random;
    this.jitterRatio = options.jitterRatio ?? 0.1;
    this.maxJitterMillis = options.maxJitterMillis ?? 5 * 60_000;
    this.maxBackoffMillis = options.maxBackoffMillis ?? 3_600_000;
  }

  /**
   * Takes a mirror on. Its first run is the one an earlier service planned when that is still
   * ahead, otherwise now plus a jitter, so a fleet started at once does not hit its hosts at once.
   */
  add(id: string, schedule: Schedule, history: MirrorHistory = { nextRunAt: null, consecutiveFailures: 0 }): void {
    if (this.entries.has(id)) throw new Error(`mirror ${id} is scheduled already`);
    const entry: Entry = { id, schedule, failures: history.consecutiveFailures, timer: null, nextRunAt: null, running: null, queued: null, removed: false, backingOff: false };
    this.entries.set(id, entry);
    const now = this.clock.now();
    // A planned time further away than this schedule and back-off could have set (the schedule
    // was shortened since) is not kept.
    const period = periodOf(schedule, now);
    const furthest = now + Math.max(period, history.consecutiveFailures > 0 ? backoffDelay(period, history.consecutiveFailures, this.maxBackoffMillis) : 0) + this.maxJitterMillis;
    const kept = history.nextRunAt !== null && history.nextRunAt > now && history.nextRunAt <= furthest;
    const at = kept ? history.nextRunAt! : now + this.jitter(schedule, now);
    const previous = [...this.orphans].find(([, orphan]) => orphan === id)?.[0];
    if (previous === undefined) {
      this.arm(entry, at);
      return;
    }
    // Removed, then added again while its old run goes on: never two at once, so the new entry
    // counts as running until the old run ends.
    entry.running = previous.then(() => {
      entry.running = null;
      if (entry.removed || this.stopped) return;
      const queued = entry.queued;
      entry.queued = null;
      if (queued !== null) this.start(entry, queued);
      else this.arm(entry, Math.max(at, this.clock.now()));
    });
  }

  /** A reloaded manifest changed a mirror's schedule: its next run is planned again from now. */
  reschedule(id: string, schedule: Schedule): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    const changed = JSON.stringify(entry.schedule) !== JSON.stringify(schedule);
    entry.schedule = schedule;
    if (changed && entry.running === null) this.planAfterRun(entry, 'success');
  }

  /** Forgets a mirror; a run in progress finishes, and nothing follows it. */
  remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    entry.removed = true;
    entry.queued = null;
    this.disarm(entry);
    if (entry.running !== null) this.orphans.set(entry.running, id);
    this.entries.delete(id);
    this.options.onNextRun?.(id, null);
  }

  /**
   * Runs a mirror now: `started`; or, when it is running, once more right after that run
   * (`queued`: the push that triggered may have come after the run's listing); `unknown` for an
   * id the scheduler does not have, `stopped` once stop() was called.
   */
  trigger(id: string, trigger: RunTrigger): 'started' | 'queued' | 'unknown' | 'stopped' {
    if (this.stopped) return 'stopped';
    const entry = this.entries.get(id);
    if (entry === undefined) return 'unknown';
    if (entry.running !== null) {
      entry.queued = trigger;
      return 'queued';
    }
    this.start(entry, trigger);
    return 'started';
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  status(id: string): ScheduledStatus | null {
    const entry = this.entries.get(id);
    if (entry === undefined) return null;
    return { id, running: entry.running !== null, queued: entry.queued, nextRunAt: entry.nextRunAt, consecutiveFailures: entry.failures, backingOff: entry.backingOff };
  }

  /** How many runs are in progress. */
  inFlight(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.running !== null) count += 1;
    return count + this.orphans.size;
  }

  /** Stops taking work: no timer fires any more, no trigger starts a run. Resolves once every run in progress has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const entry of this.entries.values()) {
      entry.queued = null;
      this.disarm(entry);
    }
    await Promise.all([...[...this.entries.values()].map((entry) => entry.running), ...this.orphans.keys()]);
  }

  private jitter(schedule: Schedule, now: number): number {
    return Math.floor(this.random() * Math.min(periodOf(schedule, now) * this.jitterRatio, this.maxJitterMillis));
  }

  private arm(entry: Entry, at: number): void {
    this.disarm(entry);
    entry.nextRunAt = at;
    this.options.onNextRun?.(entry.id, at);
    const fire = (): void => {
      entry.timer = null;
      // A timer is capped (SYSTEM_CLOCK); a run further away than that is waited for again.
      if (this.clock.now() < at) entry.timer = this.clock.setTimer(fire, at - this.clock.now());
      else this.start(entry, 'schedule');
    };
    entry.timer = this.clock.setTimer(fire, Math.max(0, at - this.clock.now()));
  }

  private disarm(entry: Entry): void {
    if (entry.timer !== null) this.clock.clearTimer(entry.timer);
    entry.timer = null;
    entry.nextRunAt = null;
  }

  private start(entry: Entry, trigger: RunTrigger): void {
    this.disarm(entry);
    this.options.onNextRun?.(entry.id, null);
    const running: Promise<void> = Promise.resolve()
      .then(() => this.options.run(entry.id, trigger))
      .then(
        (outcome) => outcome,
        (): RunOutcome => 'failed',
      )
      .then((outcome) => {
        entry.running = null;
        this.orphans.delete(running);
        this.settle(entry, outcome);
      });
    entry.running = running;
  }

  private settle(entry: Entry, outcome: RunOutcome): void {
    if (outcome === 'failed' || outcome === 'blocked') entry.failures += 1;
    else if (outcome !== 'aborted') entry.failures = 0;
    if (entry.removed || this.stopped) return;
    const queued = entry.queued;
    entry.queued = null;
    if (queued !== null) this.start(entry, queued);
    else this.planAfterRun(entry, outcome);
  }

  private planAfterRun(entry: Entry, outcome: RunOutcome): void {
    const now = this.clock.now();
    const regular = nextSlot(entry.schedule, now);
    entry.backingOff = entry.failures > 0 && outcome !== 'success' && outcome !== 'noop';
    const at = entry.backingOff ? Math.max(regular, now + backoffDelay(periodOf(entry.schedule, now), entry.failures, this.maxBackoffMillis)) : regular;
    this.arm(entry, at + this.jitter(entry.schedule, now));
  }
}
