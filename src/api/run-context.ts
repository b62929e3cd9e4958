/**
 * What every verb sets up and tears down: the run's observer, memory sampling, transports, the
 * deadline, and the retries of attempts that failed for a transient reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { linkedAbort } from '../abort.js';
import { childEnv } from '../auth/child-env.js';
import { abortError, GitSyncError, TimeoutError, throwIfAborted } from '../errors.js';
import { MemorySampler } from '../observe/memory.js';
import { ListeningObserver } from '../observe/observer.js';
import type { Side } from '../observe/stats.js';
import { parseEndpoint, type Endpoint } from '../transport/endpoint.js';
import { openTransport } from '../transport/open.js';
import { gateTransport, ProtocolPolicy } from '../transport/protocol-policy.js';
import type { Transport } from '../transport/transport.js';
import type { InvalidRefName, ProtocolVersion } from '../types.js';
import type { CommonOptions, EndpointOptions, Observed } from './options.js';
import { DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_MILLIS, retryDecision } from './retry.js';
import { monotonicMillis } from '../builtins.js';

/** Idle timeout when none is given (docs/usage.md, "Timeouts and retries"). */
export const DEFAULT_IDLE_TIMEOUT_MILLIS = 120_000;

/** The sides a verb's options name: their secrets are kept from every child process. */
export interface RunSides {
  source?: EndpointOptions | null;
  target?: EndpointOptions | null;
  targets?: readonly EndpointOptions[];
}

/** Every secret the sides carry: tokens, and passwords embedded in their URLs. */
function secretsOf(sides: RunSides): string[] {
  const all = [sides.source, sides.target, ...(sides.targets ?? [])].filter((side): side is EndpointOptions => side !== undefined && side !== null);
  const out: string[] = [];
  for (const side of all) {
    if (side.token) out.push(side.token);
    if (side.bearerToken) out.push(side.bearerToken);
    try {
      const password = decodeURIComponent(new URL(side.url).password);
      if (password !== '') out.push(password);
    } catch {
      // Not a URL with a password (a path, scp-like): nothing to hide.
    }
  }
  return out;
}

export class RunContext {
  /** What every layer of this run reports to: counters, decisions, phases, server progress. */
  readonly observer: ListeningObserver;
  private readonly sampler: MemorySampler | undefined;
  private observed: Observed | null = null;
  /** What the run learned of each side, kept for the result of a run that fails later. */
  readonly known: {
    source?: { url: string; protocol: ProtocolVersion; head: string | null; invalidRefs: InvalidRefName[] };
    target?: { url: string; capabilities: string[]; invalidRefs: InvalidRefName[] };
  } = {};

  /**
   * What every step of the run listens to: the caller's signal and the run's deadline. When the
   * deadline passes, the run's I/O fails with TIMEOUT_DEADLINE.
   */
  readonly signal: AbortSignal | undefined;
  private readonly deadlineAt: number | null;
  private readonly deadlineTimer: NodeJS.Timeout | undefined;
  /** Lets go of the caller's signal. */
  private readonly released: () => void = () => undefined;

  /**
   * The environment of every process this run starts (docs/security.md, "git's own protocol
   * rules"): the caller's, without git-sync's variables nor any holding one of the sides' secrets.
   */
  readonly childEnv: NodeJS.ProcessEnv;
  /** Which transports the run may use (docs/security.md): checked before each connection. */
  private readonly protocols: ProtocolPolicy;

  constructor(readonly options: CommonOptions & RunSides) {
    throwIfAborted(options.signal);
    this.childEnv = childEnv(options.env ?? process.env, secretsOf(options));
    this.protocols = new ProtocolPolicy({ allowedProtocols: options.allowedProtocols, env: this.childEnv, cwd: options.cwd });
    this.observer = new ListeningObserver({
      stats: options.stats === true,
      listener: options.onProgress,
      progressIntervalMillis: options.progressIntervalMillis,
    });
    this.sampler = options.measureMemory ? new MemorySampler() : undefined;
    const deadline = options.deadlineMillis ?? null;
    if (deadline === null && options.signal === undefined) {
      this.signal = undefined;
      this.deadlineAt = null;
    } else {
      // The run's own signal: what it hangs listeners on goes with the run, while the caller's
      // may live for days (a fleet's shutdown signal), followed only until close().
      const run = linkedAbort(options.signal);
      this.released = run.release;
      this.signal = run.signal;
      this.deadlineAt = deadline === null ? null : monotonicMillis() + deadline;
      if (deadline !== null) {
        this.deadlineTimer = setTimeout(() => {
          run.abort(new TimeoutError('deadline', null, deadline, `the run did not finish within its deadline of ${deadline} ms`));
        }, deadline);
        this.deadlineTimer.unref();
      }
    }
  }

