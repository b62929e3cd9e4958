/**
 * The serve scheduler's rules (docs/fleet.md, "Serve"), on a fake clock: jitter, never two runs
 * of one mirror at once, exponential capped back-off after failures and the return to the
 * schedule after a success, triggers, reload and stop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, nextSlot, periodOf, Scheduler, type Clock, type RunOutcome, type RunTrigger } from '../../src/fleet/scheduler.js';

/** Timers that fire only when the test advances the time. */
class FakeClock implements Clock {
  time = Date.UTC(2026, 0, 1);
  private timers: { at: number; callback: () => void; id: number }[] = [];
  private ids = 0;
  now(): number {
    return this.time;
  }
  setTimer(callback: () => void, delayMillis: number): unknown {
    const id = ++this.ids;
    this.timers.push({ at: this.time + delayMillis, callback, id });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer.id !== handle);
  }
  /** Moves the time forward, firing each due timer at its time, letting promises settle between. */
  async advance(millis: number): Promise<void> {
    const end = this.time + millis;
    for (;;) {
      await settle();
      const due = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

interface Run {
  id: string;
  trigger: RunTrigger;
  at: number;
  finish: (outcome: RunOutcome) => void;
}

/** A scheduler whose runs the test ends by hand (or at once with `auto`). */
function harness(options: { random?: () => number; auto?: (id: string) => RunOutcome; maxBackoffMillis?: number } = {}) {
  const clock = new FakeClock();
  const runs: Run[] = [];
  const next = new Map<string, number | null>();
  let running = 0;
  let mostAtOnce = 0;
  const scheduler = new Scheduler({
    clock,
    random: options.random ?? (() => 0),
    maxBackoffMillis: options.maxBackoffMillis,
    onNextRun: (id, at) => next.set(id, at),
    run: (id, trigger) =>
      new Promise<RunOutcome>((resolve) => {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        const finish = (outcome: RunOutcome): void => {
          running -= 1;
          resolve(outcome);
        };
        runs.push({ id, trigger, at: clock.now(), finish });
        if (options.auto) finish(options.auto(id));
      }),
  });
  return { clock, runs, next, scheduler, mostAtOnce: () => mostAtOnce };
}

const MINUTE = 60_000;

describe('scheduler', () => {
  it('runs a mirror on its interval, each run planned from the end of the last', async () => {
    const { clock, runs, scheduler } = harness({ auto: () => 'success' });
    const start = clock.now();
    scheduler.add('a', { kind: 'interval', millis: MINUTE });
    await clock.advance(3 * MINUTE + 1);
    assert.deepEqual(
      runs.map((run) => run.at - start),
      [0, MINUTE, 2 * MINUTE, 3 * MINUTE],
    );
    assert.ok(runs.every((run) => run.trigger === 'schedule'));
  });

  it('adds a jitter of at most a tenth of the period, capped at five minutes', async () => {
    const { clock, next, scheduler } = harness({ random: () => 0.999 });
    const start = clock.now();
    scheduler.add('short', { kind: 'interval', millis: 10 * MINUTE }, { nextRunAt: null, consecutiveFailures: 0 });
    scheduler.add('long', { kind: 'interval', millis: 24 * 60 * MINUTE });
    assert.equal(next.get('short')! - start, Math.floor(0.999 * MINUTE));
    assert.equal(next.get('long')! - start, Math.floor(0.999 * 5 * MINUTE));
    await clock.advance(0);
  });

  it('keeps the next run an earlier service planned when it is still ahead', async () => {
    const { clock, next, scheduler, runs } = harness({ random: () => 0.5, auto: () => 'success' });
    const planned = clock.now() + 7 * MINUTE;
    scheduler.add('a', { kind: 'interval', millis: 10 * MINUTE }, { nextRunAt: planned, consecutiveFailures: 0 });
    assert.equal(next.get('a'), planned);
    await clock.advance(7 * MINUTE - 1);
    assert.equal(runs.length, 0);
    await clock.advance(1);
    assert.equal(runs.length, 1);
  });

  it('does not keep a planned time its schedule could not have set (the schedule was shortened)', async () => {
    const { clock, next, scheduler } = harness({ random: () => 0 });
    scheduler.add('a', { kind: 'interval', millis: MINUTE }, { nextRunAt: clock.now() + 60 * MINUTE, consecutiveFailures: 0 });
    assert.equal(next.get('a'), clock.now());
    // ... but a back-off that long is kept.
    scheduler.add('b', { kind: 'interval', millis: MINUTE }, { nextRunAt: clock.now() + 16 * MINUTE, consecutiveFailures: 4 });
    assert.equal(next.get('b'), clock.now() + 16 * MINUTE);
    await clock.advance(0);
  });

  it('never runs one mirror twice at once: a trigger during a run queues one more run after it', async () => {
    const { clock, runs, scheduler, mostAtOnce } = harness();
    scheduler.add('a', { kind: 'interval', millis: MINUTE });
    await clock.advance(0);
    assert.equal(runs.length, 1);
    // The schedule comes round again and two hooks arrive while the run is still going.
    await clock.advance(5 * MINUTE);
    assert.equal(scheduler.trigger('a', 'hook'), 'queued');
    assert.equal(scheduler.trigger('a', 'hook'), 'queued');
    assert.equal(runs.length, 1);
    assert.equal(scheduler.status('a')!.queued, 'hook');
    runs[0]!.finish('success');
    await clock.advance(0);
    assert.equal(runs.length, 2, 'the queued trigger ran once, right after');
    assert.equal(runs[1]!.trigger, 'hook');
    runs[1]!.finish('success');
    await clock.advance(0);
    assert.equal(runs.length, 2);
    assert.equal(mostAtOnce(), 1);
  });

  it('runs a mirror at once on a trigger and plans its next scheduled run from there', async () => {
    const { clock, runs, scheduler } = harness({ auto: () => 'noop' });
    const start = clock.now();
    scheduler.add('a', { kind: 'interval', millis: 10 * MINUTE }, { nextRunAt: start + 10 * MINUTE, consecutiveFailures: 0 });
    await clock.advance(3 * MINUTE);
    assert.equal(scheduler.trigger('a', 'hook'), 'started');
    await clock.advance(0);
    assert.deepEqual(runs.map((run) => [run.at - start, run.trigger]), [[3 * MINUTE, 'hook']]);
    assert.equal(scheduler.status('a')!.nextRunAt! - start, 13 * MINUTE);
    assert.equal(scheduler.trigger('nope', 'hook'), 'unknown');
  });

  it('backs off exponentially after failures, capped, then returns to the schedule after a success', async () => {
    let failing = true;
    const { clock, runs, scheduler } = harness({ auto: () => (failing ? 'failed' : 'success'), maxBackoffMillis: 8 * MINUTE });
    scheduler.add('a', { kind: 'interval', millis: MINUTE });
    await clock.advance(30 * MINUTE + 1);
    const gaps = runs.slice(1).map((run, i) => run.at - runs[i]!.at);
    assert.deepEqual(gaps.slice(0, 5), [2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 8 * MINUTE, 8 * MINUTE]);
    assert.equal(scheduler.status('a')!.backingOff, true);
    assert.ok(scheduler.status('a')!.consecutiveFailures >= 5);
    failing = false;
    const before = runs.length;
    await clock.advance(8 * MINUTE);
    assert.equal(runs.length, before + 1, 'the next attempt came at the back-off');
    await clock.advance(3 * MINUTE);
    const after = runs.slice(before);
    assert.deepEqual(
      after.slice(1).map((run, i) => run.at - after[i]!.at),
      [MINUTE, MINUTE, MINUTE],
      'recovered: on its interval again',
    );
    assert.equal(scheduler.status('a')!.consecutiveFailures, 0);
    assert.equal(scheduler.status('a')!.backingOff, false);
  });

  it('counts failures a restarted service remembers; a blocked run backs off too, an aborted one changes nothing', async () => {
    const outcomes: RunOutcome[] = ['failed', 'blocked', 'aborted', 'noop'];
    const { clock, runs, scheduler } = harness({ auto: () => outcomes.shift() ?? 'success', maxBackoffMillis: 60 * MINUTE });
    scheduler.add('a', { kind: 'interval', millis: MINUTE }, { nextRunAt: null, consecutiveFailures: 2 });
    await clock.advance(0);
    // Third failure in a row: 2^3 periods.
    assert.equal(scheduler.status('a')!.nextRunAt! - clock.now(), 8 * MINUTE);
    await clock.advance(8 * MINUTE);
    assert.equal(scheduler.status('a')!.consecutiveFailures, 4, 'blocked counts as failing');
    assert.equal(scheduler.status('a')!.nextRunAt! - clock.now(), 16 * MINUTE);
    await clock.advance(16 * MINUTE);
    assert.equal(runs.length, 3);
    assert.equal(scheduler.status('a')!.consecutiveFailures, 4, 'aborted: neither a failure nor a success');
    assert.equal(scheduler.status('a')!.backingOff, true);
    await clock.advance(16 * MINUTE);
    assert.equal(runs.length, 4);
    assert.equal(scheduler.status('a')!.consecutiveFailures, 0, 'a no-op is a success');
    assert.equal(scheduler.status('a')!.nextRunAt! - clock.now(), MINUTE);
  });

  it('computes back-off delays: doubling from twice the period, capped, never under the period', () => {
    assert.equal(backoffDelay(MINUTE, 1, 60 * MINUTE), 2 * MINUTE);
    assert.equal(backoffDelay(MINUTE, 5, 60 * MINUTE), 32 * MINUTE);
    assert.equal(backoffDelay(MINUTE, 6, 60 * MINUTE), 60 * MINUTE);
    assert.equal(backoffDelay(MINUTE, 5000, 60 * MINUTE), 60 * MINUTE);
    assert.equal(backoffDelay(120 * MINUTE, 3, 60 * MINUTE), 120 * MINUTE);
  });

  it('reads cron schedules: the next slot and the period between slots', () => {
    const from = Date.UTC(2026, 0, 1, 10, 7, 30);
    const schedule = { kind: 'cron', expression: '*/15 * * * *' } as const;
    // croner works in the machine's time zone; quarter hours are the same everywhere that matters here.
    assert.equal(new Date(nextSlot(schedule, from)).getUTCMinutes(), 15);
    assert.equal(periodOf(schedule, from), 15 * MINUTE);
    assert.equal(nextSlot({ kind: 'interval', millis: 5 }, from), from + 5);
  });

  it('runs cron mirrors at their slots', async () => {
    const { clock, runs, scheduler } = harness({ auto: () => 'success' });
    clock.time = Date.UTC(2026, 0, 1, 10, 0, 0);
    scheduler.add('c', { kind: 'cron', expression: '*/15 * * * *' }, { nextRunAt: Date.UTC(2026, 0, 1, 10, 15), consecutiveFailures: 0 });
    await clock.advance(46 * MINUTE);
    assert.deepEqual(
      runs.map((run) => new Date(run.at).getUTCMinutes()),
      [15, 30, 45],
    );
  });

  it('reschedules a changed mirror, forgets a removed one without cutting its run, and takes it back after', async () => {
    const { clock, runs, scheduler, mostAtOnce } = harness();
    const start = clock.now();
    scheduler.add('a', { kind: 'interval', millis: MINUTE });
    scheduler.add('b', { kind: 'interval', millis: MINUTE });
    await clock.advance(0);
    assert.equal(runs.length, 2);
    runs[1]!.finish('success');
    await clock.advance(0);
    scheduler.reschedule('b', { kind: 'interval', millis: 10 * MINUTE });
    assert.equal(scheduler.status('b')!.nextRunAt! - start, 10 * MINUTE);
    scheduler.remove('a');
    assert.equal(scheduler.has('a'), false);
    assert.equal(scheduler.inFlight(), 1, 'the removed mirror still runs');
    // Added back while its old run goes on: it waits for that run.
    scheduler.add('a', { kind: 'interval', millis: MINUTE });
    assert.equal(scheduler.trigger('a', 'hook'), 'queued');
    await clock.advance(0);
    assert.equal(runs.filter((run) => run.id === 'a').length, 1);
    runs[0]!.finish('success');
    await clock.advance(0);
    assert.equal(runs.filter((run) => run.id === 'a').length, 2);
    assert.equal(runs.at(-1)!.trigger, 'hook');
    assert.equal(mostAtOnce(), 2);
  });

  it('stops taking work and resolves stop() once the runs in progress end', async () => {
    const { clock, runs, scheduler } = harness();
    scheduler.add('a', { kind: 'interval', millis: MINUTE });
    scheduler.add('b', { kind: 'interval', millis: MINUTE }, { nextRunAt: clock.now() + 30_000, consecutiveFailures: 0 });
    await clock.advance(0);
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    assert.equal(scheduler.trigger('b', 'hook'), 'stopped');
    await clock.advance(10 * MINUTE);
    assert.equal(runs.length, 1, 'b never started');
    assert.equal(stopped, false);
    runs[0]!.finish('success');
    await stopping;
    assert.equal(scheduler.status('a')!.nextRunAt, null);
  });

  it('counts a run that throws as failed', async () => {
    const clock = new FakeClock();
    const scheduler = new Scheduler({ clock, random: () => 0, run: () => Promise.reject(new Error('boom')) });
    scheduler.add('a', { kind: 'interval', millis: MINUTE });
    await clock.advance(0);
    assert.equal(scheduler.status('a')!.consecutiveFailures, 1);
    assert.equal(scheduler.status('a')!.nextRunAt! - clock.now(), 2 * MINUTE);
  });
});
