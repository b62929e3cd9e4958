/**
 * The producer of the distributed fleet (docs/fleet.md, "Distributed workers"): every mirror of
 * the manifest becomes a BullMQ job scheduler whose id is the mirror id (its interval or cron
 * schedule), and webhooks or "sync now" add one-off jobs. A job carries only the mirror id and
 * why it runs: workers read the manifest and their environment for everything else, so no URL
 * option or credential ever enters Redis.
 *
 * A one-off job's id is the mirror id, so a second trigger while it waits is dropped by BullMQ
 * itself; a trigger while it runs queues one follow-up (`<id>+again`, `+` being outside mirror
 * ids), since the running job may have listed the source before the push that triggered. At
 * most one job per mirror waits at a time; the workers' mirror lock (leases.ts) keeps a scheduled
 * job and a one-off from ever running the mirror at once.
 */
import type { Queue } from 'bullmq';
import type { MirrorSchedule, MirrorSpec } from '../manifest.js';
import { KEY_PREFIX, QUEUE_NAME, loadBullMq, redisOptions, type QueueAddress } from './connection.js';
import type { RunTrigger } from './redis-state.js';

/** What a job holds: nothing but the mirror and why it runs. */
export interface MirrorJobData {
  mirrorId: string;
  trigger: RunTrigger;
}

export const JOB_NAME = 'mirror';
/** Finished jobs are not kept in BullMQ: runs are recorded by the workers (redis-state.ts). */
const KEEP_FAILED = { count: 1000 };

type MirrorQueue = Queue<MirrorJobData, unknown, string, MirrorJobData, unknown, string>;

export type TriggerOutcome = 'queued' | 'already-queued' | 'queued-after-run';

export function followUpJobId(mirrorId: string): string {
  return `${mirrorId}+again`;
}

/** BullMQ's repeat options for a manifest schedule. */
export function repeatOptions(schedule: MirrorSchedule): { every: number } | { pattern: string } {
  return schedule.kind === 'interval' ? { every: schedule.millis } : { pattern: schedule.expression };
}

export class FleetProducer {
  private constructor(
    readonly address: QueueAddress,
    private readonly queue: MirrorQueue,
  ) {}

  static async open(address: QueueAddress): Promise<FleetProducer> {
    const { Queue } = await loadBullMq();
    const queue: MirrorQueue = new Queue<MirrorJobData, unknown, string, MirrorJobData, unknown, string>(QUEUE_NAME, { connection: redisOptions(address), prefix: KEY_PREFIX });
    await queue.waitUntilReady();
    return new FleetProducer(address, queue);
  }

  /**
   * Makes the job schedulers exactly the manifest's mirrors: each upserted with its schedule
   * (a changed schedule replaces the old one), those of mirrors gone from the manifest removed.
   */
  async schedule(mirrors: readonly MirrorSpec[]): Promise<{ scheduled: string[]; removed: string[] }> {
    const wanted = new Set(mirrors.map((mirror) => mirror.id));
    const removed: string[] = [];
    for (const scheduler of await this.queue.getJobSchedulers(0, -1)) {
      if (!wanted.has(scheduler.key)) {
        await this.queue.removeJobScheduler(scheduler.key);
        removed.push(scheduler.key);
      }
    }
    for (const mirror of mirrors) {
      await this.queue.upsertJobScheduler(mirror.id, repeatOptions(mirror.schedule), {
        name: JOB_NAME,
        data: { mirrorId: mirror.id, trigger: 'schedule' },
        opts: { removeOnComplete: true, removeOnFail: KEEP_FAILED },
      });
    }
    return { scheduled: [...wanted].sort(), removed: removed.sort() };
  }

  /** Queues a one-off run of the mirror (a webhook, "sync now"), never a second waiting one. */
  async trigger(mirrorId: string, trigger: Exclude<RunTrigger, 'schedule'>): Promise<TriggerOutcome> {
    const states = await Promise.all([mirrorId, followUpJobId(mirrorId)].map(async (id) => (await this.queue.getJob(id))?.getState() ?? null));
    if (states.some((state) => state === 'waiting' || state === 'delayed' || state === 'prioritized')) return 'already-queued';
    const free = states[0] === null || states[0] === 'completed' || states[0] === 'failed' ? mirrorId : states[1] === null || states[1] === 'completed' || states[1] === 'failed' ? followUpJobId(mirrorId) : null;
    if (free === null) return 'already-queued';
    const stale = await this.queue.getJob(free);
    if (stale !== undefined) await stale.remove();
    await this.queue.add(JOB_NAME, { mirrorId, trigger }, { jobId: free, removeOnComplete: true, removeOnFail: KEEP_FAILED });
    return free === mirrorId ? 'queued' : 'queued-after-run';
  }

  /** When each mirror's schedule fires next. */
  async nextRuns(): Promise<Map<string, Date>> {
    const next = new Map<string, Date>();
    for (const scheduler of await this.queue.getJobSchedulers(0, -1)) {
      if (scheduler.next !== undefined) next.set(scheduler.key, new Date(scheduler.next));
    }
    return next;
  }

  /** Jobs by state, for status and metrics. */
  async jobCounts(): Promise<{ waiting: number; active: number; delayed: number; failed: number }> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
    return { waiting: (counts['waiting'] ?? 0) + (counts['prioritized'] ?? 0), active: counts['active'] ?? 0, delayed: counts['delayed'] ?? 0, failed: counts['failed'] ?? 0 };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
