/**
 * HTTP tracing through `node:diagnostics_channel` (as undici does): the transport publishes one
 * event when a request starts and one when its exchange is over (body read, refused, redirected
 * or failed). Nothing is published, and nothing costs, unless someone subscribes. The library
 * never prints; the CLI subscribes when `GITSYNC_HTTP_TRACE=1` and writes one line per event to
 * stderr. An embedding program can subscribe to `HTTP_TRACE_CHANNEL` itself.
 *
 * Events carry only what is safe to print: URLs are redacted before they are published, and no
 * header but the server's request ids is included (never `Authorization`).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Side } from './stats.js';
import { escapeControlCharacters } from './terminal-text.js';

export const HTTP_TRACE_CHANNEL = 'gitsync:http';

export type HttpTraceEvent =
  | {
      readonly type: 'request';
      readonly side: Side;
      readonly method: string;
      /** Redacted. */
      readonly url: string;
      /** The proxy the request goes through (redacted), or null. */
      readonly proxy: string | null;
    }
  | {
      readonly type: 'response';
      readonly side: Side;
      readonly method: string;
      readonly url: string;
      /** 0 when no response came (see `error`). */
      readonly status: number;
      readonly requestBytes: number;
      readonly responseBytes: number;
      readonly durationMillis: number;
      readonly requestIds: Readonly<Record<string, string>>;
      /** Where a redirect points (redacted), else null. */
      readonly location: string | null;
      /** The error code when the exchange failed (`NETWORK`, `TIMEOUT`, ...), else null. */
      readonly error: string | null;
    };

const channel = diagnosticsChannel.channel(HTTP_TRACE_CHANNEL);

/** True when someone listens: the transport skips building events otherwise. */
export function httpTraceEnabled(): boolean {
  return channel.hasSubscribers;
}

export function publishHttpTrace(event: HttpTraceEvent): void {
  if (channel.hasSubscribers) channel.publish(event);
}

/** One line per event, its control characters escaped (observe/terminal-text.ts), e.g. `http target < 200 POST https://host/repo.git/git-receive-pack sent=1234 received=56 12ms`. */
export function formatHttpTrace(event: HttpTraceEvent): string {
  if (event.type === 'request') {
    return escapeControlCharacters(`http ${event.side} > ${event.method} ${event.url}${event.proxy === null ? '' : ` via proxy ${event.proxy}`}`);
  }
  const outcome = event.error !== null ? `error ${event.error}` : String(event.status);
  const ids = Object.entries(event.requestIds).map(([name, value]) => `${name}: ${value}`);
  // Header values are the server's words: an 8-bit CSI (U+009B) in one must not reach a terminal.
  return escapeControlCharacters([
    `http ${event.side} < ${outcome} ${event.method} ${event.url}`,
    event.location === null ? '' : ` -> ${event.location}`,
    ` sent=${event.requestBytes} received=${event.responseBytes} ${Math.round(event.durationMillis)}ms`,
    ids.length === 0 ? '' : ` [${ids.join(', ')}]`,
  ].join(''));
}

/** `GITSYNC_HTTP_TRACE` is `1` (or `true`, `yes`, `on`). */
export function httpTraceRequested(env: NodeJS.ProcessEnv): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env.GITSYNC_HTTP_TRACE ?? '').trim().toLowerCase());
}

/** Writes every trace event as a `git-sync: http ...` line through `write` until the returned function is called. */
export function traceHttp(write: (line: string) => void): () => void {
  const listener = (message: unknown): void => write(`git-sync: ${formatHttpTrace(message as HttpTraceEvent)}\n`);
  diagnosticsChannel.subscribe(HTTP_TRACE_CHANNEL, listener);
  return () => {
    diagnosticsChannel.unsubscribe(HTTP_TRACE_CHANNEL, listener);
  };
}
