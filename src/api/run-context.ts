/** What every verb sets up and tears down: statistics, memory sampling, transports. */
import { throwIfAborted } from '../errors.js';
import { MemorySampler } from '../observe/memory.js';
import { StatsRecorder, type Side } from '../observe/stats.js';
import { parseEndpoint, type Endpoint } from '../transport/endpoint.js';
import { openTransport } from '../transport/open.js';
import type { Transport } from '../transport/transport.js';
import type { CommonOptions, EndpointOptions, Observed } from './options.js';

export class RunContext {
  readonly stats: StatsRecorder | undefined;
  private readonly sampler: MemorySampler | undefined;
  private observed: Observed | null = null;

  constructor(readonly options: CommonOptions) {
    this.stats = options.stats ? new StatsRecorder() : undefined;
    this.sampler = options.measureMemory ? new MemorySampler() : undefined;
    throwIfAborted(options.signal);
  }

  endpoint(side: EndpointOptions): Endpoint {
    return parseEndpoint(side.url, this.options.cwd);
  }

  private readonly transports: Transport[] = [];

  transport(side: Side, endpoint: Endpoint, credentials: EndpointOptions): Transport {
    const transport = openTransport(endpoint, { side, credentials, stats: this.stats, timeouts: this.options.timeouts });
    this.transports.push(transport);
    return transport;
  }

  /** Closes every transport this run opened (connection pools, helper processes). */
  async close(): Promise<void> {
    const transports = this.transports.splice(0);
    await Promise.all(transports.map((transport) => transport.close?.().catch(() => undefined)));
  }

  progress(side: Side): ((message: string) => void) | undefined {
    const onProgress = this.options.onProgress;
    return onProgress ? (message) => onProgress({ side, message, kind: 'server' }) : undefined;
  }

  /** Where verbs explain their choices (`-v`): the progress callback, as the `source` side. */
  decisions(): ((message: string) => void) | undefined {
    const onProgress = this.options.onProgress;
    return onProgress ? (message) => onProgress({ side: 'source', message, kind: 'decision' }) : undefined;
  }

  /** Stops sampling; safe to call more than once (the first call wins). */
  finish(): Observed {
    this.observed ??= {
      stats: this.stats?.report() ?? null,
      measurement: this.sampler?.stop() ?? null,
    };
    return this.observed;
  }
}
