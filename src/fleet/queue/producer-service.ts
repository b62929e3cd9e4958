/**
 * `git-sync fleet serve mirrors.yaml --queue redis://...` (docs/fleet.md, "Distributed workers"):
 * serve as a producer. Instead of running mirrors itself, it makes each mirror a BullMQ job
 * scheduler (producer.ts) and turns webhooks into one-off jobs; workers run them. It serves the
 * same HTTP endpoints as `fleet serve` (server.ts): `/mirrors` and `/mirrors/<id>` from the Redis
 * state, `/metrics` with the mirrors' standing, the hooks. The schedules live in Redis, so
 * mirrors keep being synced while the producer is down; only hooks need it running.
 *
 * The server's handlers are synchronous: the mirrors' standing is a snapshot read from Redis
 * every few seconds, and a hook answers `queued` at once while the job is added behind it (the
 * queue itself drops a second job for a mirror that already has one waiting).
 */
import { GitSyncError } from '../../errors.js';
import { loadManifest, type FleetManifest } from '../manifest.js';
import { FleetMetrics } from '../metrics.js';
import type { FleetLogger } from '../runner.js';
import { hookSecrets, servedMirror, type ServedMirror } from '../serve.js';
import { startFleetServer, type FleetServer } from '../server.js';
import type { MirrorStatus } from '../state.js';
import type { HookSecrets } from '../webhooks.js';
import { connectRedis, type QueueAddress } from './connection.js';
import { FleetProducer } from './producer.js';
import { RedisFleetState } from './redis-state.js';

export interface QueueServeOptions {
  manifest: string;
  address: QueueAddress;
  logger: FleetLogger;
  env?: NodeJS.ProcessEnv;
  maxBodyBytes?: number;
  /** How often the mirrors' standing is read from Redis for the endpoints (default 5 s). */
  refreshMillis?: number;
}

const iso = (date: Date | null | undefined): string | null => (date === null || date === undefined ? null : date.toISOString());

