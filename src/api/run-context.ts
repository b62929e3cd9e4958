/** What every verb sets up and tears down: statistics, memory sampling, transports. */
import { throwIfAborted } from '../errors.js';
import { MemorySampler } from '../observe/memory.js';
import { TransferTicker, type PhaseStep, type ProgressEvent, type RunPhase } from '../observe/progress.js';
import { StatsRecorder, type Side } from '../observe/stats.js';
import { parseEndpoint, type Endpoint } from '../transport/endpoint.js';
import { openTransport } from '../transport/open.js';
import type { Transport } from '../transport/transport.js';
import type { ProtocolVersion } from '../types.js';
import type { CommonOptions, EndpointOptions, Observed } from './options.js';

export class RunContext {
  /** The transports' byte counters: kept for `stats`, and for progress when someone listens. */
  readonly stats: StatsRecorder | undefined;
  private readonly sampler: MemorySampler | undefined;
  private readonly ticker: TransferTicker | undefined;
  private observed: Observed | null = null;
  /** What the run learned of each side, kept for the result of a run that fails later. */
  readonly known: {
    source?: { url: string; protocol: ProtocolVersion; head: string | null };
    target?: { url: string; capabilities: string[] };
  } = {};

  constructor(readonly options: CommonOptions) {
    throwIfAborted(options.signal);
    const onProgress = options.onProgress;
    this.stats = options.stats || onProgress ? new StatsRecorder() : undefined;
    this.sampler = options.measureMemory ? new MemorySampler() : undefined;
    if (onProgress && this.stats) this.ticker = new TransferTicker(this.stats, onProgress, options.progressIntervalMillis);
  }

  endpoint(side: EndpointOptions): Endpoint {
    return parseEndpoint(side.url, this.options.cwd);
  }

  private readonly transports: Transport[] = [];

  transport(side: Side, endpoint: Endpoint, credentials: EndpointOptions): Transport {
    const transport = openTransport(endpoint, { side, credentials, stats: this.stats, timeouts: this.options.timeouts, env: this.options.env });
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

  /** Closes every transport this run opened (connection pools, helper processes). */
  async close(): Promise<void> {
    const transports = this.transports.splice(0);
    await Promise.all(transports.map((transport) => transport.close?.().catch(() => undefined)));
  }

  /** Where a side's server progress lines go; undefined (servers asked for no progress) when nobody listens. */
  progress(side: Side): ((message: string, transient?: boolean) => void) | undefined {
    const onProgress = this.options.onProgress;
    return onProgress ? (message, transient = false) => onProgress({ kind: 'server', side, message, transient }) : undefined;
  }

  /** Where verbs explain their choices (`-v`). */
  decisions(): ((message: string) => void) | undefined {
    const onProgress = this.options.onProgress;
    return onProgress ? (message) => onProgress({ kind: 'decision', message }) : undefined;
  }

  /** Announces what the run does next; `step` says which push request or batch of how many. */
  phase(phase: RunPhase, step: PhaseStep | null = null): void {
    this.emit({ kind: 'phase', phase, step });
  }

  /** A phase callback for lower layers (execute/), or undefined when nobody listens. */
  phases(): ((phase: RunPhase, step: PhaseStep | null) => void) | undefined {
    return this.options.onProgress ? (phase, step) => this.phase(phase, step) : undefined;
  }

  private emit(event: ProgressEvent): void {
    this.options.onProgress?.(event);
  }

  /**
   * Stops sampling and reports the final byte counts; safe to call more than once (the first
   * call wins). `stats` is in the result only when it was asked for.
   */
  finish(): Observed {
    if (this.observed === null) {
      this.ticker?.stop();
      this.observed = {
        stats: this.options.stats ? (this.stats?.report() ?? null) : null,
        measurement: this.sampler?.stop() ?? null,
      };
    }
    return this.observed;
  }
}
