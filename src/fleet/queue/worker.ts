/**
 * A distributed fleet worker (docs/fleet.md, "Distributed workers"): takes mirror jobs from the
 * BullMQ queue, at most `concurrency` at once in this process, runs each mirror under its lease
 * (the mirror's lock and a slot on each of its hosts, leases.ts), and records the run in Redis
 * (redis-state.ts) in FleetState's shape.
 *
 * - A mirror already running elsewhere: a scheduled job is dropped (that run is this schedule's
 *   run); a one-off job, or one that stalled on a worker that died, waits and tries again.
 * - A host at its limit: the job waits (moved to BullMQ's delayed set, which costs no attempt)
 *   and tries again after a short randomized delay.
 * - A worker killed mid-run: BullMQ's job lock and our lease both lapse after `leaseMillis`
 *   unrenewed; BullMQ's stalled-job check puts the job back, another worker takes it once the
 *   lease has expired, records the dead run as aborted and runs the mirror again (a batched run
 *   resumes from its temporary refs on the target).
 * - Graceful stop: no new job is taken; running ones finish, or, after a grace period, are
 *   aborted (the library leaves the target as the result says) and put back on the queue.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FleetManifest, MirrorSpec } from '../manifest.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PER_HOST_CONCURRENCY } from '../runner.js';
import { KEY_PREFIX, QUEUE_NAME, connectRedis, loadBullMq, redisOptions, type QueueAddress } from './connection.js';
import { mirrorHosts } from './hosts.js';
import { Leases, type RunLease } from './leases.js';
import type { MirrorJobData } from './producer.js';
import { DEFAULT_RETAIN_RUNS, RedisFleetState, type RunRecord, type RunTrigger } from './redis-state.js';

/** Runs one mirror once; resolves with how it ended (never rejects for the run's own failure). */
export type MirrorRunFunction = (spec: MirrorSpec, options: { signal: AbortSignal; trigger: RunTrigger }) => Promise<RunRecord>;

/** One line of the worker's log (JSON lines on the CLI). */
export interface WorkerEvent {
  event: 'run-start' | 'run-end' | 'job-waits' | 'job-dropped' | 'job-unknown-mirror' | 'lease-lost' | 'queue-error' | 'stopping' | 'stopped';
  mirror?: string;
  job?: string;
  runId?: number;
  outcome?: string;
  reason?: string;
  errorCode?: string | null;
  durationMillis?: number;
  waitMillis?: number;
  worker: string;
}

export interface FleetWorkerOptions {
  manifest: FleetManifest;
  address: QueueAddress;
  run: MirrorRunFunction;
  /** Jobs this process runs at once (default: the manifest's `concurrency`, else 8, as `fleet run`). */
  concurrency?: number;
  /** Runs touching one host at once, across every worker (default: the manifest's `per-host-concurrency`, else 4; null: no limit). */
  perHost?: number | null;
  /** How long a mirror's lock, a host slot and BullMQ's job lock last unrenewed (default 30 s). */
  leaseMillis?: number;
  /** How long a job waits before trying again when its mirror or a host is busy (default 2 s, ±50%). */
  retryDelayMillis?: number;
  onEvent?: (event: WorkerEvent) => void;
  /** Told when a run ends (metrics). */
  onRunFinished?: (mirrorId: string, record: RunRecord, durationMillis: number) => void;
}

export const DEFAULT_LEASE_MILLIS = 30_000;
const DEFAULT_RETRY_DELAY_MILLIS = 2_000;
/** A job whose worker died this many times in a row fails instead of being put back again. */
const MAX_STALLED = 5;

export class FleetWorker {
  /** `host:pid`, recorded with each run. */
  readonly id = `${hostname()}:${process.pid}`;
  private readonly running = new Map<string, AbortController>();
  private stopping: Promise<void> | null = null;
  private readonly mirrors: Map<string, MirrorSpec>;
  private readonly perHost: number | null;

