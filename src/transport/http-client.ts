/**
 * One HTTP exchange, and nothing about git: a request (its body a buffer or a stream written with
 * backpressure) answered by response headers, then the response body as counted chunks. Holds
 * the keep-alive pools (one per scheme and proxy), the connect, header and body-idle timeouts,
 * the per-phase byte counts and the trace events (`GITSYNC_HTTP_TRACE`). What a status or a
 * socket error means is `http-diagnosis.ts`'s; what git asks of HTTP is `http.ts`'s.
 *
 * Built on node:http and node:https rather than undici (fetch): the same relay measured 30-40 MB
 * less peak RSS (undici's module graph, its WebAssembly parser and a copy per chunk).
 */
import { once } from 'node:events';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { lazyHttps, monotonicMillis } from '../builtins.js';
import { GitSyncError, NetworkError, TimeoutError } from '../errors.js';
import { noteStreamedBytes } from '../observe/gc-pacer.js';
import { httpTraceEnabled, publishHttpTrace } from '../observe/http-trace.js';
import { redactUrl } from '../observe/redact.js';
import type { Side } from '../observe/stats.js';
import type { RunObserver } from '../observe/observer.js';
import type { ConnectionPool } from './connection-pool.js';
import { networkError, requestIds, type Headers } from './http-diagnosis.js';
import { proxiedRequestOptions, tunnelingAgent } from './http-proxy-agent.js';
import { IdleClock } from './idle-clock.js';
import { proxyFor, type ProxyEnv } from './proxy-env.js';
import type { RequestBody, RequestOptions } from './transport.js';

export interface HttpTimeouts {
  /** TCP + TLS connection establishment (through a proxy: until the tunnel is open). */
  connectMillis: number;
  /** From the request being sent to the response headers. */
  headersMillis: number;
  /** Longest silence between two chunks of a response body. */
  bodyIdleMillis: number;
}

/**
 * The defaults (docs/usage.md, "Timeouts and retries"): a server that is up answers a connection
 * in far less than 30 s, and git's servers send a keepalive packet every 5 s while they prepare
 * a pack or check a push, so two minutes of silence is a stall, not a slow transfer.
 */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  connectMillis: 30_000,
  headersMillis: 120_000,
  bodyIdleMillis: 120_000,
};

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** The trace of one exchange: a `request` event now, a `response` event once it is over. */
export class ExchangeTrace {
  private readonly started = monotonicMillis();
  private readonly enabled = httpTraceEnabled();
  private over = false;
  requestBytes = 0;

  constructor(
    private readonly side: Side,
    private readonly method: string,
    private readonly url: string,
    proxy: URL | null,
  ) {
    if (this.enabled) publishHttpTrace({ type: 'request', side, method, url, proxy: proxy === null ? null : redactUrl(proxy.toString()) });
  }

  end(outcome: { status: number; headers?: Headers; responseBytes?: number; location?: string | null; error?: unknown }): void {
    if (this.over) return;
    this.over = true;
    if (!this.enabled) return;
    const error = outcome.error === undefined ? null : outcome.error instanceof GitSyncError ? outcome.error.code : 'NETWORK';
    publishHttpTrace({
      type: 'response',
      side: this.side,
      method: this.method,
      url: this.url,
      status: outcome.status,
      requestBytes: this.requestBytes,
      responseBytes: outcome.responseBytes ?? 0,
      durationMillis: monotonicMillis() - this.started,
      requestIds: outcome.headers ? requestIds(outcome.headers) : {},
      location: outcome.location ?? null,
      error,
    });
  }
}

export interface Exchange {
  response: IncomingMessage;
  trace: ExchangeTrace;
  /**
   * This exchange's idle clock: the request body's bytes taken count as progress; the response
   * body's reader tells it of each whole packet (IdleClock).
   */
  activity: IdleClock;
}

/** A bound on a response body: past `bytes`, reading stops with `error(where)`. */
export interface BodyLimit {
  bytes: number;
  error(where: string): GitSyncError;
}

