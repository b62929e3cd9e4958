/**
 * `git-sync fleet serve` as a library (docs/fleet.md, "Serve"): the long-running service. It
 * loads the manifest, opens the state, schedules every mirror (scheduler.ts), runs them through
 * the runner under the global and per-host caps, serves the HTTP endpoints (server.ts), and
 * records every run. A reload (SIGHUP, or the manifest file changing) takes the new manifest
 * without touching the runs in progress; a bad manifest is refused and the old one kept. Stopping
 * takes no new work, lets the runs in progress finish for a grace period, then aborts them (a
 * batched run leaves its checkpoints, which the next run resumes from) and closes everything.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { GitSyncError, UsageError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import { ConnectionPool } from '../transport/connection-pool.js';
import { loadManifest, type FleetManifest, type MirrorSpec } from './manifest.js';
import { FleetMetrics } from './metrics.js';
import { HostLimiter } from './host-limiter.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PER_HOST_CONCURRENCY, runMirror, type FleetLogger } from './runner.js';
import { Scheduler, type Clock, type RunOutcome, type RunTrigger } from './scheduler.js';
import { pageToken, servicePageSource } from './page-routes.js';
import { DEFAULT_MAX_BODY_BYTES, startFleetServer, type FleetServer } from './server.js';
import { FleetState, type MirrorStatus, type RunRow } from './state.js';
import type { HookSecrets } from './webhooks.js';

/** What a finished run tells the service (for metrics; the state has the rest). */
export interface RunSummary {
  outcome: RunOutcome;
  bytesFromSource: number;
  bytesToTarget: number;
  errorCode: string | null;
}

/** Runs one mirror once, recording it in `state`; resolves (never rejects) with its summary. */
export type MirrorRunner = (
  spec: MirrorSpec,
  context: { signal: AbortSignal; trigger: RunTrigger; state: FleetState; logger: FleetLogger; env: NodeJS.ProcessEnv; connectionPool: ConnectionPool },
) => Promise<RunSummary>;

/** The runner's runMirror (one JSON log line per run, the run recorded in the state). */
export const runMirrorForServe: MirrorRunner = async (spec, context) => {
  const result = await runMirror(spec, context);
  return { outcome: result.outcome, bytesFromSource: result.bytesFromSource, bytesToTarget: result.bytesToTarget, errorCode: result.error?.code ?? null };
};

export interface ServeOptions {
  /** The manifest file. */
  manifest: string;
  /** The state database; default the manifest's `state.path`. */
  statePath?: string | null;
  /** Global cap on runs at once; default the manifest's, else the runner's DEFAULT_CONCURRENCY. */
  concurrency?: number | null;
  /** Cap per host; default the manifest's, else DEFAULT_PER_HOST_CONCURRENCY. */
  perHostConcurrency?: number | null;
  /** The longest back-off after failures (scheduler.ts). Default 1 hour. */
  maxBackoffMillis?: number;
  /** After a stop is asked, how long runs in progress may finish before they are aborted. Default 30 s. */
  stopGraceMillis?: number;
  /** Hook bodies larger than this get 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Reload when the manifest file changes (besides reload()). Default true. */
  watch?: boolean;
  /** Where hook secrets and credentials are read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  logger: FleetLogger;
  /** Runs a mirror (under the HostLimiter's caps); default runMirrorForServe. */
  runner?: MirrorRunner;
  clock?: Clock;
}

/** A mirror as `GET /mirrors` shows it (docs/fleet.md, "HTTP endpoints"). */
export interface ServedMirror {
  id: string;
  source: string;
  targets: string[];
  mode: 'sync' | 'replicate';
  schedule: MirrorSpec['schedule'];
  running: boolean;
  /** A trigger that will run the mirror again right after the run in progress, or null. */
  queued: RunTrigger | null;
  nextRun: string | null;
  /** The next run is a back-off after failures, not the schedule. */
  backingOff: boolean;
  consecutiveFailures: number;
  lastOutcome: string | null;
  lastReason: string | null;
  lastRunStarted: string | null;
  lastRunFinished: string | null;
  lastSuccess: string | null;
  failingSince: string | null;
  lastError: { code: string; message: string | null } | null;
}

