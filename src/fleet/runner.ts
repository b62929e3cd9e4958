/**
 * Running mirrors (docs/fleet.md, "fleet run"): one mirror's run through the library (`sync` or
 * `replicate`; `fanOut` for several targets, so the source is listed and fetched once), with
 * its deadline, recorded in the state and logged as one JSON line; and a whole manifest once,
 * under a global and a per-host cap (HostLimiter). Nothing here prints: the CLI renders the
 * results, and the log goes where the caller's logger writes.
 */
import pino from 'pino';
import { fanOut, type FanOutResult } from '../api/fan-out.js';
import type { EndpointOptions } from '../api/options.js';
import type { SyncResult } from '../api/plan.js';
import { replicate, sync, type SyncOptions } from '../api/sync.js';
import { ConnectionPool } from '../transport/connection-pool.js';
import { GitSyncError, UsageError, throwIfAborted } from '../errors.js';
import { redactSecrets, redactUrl } from '../observe/redact.js';
import type { StatsReport } from '../observe/stats.js';
import { HostLimiter, type HostLimits } from './host-limiter.js';
import type { CredentialRefs, FleetManifest, MirrorSpec } from './manifest.js';
import type { FleetState, RunOutcome, RunTrigger } from './state.js';

/** Runs at once by default, in all and per host (docs/fleet.md, "Concurrency"). */
export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_PER_HOST_CONCURRENCY = 4;

/** The structured log a run writes to: pino's, or anything with its shape. */
export interface FleetLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface TargetRunResult {
  /** Redacted. */
  url: string;
  outcome: RunOutcome;
  relayMode: string | null;
  pushed: number;
  deleted: number;
  blocked: number;
  error: { code: string; message: string } | null;
}

/** One mirror's run: docs/fleet.md, "JSON". */
export interface MirrorRunResult {
  id: string;
  trigger: RunTrigger;
  /** The worst of the targets': failed, blocked, aborted, success, noop. */
  outcome: RunOutcome;
  /** Why, in a few words (null for a plain success or no-op). */
  reason: string | null;
  /** The state's id of this run; null without a state. */
  runId: number | null;
  startedAt: Date;
  finishedAt: Date;
  durationMillis: number;
  /** Redacted. */
  source: string;
  targets: TargetRunResult[];
  bytesFromSource: number;
  bytesToTarget: number;
  refsChanged: number;
  /** The first failure among the targets (or the run's own), redacted. */
  error: { code: string; message: string } | null;
}

export interface FleetRunResult {
  mirrors: MirrorRunResult[];
  counts: Record<RunOutcome, number>;
  startedAt: Date;
  finishedAt: Date;
  durationMillis: number;
}

export interface RunMirrorOptions {
  trigger: RunTrigger;
  signal?: AbortSignal;
  state?: FleetState | null;
  logger?: FleetLogger | null;
  /** Where `*-token-env` variables are read, proxies found and `git credential` runs (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The clock, for tests. */
  now?: () => Date;
  /**
   * HTTP(S) connections runs leave for the next (CommonOptions.connectionPool); null: none kept.
   * runFleet makes one for its pass when this is absent; a service keeps one for its life.
   */
  connectionPool?: ConnectionPool | null;
}

export interface RunFleetOptions extends Omit<RunMirrorOptions, 'trigger'> {
  /** Default: the manifest's `concurrency`, else DEFAULT_CONCURRENCY. */
  concurrency?: number;
  /** Default: the manifest's `per-host-concurrency`, else DEFAULT_PER_HOST_CONCURRENCY. */
  perHostConcurrency?: number;
  /** The caps to share (a service running mirrors besides this pass); default: a new limiter. */
  limiter?: HostLimiter;
  /** Told as each mirror's run ends (the CLI's live lines). */
  onMirrorDone?: (result: MirrorRunResult) => void;
  trigger?: RunTrigger;
}

