/** What every verb sets up and tears down: the run's observer, memory sampling, transports. */
import { throwIfAborted } from '../errors.js';
import { MemorySampler } from '../observe/memory.js';
import { ListeningObserver } from '../observe/observer.js';
import type { Side } from '../observe/stats.js';
import { parseEndpoint, type Endpoint } from '../transport/endpoint.js';
import { openTransport } from '../transport/open.js';
import type { Transport } from '../transport/transport.js';
import type { ProtocolVersion } from '../types.js';
import type { CommonOptions, EndpointOptions, Observed } from './options.js';

export class RunContext {
  /** What every layer of this run reports to: counters, decisions, phases, server progress. */
  readonly observer: ListeningObserver;
  private readonly sampler: MemorySampler | undefined;
  private observed: Observed | null = null;
  /** What the run learned of each side, kept for the result of a run that fails later. */
  readonly known: {
    source?: { url: string; protocol: ProtocolVersion; head: string | null };
    target?: { url: string; capabilities: string[] };
  } = {};

  constructor(readonly options: CommonOptions) {
    throwIfAborted(options.signal);
    this.observer = new ListeningObserver({
      stats: options.stats === true,
      listener: options.onProgress,
      progressIntervalMillis: options.progressIntervalMillis,
    });
    this.sampler = options.measureMemory ? new MemorySampler() : undefined;
  }

  endpoint(side: EndpointOptions): Endpoint {
    return parseEndpoint(side.url, this.options.cwd);
  }

  private readonly transports: Transport[] = [];

  transport(side: Side, endpoint: Endpoint, credentials: EndpointOptions): Transport {
    const transport = openTransport(endpoint, { side, credentials, observer: this.observer, timeouts: this.options.timeouts, env: this.options.env });
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