export interface HttpClientOptions {
  side: Side;
  insecureSkipTlsVerify: boolean;
  proxyEnv: ProxyEnv;
  timeouts: HttpTimeouts;
  observer: RunObserver | undefined;
  /** Strings never to show in an error (the credentials in use). */
  secrets: () => string[];
  /** Connections shared with other runs (connection-pool.ts); absent: this client's own, closed with it. */
  pool?: ConnectionPool | null;
}

export class HttpClient {
  readonly side: Side;
  readonly timeouts: HttpTimeouts;
  private readonly agents = new Map<string, http.Agent>();
  /** Responses still open (their reader neither finished nor cut them), cut at close(). */
  private readonly open = new Set<IncomingMessage>();
  /** Connections this client has sent on: a failure on one is never taken for a stale one. */
  private readonly used = new WeakSet<Socket>();
  private readonly insecureSkipTlsVerify: boolean;
  private readonly proxyEnv: ProxyEnv;
  private readonly observer: RunObserver | undefined;
  private readonly pool: ConnectionPool | null;
  readonly secrets: () => string[];

  constructor(options: HttpClientOptions) {
    this.side = options.side;
    this.insecureSkipTlsVerify = options.insecureSkipTlsVerify;
    this.proxyEnv = options.proxyEnv;
    this.timeouts = options.timeouts;
    this.observer = options.observer;
    this.secrets = options.secrets;
    this.pool = options.pool ?? null;
  }

  /**
   * Closes this client's own connections, and resolves once none of this run's responses is
   * left on a connection. A shared pool's connections stay for the next run, but not with a
   * response of this run still on them: one its reader left unfinished is cut; one that has all
   * its bytes, or that drainRest is reading to its end, is waited for (bounded, drainRest), so
   * that a run is over on its servers when it returns (a fleet's per-host limit counts on it)
   * and its connections are back in the pool.
   */
  async close(): Promise<void> {
    const ending: Promise<unknown>[] = [];
    for (const response of this.open) {
      if (this.pool === null || (!response.complete && !draining.has(response))) {
        response.destroy();
        continue;
      }
      if (!draining.has(response)) drainRest(response);
      if (!response.destroyed) ending.push(new Promise((resolve) => response.once('close', resolve)));
    }
    this.open.clear();
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    await Promise.all(ending);
  }