/** The JSON-lines logger `fleet run` and `serve` write with: pino, to `destination`. */
export function createFleetLogger(destination: NodeJS.WritableStream, level: 'info' | 'warn' | 'error' = 'info'): FleetLogger {
  return pino(
    {
      level,
      base: { service: 'git-sync-fleet' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Nothing logged carries a secret (messages are redacted first); these paths are a last guard.
      redact: { paths: ['token', '*.token', 'password', '*.password', 'authorization', '*.authorization'], censor: '***' },
    },
    destination as pino.DestinationStream,
  );
}

const SEVERITY: Record<RunOutcome, number> = { noop: 0, success: 1, aborted: 2, blocked: 3, failed: 4 };

/** The worse of two outcomes. */
export function worstOutcome(a: RunOutcome, b: RunOutcome): RunOutcome {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/** The run's classification from a result and its error (docs/fleet.md, "Outcomes"). */
function outcomeOf(result: SyncResult | null, error: GitSyncError | null): RunOutcome {
  if (error !== null) return error.code === 'REF_BLOCKED' ? 'blocked' : error.code === 'ABORTED' ? 'aborted' : 'failed';
  return result !== null && result.pushed + result.deleted > 0 ? 'success' : 'noop';
}

/** The endpoint for one side, its secrets read from the variables the manifest names. */
function endpoint(url: string, refs: CredentialRefs, side: string, spec: MirrorSpec, env: NodeJS.ProcessEnv): EndpointOptions {
  const read = (name: string | null, field: string): string | null => {
    if (name === null) return null;
    const value = env[name];
    if (value === undefined || value === '') throw new UsageError(`mirror ${spec.id}: ${side} ${field} names ${name}, which is not set; export it where the fleet runs`);
    return value;
  };
  return {
    url,
    token: read(refs.tokenEnv, 'token-env'),
    bearerToken: read(refs.bearerTokenEnv, 'bearer-token-env'),
    username: refs.username,
    ...(spec.credentials.credentialHelper ? {} : { credentialHelper: null }),
  };
}

function sideBytes(stats: StatsReport | null): { fromSource: number; toTarget: number } {
  return { fromSource: stats?.source.bytesReceived ?? 0, toTarget: stats?.target.bytesSent ?? 0 };
}

function errorFields(error: GitSyncError | null, secrets: readonly string[]): { code: string; message: string } | null {
  return error === null ? null : { code: error.code, message: redactSecrets(error.message, secrets) };
}

/** A few words on why: the blocked refs, or the error's code. */
function reasonOf(outcome: RunOutcome, error: { code: string; message: string } | null, targets: readonly TargetRunResult[]): string | null {
  if (outcome === 'blocked') {
    const blocked = targets.reduce((sum, target) => sum + target.blocked, 0);
    return `${blocked} ref(s) blocked`;
  }
  if (outcome === 'failed' || outcome === 'aborted') return error?.code ?? null;
  return null;
}

function targetResult(url: string, result: SyncResult | null, error: GitSyncError | null, secrets: readonly string[]): TargetRunResult {
  return {
    url: redactUrl(url),
    outcome: outcomeOf(result, error),
    relayMode: result?.relayMode ?? null,
    pushed: result?.pushed ?? 0,
    deleted: result?.deleted ?? 0,
    blocked: result?.blocked ?? 0,
    error: errorFields(error, secrets),
  };
}

/**
 * Runs one mirror once: its credentials read from the environment, its options the library's,
 * its `timeoutMillis` the run's deadline (TIMEOUT_DEADLINE). Never throws for the run's own
 * failure: the result says what happened. Records the run in `state` and logs one line.
 */
/** The transports a mirror may use unless its manifest says `allowed-protocols` (docs/fleet.md). */
export const FLEET_ALLOWED_PROTOCOLS: readonly string[] = ['http', 'https', 'ssh', 'git', 'file'];

export async function runMirror(spec: MirrorSpec, options: RunMirrorOptions): Promise<MirrorRunResult> {
  const now = options.now ?? (() => new Date());
  const env = options.env ?? process.env;
  const startedAt = now();
  const runId = options.state?.startRun(spec.id, startedAt, options.trigger) ?? null;
  const secrets: string[] = [];
  let targets: TargetRunResult[];
  let bytes = { fromSource: 0, toTarget: 0 };
  let runError: { code: string; message: string } | null = null;
  try {
    // Stopped before it began (a service shutting down, a fleet run interrupted while this one
    // waited for a slot): recorded as aborted, nothing asked of any server.
    throwIfAborted(options.signal);
    const source = endpoint(spec.source, spec.credentials.source, 'source', spec, env);
    const targetEndpoints = spec.targets.map((url, i) => endpoint(url, spec.credentials.targets[i] ?? spec.credentials.targets[0]!, 'target', spec, env));
    for (const side of [source, ...targetEndpoints]) for (const secret of [side.token, side.bearerToken]) if (secret) secrets.push(secret);
    const common = {
      ...spec.options,
      // A manifest's URLs are the fleet's input, not a user at a prompt: only the transports
      // git always allows, unless the manifest lists others (docs/security.md).
      allowedProtocols: spec.options.allowedProtocols ?? FLEET_ALLOWED_PROTOCOLS,
      source,
      stats: true,
      deadlineMillis: spec.timeoutMillis,
      signal: options.signal,
      env,
      cwd: spec.cwd,
      connectionPool: options.connectionPool ?? null,
    };
    if (targetEndpoints.length === 1) {
      const run = spec.mode === 'replicate' ? replicate : sync;
      let result: SyncResult | null = null;
      let error: GitSyncError | null = null;
      try {
        result = await run({ ...common, target: targetEndpoints[0]! } satisfies SyncOptions);
      } catch (thrown) {
        error = thrown instanceof GitSyncError ? thrown : new GitSyncError('USAGE', String(thrown));
        result = (error.result as SyncResult | null) ?? null;
      }
      targets = [targetResult(spec.targets[0]!, result, error, secrets)];
      bytes = sideBytes(result?.stats ?? null);
    } else {
      const result: FanOutResult = await fanOut({ ...common, operation: spec.mode, targets: targetEndpoints });
      targets = result.targets.map((outcome, i) => targetResult(spec.targets[i]!, outcome.result, outcome.error, secrets));
      const shared = sideBytes(result.stats);
      bytes = result.targets.reduce((sum, outcome) => {
        const own = sideBytes(outcome.result.stats);
        return { fromSource: sum.fromSource + own.fromSource, toTarget: sum.toTarget + own.toTarget };
      }, shared);
    }
  } catch (thrown) {
    // Refused before any target was tried: a credential variable missing, a usage error.
    const error = thrown instanceof GitSyncError ? thrown : new GitSyncError('USAGE', String(thrown));
    runError = errorFields(error, secrets);
    targets = spec.targets.map((url) => ({ url: redactUrl(url), outcome: outcomeOf(null, error), relayMode: null, pushed: 0, deleted: 0, blocked: 0, error: runError }));
  }
  const outcome = targets.reduce<RunOutcome>((worst, target) => worstOutcome(worst, target.outcome), 'noop');
  const error = runError ?? targets.find((target) => target.error !== null)?.error ?? null;
  const finishedAt = now();
  const result: MirrorRunResult = {
    id: spec.id,
    trigger: options.trigger,
    outcome,
    reason: reasonOf(outcome, error, targets),
    runId,
    startedAt,
    finishedAt,
    durationMillis: finishedAt.getTime() - startedAt.getTime(),
    source: redactUrl(spec.source),
    targets,
    bytesFromSource: bytes.fromSource,
    bytesToTarget: bytes.toTarget,
    refsChanged: targets.reduce((sum, target) => sum + target.pushed + target.deleted, 0),
    error,
  };
  if (runId !== null) {
    options.state!.finishRun(runId, {
      finishedAt,
      outcome,
      reason: result.reason,
      relayMode: targets.map((target) => target.relayMode ?? '-').join(','),
      bytesFromSource: result.bytesFromSource,
      bytesToTarget: result.bytesToTarget,
      refsChanged: result.refsChanged,
      errorCode: error?.code ?? null,
      errorMessage: error?.message ?? null,
    });
  }
  logRun(options.logger ?? null, result);
  return result;
}

/** One JSON line per run: info for a success or no-op, warn when blocked or aborted, error when failed. */
function logRun(logger: FleetLogger | null, result: MirrorRunResult): void {
  if (logger === null) return;
  const fields = {
    mirror: result.id,
    runId: result.runId,
    trigger: result.trigger,
    outcome: result.outcome,
    reason: result.reason,
    durationMs: result.durationMillis,
    source: result.source,
    targets: result.targets.map((target) => ({ url: target.url, outcome: target.outcome, relayMode: target.relayMode, pushed: target.pushed, deleted: target.deleted, blocked: target.blocked, errorCode: target.error?.code ?? null })),
    bytesFromSource: result.bytesFromSource,
    bytesToTarget: result.bytesToTarget,
    refsChanged: result.refsChanged,
    errorCode: result.error?.code ?? null,
    errorMessage: result.error?.message ?? null,
  };
  const message = `mirror ${result.id}: ${result.outcome}${result.reason === null ? '' : ` (${result.reason})`}`;
  if (result.outcome === 'failed') logger.error(fields, message);
  else if (result.outcome === 'blocked' || result.outcome === 'aborted') logger.warn(fields, message);
  else logger.info(fields, message);
}

/**
 * Runs every mirror of the manifest once, at most `concurrency` at a time and
 * `perHostConcurrency` per host; with a state, the state's mirrors become the manifest's, each
 * run is recorded, and old runs are pruned as the manifest's `state` says.
 */
export async function runFleet(manifest: FleetManifest, options: RunFleetOptions = {}): Promise<FleetRunResult> {
  const now = options.now ?? (() => new Date());
  const limits: HostLimits = {
    global: options.concurrency ?? manifest.concurrency.global ?? DEFAULT_CONCURRENCY,
    perHost: options.perHostConcurrency ?? manifest.concurrency.perHost ?? DEFAULT_PER_HOST_CONCURRENCY,
  };
  const limiter = options.limiter ?? new HostLimiter(limits);
  // The pass's mirrors share connections (most fleets sync many repositories of a few hosts),
  // in a pool of the pass's own unless the caller gives one, or null for none.
  const ownPool = options.connectionPool === undefined ? new ConnectionPool() : null;
  const pool = options.connectionPool ?? ownPool;
  const startedAt = now();
  options.state?.syncMirrors(manifest.mirrors.map((mirror) => mirror.id));
  let mirrors: MirrorRunResult[];
  try {
    mirrors = await Promise.all(
      manifest.mirrors.map(async (spec) => {
        let release: (() => void) | null = null;
        try {
          release = await limiter.acquire([spec.source, ...spec.targets], options.signal);
        } catch {
          // Aborted while waiting for a slot: runMirror records an aborted run and asks nothing of
          // a server once the signal has fired.
        }
        let result: MirrorRunResult;
        try {
          result = await runMirror(spec, { ...options, connectionPool: pool, trigger: options.trigger ?? 'once' });
        } finally {
          release?.();
        }
        options.onMirrorDone?.(result);
        return result;
      }),
    );
  } finally {
    ownPool?.close();
  }
  if (options.state !== undefined && options.state !== null) options.state.prune({ retainRuns: manifest.state.retainRuns, retainDays: manifest.state.retainDays, now: now() });
  const counts: Record<RunOutcome, number> = { success: 0, noop: 0, failed: 0, blocked: 0, aborted: 0 };
  for (const mirror of mirrors) counts[mirror.outcome] += 1;
  const finishedAt = now();
  return { mirrors, counts, startedAt, finishedAt, durationMillis: finishedAt.getTime() - startedAt.getTime() };
}
