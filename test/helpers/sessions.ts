/**
 * Both sides of a run opened the way api/ does it, for tests of the layers below the API
 * (execute/, api/ancestry.ts): an upload-pack session on the source, a receive-pack session on
 * the target, an observer that records every event, and the relay context built from them.
 */
import type { RelayContext } from '../../src/execute/context.js';
import { ListeningObserver } from '../../src/observe/observer.js';
import type { ProgressEvent } from '../../src/observe/progress.js';
import type { StatsReport } from '../../src/observe/stats.js';
import { ReceivePackSession } from '../../src/protocol/receive-pack-session.js';
import { UploadPackSession } from '../../src/protocol/upload-pack-session.js';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { openTransport } from '../../src/transport/open.js';
import type { Transport } from '../../src/transport/transport.js';

export interface OpenedRun {
  source: UploadPackSession;
  target: ReceivePackSession;
  /** Every progress event so far: decisions, phases, server lines, transfers. */
  events: ProgressEvent[];
  /** The relay context over both sessions; `overrides` replace its limits. */
  context(overrides?: Partial<Pick<RelayContext, 'maxPackBytes' | 'maxRefUpdates' | 'signal'>>): RelayContext;
  /** The decisions said so far, in order. */
  decisions(): string[];
  /** Stops the observer and returns the counts (stats were asked for). */
  stats(): StatsReport;
  close(): Promise<void>;
}

/** What closes things when a test ends (node:test's TestContext). */
export interface AfterTest {
  after(fn: () => Promise<void>): void;
}

/**
 * Opens `sourceUrl` for fetching and `targetUrl` for pushing, counting and recording everything;
 * closed when the test `t` ends.
 */
export async function openRun(t: AfterTest, sourceUrl: string, targetUrl: string): Promise<OpenedRun> {
  const run = await openBoth(sourceUrl, targetUrl);
  t.after(() => run.close());
  return run;
}

async function openBoth(sourceUrl: string, targetUrl: string): Promise<OpenedRun> {
  const events: ProgressEvent[] = [];
  const observer = new ListeningObserver({ stats: true, listener: (event) => events.push(event), progressIntervalMillis: 60_000 });
  const transports: Transport[] = [
    openTransport(parseEndpoint(sourceUrl), { side: 'source', observer }),
    openTransport(parseEndpoint(targetUrl), { side: 'target', observer }),
  ];
  const closeTransports = async (): Promise<void> => {
    observer.stop();
    await Promise.all(transports.map((transport) => transport.close?.().catch(() => undefined)));
  };
  let source: UploadPackSession | null = null;
  try {
    source = await UploadPackSession.open(transports[0]!, { protocol: 'auto', observer });
    const target = await ReceivePackSession.open(transports[1]!);
    const opened: UploadPackSession = source;
    return {
      source: opened,
      target,
      events,
      context: (overrides = {}) => ({ source: opened, target, maxPackBytes: null, maxRefUpdates: 1000, signal: undefined, observer, ...overrides }),
      decisions: () => events.flatMap((event) => (event.kind === 'decision' ? [event.message] : [])),
      stats: () => observer.stop()!,
      close: async () => {
        await opened.close().catch(() => undefined);
        await target.close().catch(() => undefined);
        await closeTransports();
      },
    };
  } catch (error) {
    await source?.close().catch(() => undefined);
    await closeTransports();
    throw error;
  }
}