  /**
   * One keep-alive pool per scheme and proxy: discovery, fetches and pushes reuse connections.
   * With a shared pool, its agent for the same scheme, proxy and TLS settings.
   */
  agent(url: URL, proxy: URL | null): http.Agent {
    const rejectUnauthorized = !this.insecureSkipTlsVerify;
    const connectTimeoutMillis = this.timeouts.connectMillis;
    const make = (extra: { keepAlive: true; timeout?: number }): http.Agent => {
      const agent =
        url.protocol !== 'https:'
          ? new http.Agent(extra)
          : proxy === null
            ? new (lazyHttps().Agent)({ ...extra, rejectUnauthorized })
            : tunnelingAgent(proxy, { ...extra, rejectUnauthorized, connectTimeoutMillis });
      agent.on('free', noteFreed);
      return agent;
    };
    const key = `${url.protocol}${proxy === null ? '' : ` via ${proxy.href}`}`;
    if (this.pool !== null) {
      // TLS verification and the tunnel's connect timeout are the connection's: part of the key.
      const shared = this.pool.agent(url.protocol === 'https:' ? `${key} verify=${rejectUnauthorized}${proxy === null ? '' : ` connect=${connectTimeoutMillis}`}` : key, make);
      if (shared !== null) return shared;
    }
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = make({ keepAlive: true });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Sends one request; resolves once the response headers arrive, whatever the status. */
  async exchange(
    method: 'GET' | 'POST',
    url: URL,
    body: RequestBody | null,
    headers: Record<string, string>,
    phaseName: RequestOptions['phase'],
    signal: AbortSignal | undefined,
  ): Promise<Exchange> {
    const phase = this.observer?.counters(phaseName) ?? undefined;
    if (phase) phase.requests += 1;
    const started = monotonicMillis();
    let trace: ExchangeTrace | null = null;
    const activity = new IdleClock();
    try {
      const proxy = proxyFor(url, this.proxyEnv);
      trace = new ExchangeTrace(this.side, method, redactUrl(url.toString()), proxy);
      const sent = trace;
      const streamed = body !== null && !Buffer.isBuffer(body);
      if (Buffer.isBuffer(body)) {
        headers['content-length'] = String(body.length);
        if (phase) phase.requestBytes += body.length;
        sent.requestBytes += body.length;
      }
      const readsOnly = !streamed && (method === 'GET' || url.pathname.endsWith('/git-upload-pack'));
      let response: IncomingMessage;
      for (let attempt = 1; ; attempt++) {
        // No `signal` option here: abortOnSignal ties the signal to the request instead.
        const request =
          proxy !== null && url.protocol === 'http:'
            ? http.request({ ...proxiedRequestOptions(url, proxy, headers), method, agent: this.agent(url, proxy) })
            : (url.protocol === 'https:' ? lazyHttps() : http).request(url, { method, headers, agent: this.agent(url, proxy) });
        // Failures after the answer reach the reader through the response; a later 'error' on the
        // request must never be an unhandled one.
        request.on('error', () => undefined);
        let idleMillis = 0;
        let inherited = false;
        request.once('socket', (socket: Socket) => {
          const freed = freedAt.get(socket);
          idleMillis = freed === undefined ? 0 : monotonicMillis() - freed;
          // Left in a shared pool by an earlier run: only such a connection may have been
          // closed by its server unseen; one this run used fails as any request would.
          inherited = freed !== undefined && !this.used.has(socket);
          this.used.add(socket);
        });
        try {
          response = await this.answer(request, body, streamed, url, signal, activity, (bytes) => {
            if (phase) phase.requestBytes += bytes;
            sent.requestBytes += bytes;
          });
          break;
        } catch (error) {
          // A kept connection its server closed just as this request went out. A request that
          // only reads (a GET, an upload-pack POST) and whose body is still held is sent again,
          // on a new connection; one that writes (receive-pack) never is.
          if (readsOnly && inherited && attempt < MAX_STALE_ATTEMPTS && staleConnection(request, idleMillis, error, signal)) continue;
          throw error;
        }
      }
      this.open.add(response);
      response.once('close', () => this.open.delete(response));
      return { response, trace, activity };
    } catch (error) {
      const classified = networkError(error, redactUrl(url.toString()), this.side, signal, this.secrets());
      trace?.end({ status: 0, error: classified });
      throw classified;
    } finally {
      if (phase) phase.elapsedMillis += monotonicMillis() - started;
    }
  }

  /** Sends `request`'s body; resolves with the response headers, whatever the status. */
  private answer(
    request: ClientRequest,
    body: RequestBody | null,
    streamed: boolean,
    url: URL,
    signal: AbortSignal | undefined,
    activity: IdleClock,
    countStreamed: (bytes: number) => void,
  ): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const timers = new RequestTimers(request, this.timeouts, url, this.side);
      abortOnSignal(request, signal, (reason) => {
        timers.clear();
        reject(reason);
      });
      request.once('response', (incoming) => {
        timers.clear();
        resolve(incoming);
      });
      request.once('error', (error) => {
        timers.clear();
        // A server that refuses a streamed body (nginx over its client_max_body_size) answers
        // early and closes while the body is still being sent: the write then fails with EPIPE
        // or a reset, and the answer, already received, is parsed just after. Wait for it a
        // moment: the 413 is the truth, the broken pipe only its consequence.
        const code = (error as { code?: unknown }).code;
        if (streamed && (code === 'EPIPE' || code === 'ECONNRESET')) {
          setTimeout(() => reject(error), EARLY_RESPONSE_GRACE_MS).unref();
          return;
        }
        reject(error);
      });
      if (body === null || Buffer.isBuffer(body)) {
        request.end(body ?? undefined);
        timers.awaitHeaders();
      } else {
        const counted = countRequestBody(body, (bytes) => {
          countStreamed(bytes);
          activity.touch();
        });
        const idle = this.timeouts.bodyIdleMillis;
        const where = redactUrl(url.toString());
        const stalled = (): Error => new TimeoutError('idle', where, idle, `${where}: no progress either way for ${idle} ms; the ${this.side} server stopped reading`);
        writeStreamed(request, counted, activity, idle, stalled).then(
          () => timers.awaitHeaders(),
          (error: unknown) => request.destroy(error instanceof Error ? error : new Error(String(error))),
        );
      }
    });
  }

  /** Drops the body of a response that is not used (a redirect, a 401 about to be answered). */
  discard({ response, trace }: Exchange, location: string | null = null): void {
    trace.end({ status: response.statusCode ?? 0, headers: response.headers, location });
    response.destroy();
  }

  /** The response body as counted chunks; errors are classified, the limit (if any) enforced. */
  countedBody(
    { response, trace, activity }: Exchange,
    phaseName: RequestOptions['phase'],
    url: URL,
    limit: BodyLimit | null,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Buffer> {
    const phase = this.observer?.counters(phaseName) ?? undefined;
    const client = this;
    const where = redactUrl(url.toString());
    const idle = this.timeouts.bodyIdleMillis;
    let total = 0;
    // A body its reader leaves unfinished still gets its trace line, once the connection lets go.
    response.once('close', () => trace.end({ status: response.statusCode ?? 0, headers: response.headers, responseBytes: total }));
    return (async function* body(): AsyncGenerator<Buffer> {
      let failure: unknown;
      const started = monotonicMillis();
      // The idle clock runs only while this body waits for the server: while its reader holds
      // a chunk (a relay waiting on the target), the silence is not the server's.
      const chunks = response[Symbol.asyncIterator]();
      try {
        for (;;) {
          const stop = activity.watch(idle, () => {
            response.destroy(new TimeoutError('idle', where, idle, `${where}: no progress either way for ${idle} ms; the ${client.side} server stopped sending (no whole packet came)`));
          });
          let next: IteratorResult<unknown>;
          try {
            next = await chunks.next();
          } finally {
            stop();
          }
          if (next.done === true) break;
          const buffer = next.value as Buffer;
          total += buffer.length;
          noteStreamedBytes(buffer.length);
          if (phase) phase.responseBytes += buffer.length;
          if (limit !== null && total > limit.bytes) throw limit.error(where);
          yield buffer;
        }
        // A connection cut mid-body ends the stream without an error on some Node versions.
        if (!response.complete) throw new NetworkError(where, `${where}: the connection closed before the response was complete`, { transient: true });
      } catch (error) {
        failure = networkError(error, where, client.side, signal, client.secrets());
        throw failure;
      } finally {
        if (phase) phase.elapsedMillis += monotonicMillis() - started;
        // The connection goes back to the pool once the response has ended. A reader that stops
        // at its protocol's end (a flush packet) stops before HTTP's (the last chunk's few
        // bytes, often a moment behind): that rest is read, a little of it, for a while, or the
        // connection is cut. A complete response is read to its end the same way (resume()
        // does nothing while the suspended iterator listens). A failed body is cut at once.
        if (!response.destroyed) {
          if (response.complete || (failure === undefined && signal?.aborted !== true)) drainRest(response);
          else response.destroy();
        }
        trace.end({ status: response.statusCode ?? 0, headers: response.headers, responseBytes: total, error: failure });
      }
    })();
  }
}

