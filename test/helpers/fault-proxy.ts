/**
 * A fault-injecting HTTP proxy on loopback, in front of the `git http-backend` server of
 * http-server.ts: git-sync connects to the proxy, the proxy connects upstream, and every request
 * and response body goes through the fault engine (fault-engine.ts), which knows which request
 * it carries (info/refs or POST, upload-pack or receive-pack, v2 `ls-refs` or `fetch`, the Nth
 * fetch of a repository) and breaks it as a rule says: in either direction, at a byte, a pkt-line
 * or a pack byte. Faults only HTTP has are answered here: a status instead of git's (500, 502,
 * 503 with Retry-After, 401, 403, 408, 504...), a status after git has done the work (a gateway
 * that gives up after the push landed), a 413 sent while the body is still streaming followed by
 * a hang-up (nginx), a connection dropped before any answer.
 *
 *   const server = await startGitHttpServer();
 *   const engine = new FaultEngine();
 *   const proxy = await startFaultProxy({ upstream: server.baseUrl, engine });
 *   engine.arm([{ select: { repo: 'target', phase: 'push' }, direction: 'response', fault: { kind: 'status', status: 502 } }]);
 *   await sync({ source: { url: proxy.url('source') }, target: { url: proxy.url('target') } });
 *   await proxy.close();
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  Conversation,
  HTTP_ANSWER_FAULTS,
  listenOnLoopback,
  readEagerly,
  waitDrain,
  repoNamed,
  type ExchangeStart,
  type FaultEngine,
  type Fault,
  type Sink,
} from './fault-engine.js';
import { describeGitRequest } from './http-server.js';

export interface FaultProxyOptions {
  /** `http://127.0.0.1:PORT` of the git server. */
  upstream: string;
  engine: FaultEngine;
}