export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
}

const DEFAULT_STOP_GRACE_MILLIS = 30_000;
/** Retention runs this often while serving (and at start). */
const PRUNE_EVERY_MILLIS = 3_600_000;
/** A burst of file events (an editor writes, renames, touches) is one reload after this quiet time. */
const WATCH_DEBOUNCE_MILLIS = 300;

function iso(date: Date | null | undefined): string | null {
  return date === null || date === undefined ? null : date.toISOString();
}

/** What only the process scheduling a mirror knows of it (a distributed producer knows less). */
export type LiveMirror = Pick<ServedMirror, 'running' | 'queued' | 'nextRun' | 'backingOff'>;

/** A mirror as `GET /mirrors` shows it, from its spec, its recorded standing and what is live. */
export function servedMirror(spec: MirrorSpec, status: MirrorStatus | null, live: LiveMirror): ServedMirror {
  const last = status?.lastRun ?? null;
  return {
    id: spec.id,
    source: redactUrl(spec.source),
    targets: spec.targets.map(redactUrl),
    mode: spec.mode,
    schedule: spec.schedule,
    ...live,
    consecutiveFailures: status?.consecutiveFailures ?? 0,
    lastOutcome: status?.lastOutcome ?? null,
    lastReason: status?.lastReason ?? null,
    lastRunStarted: iso(last?.startedAt),
    lastRunFinished: iso(last?.finishedAt),
    lastSuccess: iso(status?.lastSuccess),
    failingSince: iso(status?.failingSince),
    lastError: last?.errorCode ? { code: last.errorCode, message: last.errorMessage } : null,
  };
}

/** The secrets the manifest's hooks name, read from the environment; a named variable that is unset is refused. */
export function hookSecrets(manifest: FleetManifest, env: NodeJS.ProcessEnv): HookSecrets {
  const read = (name: string | undefined, field: string): string | null => {
    if (name === undefined) return null;
    const value = env[name];
    if (value === undefined || value === '') {
      throw new UsageError(`${manifest.path}: serve.hooks.${field} names ${name}, which is not set; export ${name} with the hook's secret, or remove serve.hooks.${field}`);
    }
    return value;
  };
  return {
    github: read(manifest.serve.hooks.githubSecretEnv, 'github-secret-env'),
    gitlab: read(manifest.serve.hooks.gitlabTokenEnv, 'gitlab-token-env'),
    generic: read(manifest.serve.hooks.genericTokenEnv, 'generic-token-env'),
  };
}

export class FleetService {
  private manifest: FleetManifest;
  private specs: Map<string, MirrorSpec>;
  private secrets: HookSecrets;
  private readonly scheduler: Scheduler;
  private readonly metrics: FleetMetrics;
  private server: FleetServer | null = null;
  private watcher: FSWatcher | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private readonly limiter: HostLimiter;
  /** Aborts the runs in progress (the grace period is over, or a second signal). */
  private readonly aborter = new AbortController();
  /** Connections one run leaves idle for the next (docs/architecture.md, "Connections kept across runs"). */
  private readonly pool = new ConnectionPool();
  /** Cancels the runs still waiting for a slot: a stopping service starts nothing more. */
  private readonly waiting = new AbortController();
  private readonly knownSince = new Map<string, number>();
  private stopping: Promise<void> | null = null;
  private markStopped!: () => void;
  /** Resolves once the service has stopped (after stop(), by a signal or a caller). */
  readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock | undefined;