/**
 * How much of a response its reader left is read to keep the connection (drainRest): what a
 * server sends after the last packet of a git response is HTTP's end, a few bytes, as soon as
 * its git process has exited (which a loaded server may take a moment to see). Until then the
 * connection is only unavailable, not waited for: a request meanwhile takes another.
 */
const DRAIN_MAX_BYTES = 64 * 1024;
const DRAIN_MAX_MILLIS = 5000;
/** Responses drainRest is reading to their end. */
const draining = new WeakSet<IncomingMessage>();

/**
 * Reads what is left of a response its reader stopped reading, so that the response ends and
 * its connection goes back to the keep-alive pool; more than DRAIN_MAX_BYTES, or no end within
 * DRAIN_MAX_MILLIS, and the connection is cut instead. Without this, every listing read up to
 * its flush packet cost its connection, and the next request (the push after the target's
 * listing, the next run's with a shared pool) a new one: over HTTPS, a TCP and a TLS handshake.
 * Read with read() on 'readable': the reader's async iterator, left suspended, keeps a
 * 'readable' listener, which makes resume() do nothing.
 */
function drainRest(response: IncomingMessage): void {
  draining.add(response);
  let left = DRAIN_MAX_BYTES;
  const timer = setTimeout(() => response.destroy(), DRAIN_MAX_MILLIS);
  timer.unref();
  const read = (): void => {
    for (let chunk: Buffer | null = response.read() as Buffer | null; chunk !== null; chunk = response.read() as Buffer | null) {
      left -= chunk.length;
      if (left < 0) {
        response.destroy();
        return;
      }
    }
  };
  response.on('error', () => undefined);
  response.once('close', () => clearTimeout(timer));
  response.on('readable', read);
  read();
}