export interface FaultProxy {
  readonly port: number;
  readonly baseUrl: string;
  /** `http://127.0.0.1:PORT/<name>.git` through the proxy. */
  url(name: string): string;
  /** Client connections still open that carried a request for one of `repos` (all when absent). */
  openConnections(repos?: readonly string[]): number;
  /** Resolves once no request is being carried (for one of `repos`, when given). */
  idle(repos?: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 413: 'Payload Too Large',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
/** nginx's short lingering close after an early answer (see http-server.ts, `limitHangUp`). */
const EARLY_ANSWER_LINGER_MS = 300;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'proxy-connection', 'te', 'trailer', 'upgrade']);

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const engine = options.engine;
  const agent = new http.Agent({ keepAlive: false });
  const sockets = new Map<Socket, Set<string>>();
  /** Requests being carried, with the repository each is for. */
  const inFlight = new Map<Promise<void>, string | null>();

  const server = http.createServer((req, res) => {
    const repos = sockets.get(req.socket);
    const kind = describeGitRequest(req.url ?? '/');
    if (kind.repo !== null) repos?.add(repoNamed(kind.repo));
    const done = carry(req, res).catch(() => {
      res.destroy();
    });
    inFlight.set(done, kind.repo === null ? null : repoNamed(kind.repo));
    void done.finally(() => inFlight.delete(done));
  });
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, new Set());
    socket.on('close', () => sockets.delete(socket));
  });

  async function carry(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const kind = describeGitRequest(req.url ?? '/');
    if (kind.service === null || kind.repo === null) {
      req.resume();
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not a git request\n');
      return;
    }
    // A request that the proxy answers itself: its body is read and dropped.
    let answering: Fault | null = null;
    let upstreamRequest: http.ClientRequest | null = null;
    let droppedBytes = 0;
    let onDropped: (() => void) | null = null;

    const gone = new Promise<void>((resolve) => res.once('close', () => resolve()));
    // Once its response is over, node never tells a request that its connection went away: a
    // body still streaming (after an early answer) would wait for ever.
    req.socket.once('close', () => {
      if (!req.complete) req.destroy();
    });
    let started: ExchangeStart | null = null;
    let onStart!: (start: ExchangeStart) => void;
    const classified = new Promise<ExchangeStart>((resolve) => (onStart = resolve));
    const conversation = new Conversation(engine, {
      carrier: 'http',
      repo: repoNamed(kind.repo),
      service: kind.service,
      protocol: /version=2/.test(String(req.headers['git-protocol'] ?? '')) ? 'v2' : 'v0',
      advertisement: kind.phase === 'advertisement',
      onExchange: (start) => {
        started ??= start;
        // Decided before the first byte of the body is forwarded: nothing reaches the server.
        const fault = start.response;
        if (fault !== null && HTTP_ANSWER_FAULTS.has(fault.kind) && fault.kind !== 'status-after-upstream') answering = fault;
        onStart(start);
      },
    });

    /** The request to the git server, opened when the first byte goes there (or the request is known). */
    const upstreamFor = (): http.ClientRequest => {
      if (upstreamRequest !== null) return upstreamRequest;
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      }
      if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
      const request = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent });
      request.on('error', () => undefined);
      upstreamRequest = request;
      return request;
    };

    // Whoever goes first, client or upstream, the other side is let go.
    res.once('close', () => {
      if (!res.writableFinished) upstreamRequest?.destroy();
    });

    const requestSink: Sink = {
      gone,
      async write(chunk) {
        if (answering !== null) {
          droppedBytes += chunk.length;
          onDropped?.();
          return;
        }
        const request = upstreamFor();
        if (request.destroyed) return;
        if (!request.write(chunk)) await waitDrain(request);
      },
      end() {
        if (answering !== null) return;
        upstreamFor().end();
      },
      fail() {
        this.close();
      },
      close() {
        req.socket.destroySoon();
        upstreamRequest?.destroy();
      },
      reset() {
        req.socket.resetAndDestroy();
        upstreamRequest?.destroy();
      },
    };

    // The body (none for info/refs) goes through the engine; its first pkt-line says what it is.
    // Read eagerly: while a stall holds the body back, the client's going away is still seen.
    const requestPiped = kind.phase === 'rpc' ? conversation.pipeRequest(readEagerly(req), requestSink) : Promise.resolve();
    requestPiped.catch(() => undefined);
    const start = kind.phase === 'rpc' ? await Promise.race([classified, requestPiped.then(() => null)]) : started;
    const fault = start?.response ?? null;
    if (answering !== null) {
      await answer(answering, req, res, () => droppedBytes, (listener) => (onDropped = listener));
      await requestPiped.catch(() => undefined);
      return;
    }
    const request = upstreamFor();
    if (kind.phase !== 'rpc') request.end();
    const response = await new Promise<IncomingMessage | null>((resolve) => {
      request.once('response', resolve);
      request.once('error', () => resolve(null));
      request.once('close', () => resolve(null));
    });
    if (response === null) {
      res.destroy();
      return;
    }
    if (fault?.kind === 'status-after-upstream') {
      // The server did its work (a push applied); the client only hears the gateway's status.
      for await (const _chunk of response) void _chunk;
      await requestPiped.catch(() => undefined);
      if (!res.destroyed) res.writeHead(fault.status, { 'Content-Type': 'text/plain' }).end(`${STATUS_TEXT[fault.status] ?? 'error'}\n`);
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    res.writeHead(response.statusCode ?? 502, response.statusMessage, headers);
    res.once('close', () => response.destroy());
    const responseSink: Sink = {
      gone,
      async write(chunk) {
        if (res.destroyed) return;
        if (!res.write(chunk)) await waitDrain(res);
      },
      end() {
        if (!res.destroyed) res.end();
        response.destroy();
      },
      fail() {
        this.end();
      },
      close() {
        // FIN in the middle of the body: what was written goes out, then the connection ends.
        res.socket?.destroySoon();
        response.destroy();
      },
      reset() {
        res.socket?.resetAndDestroy();
        response.destroy();
      },
    };
    await Promise.all([conversation.pipeResponse(response, responseSink).catch(() => res.destroy()), requestPiped.catch(() => undefined)]);
  }

  const port = await listenOnLoopback(server);
  const baseUrl = `http://127.0.0.1:${port}`;
  const idle = async (repos?: readonly string[]): Promise<void> => {
    const carrying = (): Promise<void>[] => [...inFlight].filter(([, repo]) => repos === undefined || (repo !== null && repos.includes(repo))).map(([done]) => done);
    for (let left = carrying(); left.length > 0; left = carrying()) await Promise.all(left);
  };
  let closing: Promise<void> | null = null;
  return {
    port,
    baseUrl,
    url: (name) => `${baseUrl}/${name.endsWith('.git') ? name : `${name}.git`}`,
    openConnections(repos) {
      let open = 0;
      for (const [socket, carried] of sockets) {
        if (socket.destroyed) continue;
        if (repos === undefined || repos.some((repo) => carried.has(repo))) open += 1;
      }
      return open;
    },
    idle,
    close() {
      closing ??= (async () => {
        engine.releaseStalls();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        for (const socket of sockets.keys()) socket.destroy();
        await stopped;
        await idle();
        agent.destroy();
      })();
      return closing;
    },
  };
}


/** The proxy answers itself: a status, a hang-up, or nginx's early 413. */
async function answer(
  fault: Fault,
  req: IncomingMessage,
  res: ServerResponse,
  dropped: () => number,
  onDropped: (listener: () => void) => void,
): Promise<void> {
  if (fault.kind === 'hang-up') {
    req.socket.destroy();
    return;
  }
  if (fault.kind === 'status') {
    const headers: Record<string, string> = { 'Content-Type': 'text/plain' };
    if (fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
    if (fault.status === 401) headers['WWW-Authenticate'] = 'Basic realm="fault"';
    res.writeHead(fault.status, headers).end(fault.body ?? `${STATUS_TEXT[fault.status] ?? 'error'}\n`);
    return;
  }
  if (fault.kind === 'early-status') {
    // Written to the socket while the client is still sending, then a short linger and a hang-up.
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (dropped() >= fault.afterRequestBytes || req.complete || req.socket.destroyed) {
          onDropped(() => undefined);
          resolve();
        }
      };
      onDropped(check);
      req.once('end', check);
      req.socket.once('close', check);
      check();
    });
    const socket = req.socket;
    if (socket.destroyed) return;
    const body = fault.status === 413 ? 'request body too large\n' : `${STATUS_TEXT[fault.status] ?? 'error'}\n`;
    socket.end(
      `HTTP/1.1 ${fault.status} ${STATUS_TEXT[fault.status] ?? 'Error'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      () => setTimeout(() => socket.destroy(), EARLY_ANSWER_LINGER_MS).unref(),
    );
  }
}