  private constructor(
    private readonly options: ServeOptions,
    manifest: FleetManifest,
    private readonly state: FleetState,
    private readonly runner: MirrorRunner,
  ) {
    this.manifest = manifest;
    this.limiter = new HostLimiter({
      global: options.concurrency ?? manifest.concurrency.global ?? DEFAULT_CONCURRENCY,
      perHost: options.perHostConcurrency ?? manifest.concurrency.perHost ?? DEFAULT_PER_HOST_CONCURRENCY,
    });
    this.specs = new Map(manifest.mirrors.map((spec) => [spec.id, spec]));
    this.secrets = hookSecrets(manifest, options.env ?? process.env);
    this.clock = options.clock;
    this.scheduler = new Scheduler({
      clock: options.clock,
      maxBackoffMillis: options.maxBackoffMillis,
      run: (id, trigger) => this.runOne(id, trigger),
      onNextRun: (id, at) => this.state.setNextRun(id, at === null ? null : new Date(at)),
    });
    this.metrics = new FleetMetrics({
      mirrors: () =>
        this.state
          .mirrorStatuses()
          .filter((status) => this.specs.has(status.id))
          .map((status) => ({ id: status.id, lastSuccessAt: status.lastSuccess?.getTime() ?? null, knownSince: this.knownSince.get(status.id) ?? this.now(), consecutiveFailures: status.consecutiveFailures })),
      inFlight: () => this.scheduler.inFlight(),
    });
  }

  /**
   * Loads the manifest, opens the state, starts listening, then schedules every mirror. Rejects
   * (MANIFEST_INVALID, USAGE for an unset hook secret or a taken address, LOCAL_STORAGE for the
   * state) before anything runs.
   */
  static async start(options: ServeOptions): Promise<FleetService> {
    const manifest = await loadManifest(options.manifest);
    const state = FleetState.open(options.statePath ?? manifest.state.path);
    let service: FleetService;
    try {
      service = new FleetService(options, manifest, state, options.runner ?? runMirrorForServe);
      service.server = await startFleetServer(manifest.serve.listen, service.handlers(), { maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES });
    } catch (error) {
      state.close();
      throw error;
    }
    service.begin();
    return service;
  }

  /** `http://host:port` of the endpoints. */
  get url(): string {
    return this.server!.url;
  }

  /** The ids being served, in manifest order. */
  mirrorIds(): string[] {
    return [...this.specs.keys()];
  }

  private now(): number {
    return this.clock?.now() ?? Date.now();
  }