  private constructor(
    private readonly options: FleetWorkerOptions,
    private readonly redis: Redis,
    private readonly leases: Leases,
    private readonly state: RedisFleetState,
    private worker: Worker<MirrorJobData> | null,
  ) {
    this.mirrors = new Map(options.manifest.mirrors.map((mirror) => [mirror.id, mirror]));
    this.perHost = options.perHost === undefined ? (options.manifest.concurrency.perHost ?? DEFAULT_PER_HOST_CONCURRENCY) : options.perHost;
  }

  /** Connects (a QueueError when Redis cannot be reached) and starts taking jobs. */
  static async start(options: FleetWorkerOptions): Promise<FleetWorker> {
    const leaseMillis = options.leaseMillis ?? DEFAULT_LEASE_MILLIS;
    const redis = await connectRedis(options.address);
    const state = new RedisFleetState(redis, options.manifest.state.retainRuns ?? DEFAULT_RETAIN_RUNS);
    const fleetWorker = new FleetWorker(options, redis, new Leases(redis, leaseMillis), state, null);
    const { Worker } = await loadBullMq();
    const worker = new Worker<MirrorJobData>(QUEUE_NAME, (job, token, signal) => fleetWorker.process(job, token, signal), {
      connection: redisOptions(options.address),
      prefix: KEY_PREFIX,
      concurrency: options.concurrency ?? options.manifest.concurrency.global ?? DEFAULT_CONCURRENCY,
      lockDuration: leaseMillis,
      stalledInterval: leaseMillis,
      maxStalledCount: MAX_STALLED,
      autorun: false,
    });
    // The connection's errors (Redis restarting, unreachable) are retried by ioredis; they are
    // logged, not thrown. A job's own failure is in its run record.
    worker.on('error', (error: Error) => fleetWorker.emit({ event: 'queue-error', reason: error.message }));
    fleetWorker.worker = worker;
    void worker.run();
    await worker.waitUntilReady();
    return fleetWorker;
  }

  /** The manifest's mirror ids. */
  mirrorIds(): string[] {
    return [...this.mirrors.keys()];
  }

  /** Runs in progress in this process. */
  inFlight(): number {
    return this.running.size;
  }

  /** The shared state, for `/metrics` and tests. */
  get fleetState(): RedisFleetState {
    return this.state;
  }

  /**
   * Stops taking jobs and waits for the running ones; after `graceMillis` (default: wait for
   * them), aborts them: each is recorded as aborted and put back on the queue for another worker.
   */
  stop(options: { graceMillis?: number | null } = {}): Promise<void> {
    this.stopping ??= (async () => {
      this.emit({ event: 'stopping', reason: `${this.running.size} run(s) in progress` });
      const grace = options.graceMillis ?? null;
      const timer = grace === null ? null : setTimeout(() => this.abortAll('the worker is stopping'), grace);
      try {
        await this.worker?.close();
      } finally {
        if (timer !== null) clearTimeout(timer);
        this.redis.disconnect();
        this.emit({ event: 'stopped' });
      }
    })();
    return this.stopping;
  }

  /** Aborts every run now (a second SIGTERM): they are recorded as aborted and put back on the queue. */
  abortAll(reason: string): void {
    for (const controller of this.running.values()) controller.abort(new Error(reason));
  }

  private emit(event: Omit<WorkerEvent, 'worker'>): void {
    this.options.onEvent?.({ ...event, worker: this.id });
  }

  private async waitAndRetry(job: Job<MirrorJobData>, token: string | undefined, why: string): Promise<never> {
    const { DelayedError } = await loadBullMq();
    const base = this.options.retryDelayMillis ?? DEFAULT_RETRY_DELAY_MILLIS;
    const wait = Math.round(base * (0.5 + Math.random()));
    this.emit({ event: 'job-waits', mirror: job.data.mirrorId, job: job.id ?? '', reason: why, waitMillis: wait });
    await job.moveToDelayed(Date.now() + wait, token);
    throw new DelayedError();
  }