export class QueueProducerService {
  private statuses = new Map<string, MirrorStatus>();
  private server: FleetServer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private markStopped!: () => void;
  readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));
  private readonly metrics: FleetMetrics;
  private readonly since = Date.now();

  private constructor(
    private readonly options: QueueServeOptions,
    private manifest: FleetManifest,
    private secrets: HookSecrets,
    private readonly producer: FleetProducer,
    private readonly state: RedisFleetState,
    private readonly closeRedis: () => void,
  ) {
    this.metrics = new FleetMetrics({
      mirrors: () => this.manifest.mirrors.map((spec) => ({ id: spec.id, lastSuccessAt: this.statuses.get(spec.id)?.lastSuccess?.getTime() ?? null, knownSince: this.since, consecutiveFailures: this.statuses.get(spec.id)?.consecutiveFailures ?? 0 })),
      inFlight: () => [...this.statuses.values()].filter((status) => status.runningSince !== null).length,
    });
  }

  /** Loads the manifest, schedules every mirror on the queue, and serves the endpoints. */
  static async start(options: QueueServeOptions): Promise<QueueProducerService> {
    const manifest = await loadManifest(options.manifest);
    const secrets = hookSecrets(manifest, options.env ?? process.env);
    const redis = await connectRedis(options.address);
    let producer: FleetProducer | null = null;
    try {
      producer = await FleetProducer.open(options.address);
      const service = new QueueProducerService(options, manifest, secrets, producer, new RedisFleetState(redis), () => redis.disconnect());
      await service.apply();
      service.server = await startFleetServer(manifest.serve.listen, service.handlers(), options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes });
      service.timer = setInterval(() => void service.refresh().catch(() => undefined), options.refreshMillis ?? 5_000);
      options.logger.info({ event: 'serve-started', url: service.server.url, mirrors: manifest.mirrors.length, queue: options.address.display }, `producing ${manifest.mirrors.length} mirror(s) on ${options.address.display}; endpoints at ${service.server.url}`);
      return service;
    } catch (error) {
      await producer?.close();
      redis.disconnect();
      throw error;
    }
  }

  get url(): string {
    return this.server?.url ?? '';
  }

  /** Makes the queue's schedules the manifest's, forgets mirrors gone from it, reads the standing. */
  private async apply(): Promise<void> {
    const { removed } = await this.producer.schedule(this.manifest.mirrors);
    const forgotten = await this.state.syncMirrors(this.manifest.mirrors.map((spec) => spec.id));
    if (removed.length > 0 || forgotten.length > 0) this.options.logger.info({ event: 'unscheduled', mirrors: removed, forgotten }, `unscheduled ${removed.length} mirror(s) gone from the manifest`);
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    const next = await this.producer.nextRuns();
    const statuses = await this.state.mirrorStatuses({ ids: this.manifest.mirrors.map((spec) => spec.id), nextRuns: next });
    this.statuses = new Map(statuses.map((status) => [status.id, status]));
  }

  /** Re-reads the manifest (SIGHUP); a bad one is refused and the old one kept. */
  async reload(): Promise<void> {
    try {
      const manifest = await loadManifest(this.options.manifest);
      this.secrets = hookSecrets(manifest, this.options.env ?? process.env);
      this.manifest = manifest;
      await this.apply();
      this.options.logger.info({ event: 'reloaded', mirrors: manifest.mirrors.length }, `reloaded: ${manifest.mirrors.length} mirror(s)`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.logger.error({ event: 'reload-refused', errorCode: error instanceof GitSyncError ? error.code : 'INTERNAL', errorMessage: message }, `reload refused, the previous manifest stays: ${message}`);
    }
  }

  /** Queues a one-off run of each mirror (hooks, "sync now"). */
  async trigger(id: string, trigger: 'manual' | 'hook'): Promise<string> {
    if (!this.manifest.mirrors.some((spec) => spec.id === id)) return 'unknown';
    const result = await this.producer.trigger(id, trigger);
    this.options.logger.info({ event: 'trigger', mirror: id, trigger, result }, `${trigger} trigger for ${id}: ${result}`);
    return result;
  }

  private view(id: string): ServedMirror | null {
    const spec = this.manifest.mirrors.find((mirror) => mirror.id === id);
    if (spec === undefined) return null;
    const status = this.statuses.get(id) ?? null;
    // What runs where is the workers' to know: the producer shows the recorded standing.
    return servedMirror(spec, status, { running: status?.runningSince !== null && status?.runningSince !== undefined, queued: null, nextRun: iso(status?.nextRun), backingOff: false });
  }

  private handlers() {
    return {
      ready: () => this.stopping === null,
      mirrors: () => this.manifest.mirrors.map((spec) => this.view(spec.id)!),
      mirror: (id: string) => {
        const mirror = this.view(id);
        return mirror === null ? null : { mirror, runs: this.statuses.get(id)?.lastRun === undefined ? [] : [this.statuses.get(id)!.lastRun] };
      },
      hookMirrors: () => this.manifest.mirrors.map((spec) => ({ id: spec.id, source: spec.source })),
      hookSecrets: () => this.secrets,
      trigger: (ids: readonly string[]) =>
        Object.fromEntries(
          ids.map((id) => {
            if (!this.manifest.mirrors.some((spec) => spec.id === id)) return [id, 'unknown'];
            void this.trigger(id, 'hook').catch((error: unknown) => this.options.logger.error({ event: 'trigger-failed', mirror: id, errorMessage: String(error) }, `could not queue ${id}`));
            return [id, 'queued'];
          }),
        ),
      metrics: this.metrics,
    };
  }

  /** Stops serving; the schedules stay in Redis (workers keep syncing without the producer). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer !== null) clearInterval(this.timer);
      await this.server?.close();
      await this.producer.close();
      this.closeRedis();
      this.options.logger.info({ event: 'serve-stopped' }, 'producer stopped');
      this.markStopped();
    })();
    return this.stopping;
  }
}