  /**
   * Runs `attempt` until it succeeds, or fails for a reason that is not transient, or `safe`
   * says trying again could do harm (a push that may have changed the target), or the retries
   * run out (CommonOptions.retries). Each retry waits with backoff and jitter, says why (-v), and
   * starts over: the next attempt lists both sides again. The failing error names the phase the
   * run was in.
   */
  async retrying<T>(attempt: () => Promise<T>, safe: (error: GitSyncError) => boolean = () => true): Promise<T> {
    const policy = { retries: this.options.retries ?? DEFAULT_RETRIES, baseDelayMillis: this.options.retryDelayMillis ?? DEFAULT_RETRY_DELAY_MILLIS };
    for (let retried = 0; ; retried++) {
      try {
        return await attempt();
      } catch (error) {
        // A side's failure says what the run was doing; a refusal or a usage error is no phase's.
        if (error instanceof GitSyncError && error.side !== null) error.phase ??= this.observer.currentPhase;
        if (this.signal?.aborted) throw error instanceof GitSyncError ? error : abortError(this.signal);
        const remaining = this.deadlineAt === null ? null : this.deadlineAt - monotonicMillis();
        const decision = retryDecision(error, retried, policy, Math.random(), remaining);
        const why = error instanceof Error ? error.message : String(error);
        if (decision.waitMillis === null || !(error instanceof GitSyncError)) {
          if (decision.reason !== null) this.observer.decision(`retry: not trying again: ${decision.reason}`);
          throw error;
        }
        if (!safe(error)) {
          this.observer.decision('retry: not trying again: the target may have changed (it is not as it was before the push)');
          throw error;
        }
        const where = [error.side, error.phase].filter((part) => part !== null).join(' ');
        this.observer.decision(`retry ${retried + 1}/${policy.retries} in ${(decision.waitMillis / 1000).toFixed(1)} s: ${error.code}${where === '' ? '' : ` (${where})`}: ${why}`);
        try {
          await sleep(decision.waitMillis, undefined, { signal: this.signal });
        } catch {
          throw abortError(this.signal!);
        }
      }
    }
  }

  /** The idle timeout every transport of this run gets. */
  get idleTimeoutMillis(): number {
    return this.options.idleTimeoutMillis ?? DEFAULT_IDLE_TIMEOUT_MILLIS;
  }

  endpoint(side: EndpointOptions): Endpoint {
    return parseEndpoint(side.url, this.options.cwd);
  }

  private readonly transports: Transport[] = [];

  transport(side: Side, endpoint: Endpoint, credentials: EndpointOptions): Transport {
    const opened = openTransport(endpoint, {
      side,
      credentials,
      observer: this.observer,
      idleMillis: this.idleTimeoutMillis,
      timeouts: this.options.timeouts,
      maxRefListingBytes: this.options.maxRefListingBytes,
      env: this.childEnv,
      connectionPool: this.options.connectionPool,
    });
    const transport = gateTransport(opened, endpoint, side, this.protocols);
    this.transports.push(transport);
    return transport;
  }

  /**
   * The operation succeeded: credentials that git's credential helper supplied are approved
   * (stored) now, never earlier (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing"). Verbs call this just before returning a result.
   */
  async succeeded(): Promise<void> {
    for (const transport of this.transports) await transport.approveCredentials?.();
  }

  /** What was measured so far, measuring on: for the result of one attempt. */
  observedSoFar(): Observed {
    if (this.observed !== null) return this.observed;
    return { stats: this.options.stats ? this.observer.report() : null, measurement: this.sampler?.peek() ?? null };
  }

  /** Closes every transport this run opened (connection pools, helper processes). */
  async close(): Promise<void> {
    clearTimeout(this.deadlineTimer);
    this.released();
    const transports = this.transports.splice(0);
    await Promise.all(transports.map((transport) => transport.close?.().catch(() => undefined)));
  }

  /**
   * Stops sampling and reports the final byte counts; safe to call more than once (the first
   * call wins). `stats` is in the result only when it was asked for.
   */
  finish(): Observed {
    if (this.observed === null) {
      const stats = this.observer.stop();
      this.observed = {
        stats: this.options.stats ? stats : null,
        measurement: this.sampler?.stop() ?? null,
      };
    }
    return this.observed;
  }
}