  private async process(job: Job<MirrorJobData>, token: string | undefined, jobSignal: AbortSignal | undefined): Promise<string> {
    const { mirrorId, trigger } = job.data;
    const spec = this.mirrors.get(mirrorId);
    if (spec === undefined) {
      const { UnrecoverableError } = await loadBullMq();
      this.emit({ event: 'job-unknown-mirror', mirror: mirrorId, job: job.id ?? '', reason: `not in ${this.options.manifest.path}` });
      throw new UnrecoverableError(`mirror '${mirrorId}' is not in this worker's manifest (${this.options.manifest.path}); give every worker the producer's manifest`);
    }
    const leaseToken = `${this.id}:${randomUUID()}`;
    const got = await this.leases.acquire(mirrorId, leaseToken, mirrorHosts(spec), this.perHost);
    if (!got.acquired) {
      if (got.busy === 'mirror') {
        // A scheduled job meeting its mirror's run: that run is this schedule's. A one-off (a
        // push to sync) or a job whose worker died (its lease may not have lapsed yet) waits.
        if (trigger === 'schedule' && job.stalledCounter === 0) {
          this.emit({ event: 'job-dropped', mirror: mirrorId, job: job.id ?? '', reason: 'the mirror is running on a worker' });
          return 'dropped: the mirror was running';
        }
        return this.waitAndRetry(job, token, 'the mirror is running on a worker');
      }
      return this.waitAndRetry(job, token, `host ${got.busy.host} is at its limit of ${this.perHost} run(s)`);
    }
    return this.runLeased(job, token, spec, got.lease, jobSignal);
  }

  private async runLeased(job: Job<MirrorJobData>, token: string | undefined, spec: MirrorSpec, lease: RunLease, jobSignal: AbortSignal | undefined): Promise<string> {
    const controller = new AbortController();
    const onJobAbort = (): void => controller.abort(jobSignal?.reason ?? new Error('the job was cancelled'));
    jobSignal?.addEventListener('abort', onJobAbort, { once: true });
    const leaseMillis = this.leases.ttlMillis;
    let leaseLost = false;
    const renewal = setInterval(() => {
      this.leases.renew(lease).then(
        (whole) => {
          if (whole || controller.signal.aborted) return;
          leaseLost = true;
          this.emit({ event: 'lease-lost', mirror: spec.id, job: job.id ?? '' });
          controller.abort(new Error('the lease on the mirror lapsed (Redis unreachable or too slow); another worker may run it'));
        },
        () => undefined,
      );
    }, Math.max(100, Math.floor(leaseMillis / 3)));
    const runKey = job.id ?? randomUUID();
    this.running.set(runKey, controller);
    const started = new Date();
    let runId: number | null = null;
    try {
      await this.state.abandonOpenRuns(spec.id, started);
      runId = await this.state.startRun(spec.id, started, job.data.trigger, this.id);
      this.emit({ event: 'run-start', mirror: spec.id, job: job.id ?? '', runId });
      const record = await this.options.run(spec, { signal: controller.signal, trigger: job.data.trigger });
      const durationMillis = Date.now() - started.getTime();
      await this.state.finishRun(runId, record);
      this.options.onRunFinished?.(spec.id, record, durationMillis);
      this.emit({ event: 'run-end', mirror: spec.id, job: job.id ?? '', runId, outcome: record.outcome, reason: record.reason ?? undefined, errorCode: record.errorCode, durationMillis });
      if (controller.signal.aborted && record.outcome === 'aborted' && !leaseLost) {
        // Stopped by a worker shutdown: the mirror did not get its run; another worker will.
        await job.moveToDelayed(Date.now(), token);
        const { DelayedError } = await loadBullMq();
        throw new DelayedError();
      }
      return record.outcome;
    } finally {
      clearInterval(renewal);
      jobSignal?.removeEventListener('abort', onJobAbort);
      this.running.delete(runKey);
      if (!leaseLost) await this.leases.release(lease).catch(() => undefined);
    }
  }
}