  private begin(): void {
    const forgotten = this.state.syncMirrors(this.mirrorIds());
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MILLIS);
    this.pruneTimer.unref();
    for (const spec of this.specs.values()) this.schedule(spec);
    if (this.options.watch !== false) this.watchManifest();
    this.options.logger.info({ event: 'serve-started', url: this.url, mirrors: this.specs.size, forgotten, state: this.state.path }, `serving ${this.specs.size} mirror(s); endpoints at ${this.url}`);
  }

  private schedule(spec: MirrorSpec): void {
    const status = this.state.mirrorStatus(spec.id);
    this.knownSince.set(spec.id, this.now());
    this.scheduler.add(spec.id, spec.schedule, { nextRunAt: status?.nextRun?.getTime() ?? null, consecutiveFailures: status?.consecutiveFailures ?? 0 });
  }

  private prune(): void {
    const { retainRuns, retainDays } = this.manifest.state;
    try {
      this.state.prune({ retainRuns, retainDays });
    } catch (error) {
      this.options.logger.warn({ event: 'prune-failed', error: (error as Error).message }, 'could not prune old runs');
    }
  }

  private async runOne(id: string, trigger: RunTrigger): Promise<RunOutcome> {
    const spec = this.specs.get(id);
    if (spec === undefined || this.stopping !== null) return 'aborted';
    let release: () => void;
    try {
      release = await this.limiter.acquire([spec.source, ...spec.targets], this.waiting.signal);
    } catch {
      // The service stopped while this run waited for a slot: it never started.
      return 'aborted';
    }
    const started = this.now();
    let summary: RunSummary;
    try {
      summary = await this.runner(spec, { signal: this.aborter.signal, trigger, state: this.state, logger: this.options.logger, env: this.options.env ?? process.env, connectionPool: this.pool });
    } finally {
      release();
    }
    this.metrics.runFinished({ mirror: id, outcome: summary.outcome, durationSeconds: (this.now() - started) / 1000, bytesFromSource: summary.bytesFromSource, bytesToTarget: summary.bytesToTarget, errorCode: summary.errorCode });
    return summary.outcome;
  }

  /** A mirror's status as `GET /mirrors` shows it. */
  view(spec: MirrorSpec, status: MirrorStatus | null = this.state.mirrorStatus(spec.id)): ServedMirror {
    const live = this.scheduler.status(spec.id);
    return servedMirror(spec, status, {
      running: live?.running ?? false,
      queued: live?.queued ?? null,
      nextRun: live?.nextRunAt === null || live?.nextRunAt === undefined ? null : new Date(live.nextRunAt).toISOString(),
      backingOff: live?.backingOff ?? false,
    });
  }

  private handlers() {
    return {
      ready: () => this.stopping === null && this.server !== null,
      mirrors: () => {
        const statuses = new Map(this.state.mirrorStatuses().map((status) => [status.id, status]));
        return [...this.specs.values()].map((spec) => this.view(spec, statuses.get(spec.id) ?? null));
      },
      mirror: (id: string) => {
        const spec = this.specs.get(id);
        if (spec === undefined) return null;
        const runs: RunRow[] = this.state.recentRuns(id, 20);
        return { mirror: this.view(spec), runs };
      },
      hookMirrors: () => [...this.specs.values()].map((spec) => ({ id: spec.id, source: spec.source })),
      hookSecrets: () => this.secrets,
      trigger: (ids: readonly string[]) => Object.fromEntries(ids.map((id) => [id, this.trigger(id, 'hook')])),
      metrics: this.metrics,
      page: servicePageSource({ manifest: () => this.manifest, state: this.state, env: this.options.env ?? process.env, trigger: (id) => this.trigger(id, 'manual') }),
    };
  }

  /** Runs a mirror now, or right after its run in progress (`queued`). */
  trigger(id: string, trigger: RunTrigger): 'started' | 'queued' | 'unknown' | 'stopped' {
    const result = this.scheduler.trigger(id, trigger);
    this.options.logger.info({ event: 'trigger', mirror: id, trigger, result }, `${trigger} trigger for ${id}: ${result}`);
    return result;
  }

  /**
   * Reads the manifest again and applies it: new mirrors scheduled, removed ones forgotten (a
   * run in progress finishes), changed ones run with their new spec from their next run on.
   * A manifest that does not load is refused (rejects) and the one in use is kept.
   */
  reload(): Promise<ReloadResult> {
    const next = this.reloading.then(() => this.reloadNow());
    this.reloading = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(): Promise<ReloadResult> {
    if (this.stopping !== null) return { added: [], removed: [], changed: [] };
    let manifest: FleetManifest;
    let secrets: HookSecrets;
    try {
      manifest = await loadManifest(this.options.manifest);
      secrets = hookSecrets(manifest, this.options.env ?? process.env);
      pageToken(manifest, this.options.env ?? process.env);
    } catch (error) {
      this.options.logger.error({ event: 'reload-refused', code: (error as GitSyncError).code ?? 'INTERNAL', error: (error as Error).message }, `reload refused, still serving the manifest loaded before: ${(error as Error).message}`);
      throw error;
    }
    if (manifest.serve.listen !== this.manifest.serve.listen) {
      this.options.logger.warn({ event: 'reload-listen', listen: manifest.serve.listen }, `serve.listen changed to ${manifest.serve.listen}: restart the service to listen there`);
    }
    if (manifest.state.path !== this.manifest.state.path && this.options.statePath == null) {
      this.options.logger.warn({ event: 'reload-state', state: manifest.state.path }, `state.path changed to ${manifest.state.path}: restart the service to use it`);
    }
    const before = this.specs;
    const after = new Map(manifest.mirrors.map((spec) => [spec.id, spec]));
    const result: ReloadResult = { added: [], removed: [], changed: [] };
    for (const id of before.keys()) if (!after.has(id)) result.removed.push(id);
    for (const [id, spec] of after) {
      const old = before.get(id);
      if (old === undefined) result.added.push(id);
      else if (JSON.stringify(old) !== JSON.stringify(spec)) result.changed.push(id);
    }
    this.manifest = manifest;
    this.specs = after;
    this.secrets = secrets;
    for (const id of result.removed) {
      this.scheduler.remove(id);
      this.metrics.forget(id);
      this.knownSince.delete(id);
    }
    this.state.syncMirrors(this.mirrorIds());
    for (const id of result.added) this.schedule(after.get(id)!);
    for (const id of result.changed) this.scheduler.reschedule(id, after.get(id)!.schedule);
    this.options.logger.info({ event: 'reloaded', ...result, mirrors: after.size }, `manifest reloaded: ${result.added.length} added, ${result.removed.length} removed, ${result.changed.length} changed`);
    return result;
  }

  private watchManifest(): void {
    // The directory, not the file: editors replace a file by renaming a new one over it, which
    // ends a watch on the file itself.
    const file = path.resolve(this.options.manifest);
    let timer: NodeJS.Timeout | null = null;
    try {
      this.watcher = watch(path.dirname(file), (_event, name) => {
        if (name !== null && name !== path.basename(file)) return;
        if (timer !== null) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = null;
          this.reload().catch(() => undefined);
        }, WATCH_DEBOUNCE_MILLIS);
      });
      this.watcher.on('error', (error) => this.options.logger.warn({ event: 'watch-failed', error: error.message }, `no longer watching ${file}; reload with SIGHUP`));
    } catch (error) {
      this.options.logger.warn({ event: 'watch-failed', error: (error as Error).message }, `cannot watch ${file}; reload with SIGHUP`);
    }
  }

  /**
   * Stops: no new run starts, `/readyz` answers 503, the runs in progress get `stopGraceMillis`
   * to finish, then are aborted; then the endpoints close and the state is closed. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    const grace = this.options.stopGraceMillis ?? DEFAULT_STOP_GRACE_MILLIS;
    const running = this.scheduler.inFlight();
    this.options.logger.info({ event: 'stopping', running, graceMillis: grace }, `stopping: ${running} run(s) in progress get ${grace} ms to finish`);
    this.waiting.abort();
    this.stopping = (async () => {
      this.watcher?.close();
      if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
      const timer = setTimeout(() => this.abortRuns('the stop grace period is over'), grace);
      await this.scheduler.stop();
      clearTimeout(timer);
      this.pool.close();
      await this.server?.close();
      this.state.close();
      this.options.logger.info({ event: 'stopped' }, 'stopped');
      this.markStopped();
    })();
    return this.stopping;
  }

  /** Aborts the runs in progress now (a second SIGTERM); a batched run resumes from its checkpoints next time. */
  abortRuns(why: string): void {
    if (this.aborter.signal.aborted) return;
    this.options.logger.warn({ event: 'aborting', running: this.scheduler.inFlight(), why }, `aborting the runs in progress: ${why}`);
    this.aborter.abort(new GitSyncError('ABORTED', `the service is stopping: ${why}`));
  }
}

/**
 * The process's signals for a service (the CLI's, or an embedder's that wants them): SIGTERM and
 * SIGINT stop it (a second one aborts the runs in progress at once), SIGHUP reloads the
 * manifest. Returns a function that removes the handlers.
 */
export function handleSignals(service: FleetService): () => void {
  let stops = 0;
  const stop = (signal: NodeJS.Signals): void => {
    stops += 1;
    if (stops === 1) void service.stop();
    else service.abortRuns(`${signal} received again`);
  };
  const reload = (): void => {
    service.reload().catch(() => undefined);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', reload);
  return () => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', reload);
  };
}