/**
 * Sends of one request on kept connections that turn out closed, before it goes on a new one. A
 * closed kept connection fails at once; after a few, the rest of the pool is likely closed too
 * (a server restarted), and the agent opens a new one anyway once its free ones are gone.
 */
const MAX_STALE_ATTEMPTS = 4;

/**
 * How long a kept connection must have been idle for its failure to be taken for its server's
 * keep-alive timer (servers close idle connections after seconds: Apache 5, Node 5, nginx 75),
 * and not for a fault of the server, which a request on a connection just used meets as any
 * other request does.
 */
export const STALE_MIN_IDLE_MILLIS = 1000;

/** When each kept connection was last handed back to its agent (its 'free' event). */
const freedAt = new WeakMap<Socket, number>();

function noteFreed(socket: Socket): void {
  freedAt.set(socket, monotonicMillis());
}

/**
 * True when `request` failed because the kept connection it was given, idle `idleMillis`
 * before it, had been closed by its server (reset, broken pipe, or closed without an answer:
 * Node's "socket hang up"), and not because the caller gave up. Node's own advice for keep-alive
 * agents (`request.reusedSocket`), for connections idle long enough (STALE_MIN_IDLE_MILLIS).
 */
export function staleConnection(request: Pick<ClientRequest, 'reusedSocket'>, idleMillis: number, error: unknown, signal: AbortSignal | undefined): boolean {
  if (!request.reusedSocket || idleMillis < STALE_MIN_IDLE_MILLIS || signal?.aborted === true) return false;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

/**
 * Ties a request to the caller's signal until the request is over (its response read or
 * dropped): an abort before the answer fails the exchange (`beforeAnswer`), one after it cuts
 * the response, whose reader reports it (as an abort: the signal has fired). Not through
 * `http.request`'s own `signal` option: on an abort that destroys the request with an error,
 * which reaches its socket and is emitted there a tick later; when the response had arrived
 * whole meanwhile, its end has handed the socket back to the keep-alive pool without the
 * request's error listener, and the 'error' is an uncaught exception (a relay aborts its
 * controller after a push whose report did not parse; see docs/testing.md, "Fault matrix").
 * Destroyed without an error, the socket emits none.
 */
function abortOnSignal(request: ClientRequest, signal: AbortSignal | undefined, beforeAnswer: (reason: unknown) => void): void {
  if (signal === undefined) return;
  const onAbort = (): void => {
    beforeAnswer(signal.reason);
    request.destroy();
  };
  if (signal.aborted) {
    queueMicrotask(onAbort);
    return;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  request.once('close', () => signal.removeEventListener('abort', onAbort));
}

/**
 * Connect and header timeouts of one request (body idle time is watched on the body). The
 * socket may still be connecting when the request is sent: the header clock then starts once
 * it is connected, so a slow connect is a connect timeout and never disarms the header one.
 */
class RequestTimers {
  private timer: NodeJS.Timeout | null = null;
  private connecting = false;
  private sent = false;
  private done = false;

  constructor(
    private readonly request: ClientRequest,
    private readonly timeouts: HttpTimeouts,
    private readonly url: URL,
    private readonly side: Side,
  ) {
    request.once('socket', (socket) => {
      if (this.done || !socket.connecting) return;
      this.connecting = true;
      this.start('connect', timeouts.connectMillis, 'connecting');
      socket.once('connect', () => {
        this.connecting = false;
        if (this.done) return;
        if (this.sent) this.awaitHeaders();
        else this.stop();
      });
    });
  }

  private start(kind: 'connect' | 'headers', millis: number, what: string): void {
    this.stop();
    this.timer = setTimeout(() => {
      const where = redactUrl(this.url.toString());
      this.request.destroy(new TimeoutError(kind, where, millis, `${where}: timed out after ${millis} ms ${what}; the ${this.side} server is not answering`));
    }, millis);
    this.timer.unref();
  }

  /** The request is sent: the response headers must come within the header timeout. */
  awaitHeaders(): void {
    this.sent = true;
    if (this.done || this.connecting) return;
    this.start('headers', this.timeouts.headersMillis, 'waiting for response headers');
  }

  /** The answer came, or the request failed: no timer any more. */
  clear(): void {
    this.done = true;
    this.stop();
  }

  private stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Writes a streamed body with backpressure; stops quietly once the request is gone. */
/** Bytes a streamed request body may queue in the socket before the writer waits for 'drain'. */
const WRITE_WINDOW = 1024 * 1024;

/** How long a request whose body could not be sent waits for the server's early answer. */
const EARLY_RESPONSE_GRACE_MS = 1000;

/**
 * Writes a streamed body with backpressure; stops quietly once the request is gone. A server
 * that takes none of the queued bytes for `idleMillis` (it stopped reading) fails the request
 * with an idle timeout, as one that stops sending does.
 */
async function writeStreamed(request: ClientRequest, body: AsyncIterable<Buffer>, activity: IdleClock, idleMillis: number, stalled: () => Error): Promise<void> {
  for await (const chunk of body) {
    if (request.destroyed) return;
    // Keep up to WRITE_WINDOW queued before waiting: the default 16 KiB high-water mark stalls a
    // fast relay on every few chunks, while the window still bounds memory.
    if (!request.write(chunk) && request.writableLength > WRITE_WINDOW) {
      // Whichever event loses the race must stop listening, or a long push piles up listeners.
      const settled = new AbortController();
      const stop = activity.watch(idleMillis, () => request.destroy(stalled()));
      try {
        await Promise.race([once(request, 'drain', { signal: settled.signal }), once(request, 'close', { signal: settled.signal })]);
      } finally {
        stop();
        settled.abort();
      }
    }
  }
  if (!request.destroyed) request.end();
}

async function* countRequestBody(body: AsyncIterable<Uint8Array>, count: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    const buffer = toBuffer(chunk);
    count(buffer.length);
    yield buffer;
  }
}

/** The first few hundred bytes of an error body, as one line of text (servers explain there). */
export async function readErrorSnippet(response: IncomingMessage): Promise<string> {
  const limit = 512;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response) {
      const buffer = chunk as Buffer;
      chunks.push(buffer);
      size += buffer.length;
      if (size >= limit) break;
    }
  } catch {
    // The status already says what failed; a broken error body adds nothing.
  } finally {
    response.destroy();
  }
  const contentType = response.headers['content-type'] ?? '';
  if (/html/i.test(contentType)) return '';
  return Buffer.concat(chunks)
    .subarray(0, limit)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim();
}
