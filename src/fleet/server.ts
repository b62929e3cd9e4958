/**
 * The serve HTTP endpoints (docs/fleet.md, "HTTP endpoints"), on node:http: `/metrics`,
 * `/healthz`, `/readyz`, `GET /mirrors`, `GET /mirrors/<id>`, and the hooks `POST /hooks/github`,
 * `/hooks/gitlab`, `/hooks/<mirror-id>`. Hook bodies are read up to a limit (413 past it, the
 * connection closed) before webhooks.ts judges them; nothing else takes a body. What the
 * endpoints show and do is the service's (serve.ts), through `ServerHandlers`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../errors.js';
import type { FleetMetrics } from './metrics.js';
import { routePage, type PageSource } from './page-routes.js';
import { judgeHook, type HookMirror, type HookProvider, type HookSecrets } from './webhooks.js';

export interface ServerHandlers {
  /** True once the service runs its schedule; false while starting or stopping (`/readyz` 503). */
  ready(): boolean;
  /** `GET /mirrors`: every mirror's status, JSON-ready. */
  mirrors(): unknown[];
  /** `GET /mirrors/<id>`: one mirror's status and recent runs; null for an unknown id (404). */
  mirror(id: string): unknown | null;
  /** The mirrors hooks may trigger, and the hook secrets, as of the current manifest. */
  hookMirrors(): readonly HookMirror[];
  hookSecrets(): HookSecrets;
  /** Runs the mirrors now (or right after their run in progress); says what became of each. */
  trigger(ids: readonly string[]): Record<string, string>;
  metrics: FleetMetrics;
  /** The status page (page-routes.ts: `GET /`, HTML at `/mirrors/<id>`, "sync now"); absent: no page. */
  page?: PageSource;
}

export interface FleetServerOptions {
  /** Hook bodies larger than this are refused with 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

export interface FleetServer {
  /** `http://host:port` as bound (the port the system chose when 0 was asked). */
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes idle connections; resolves when the server is closed. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** `host:port` (IPv6 in brackets) to what listen() takes. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(listen.trim());
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || port > 65535) throw new UsageError(`'${listen}' is not an address to listen on; write host:port (127.0.0.1:8787)`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** Starts listening; rejects (USAGE, naming the address) when the address is taken or not ours. */
export async function startFleetServer(listen: string, handlers: ServerHandlers, options: FleetServerOptions = {}): Promise<FleetServer> {
  const { host, port } = parseListen(listen);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const server = createServer((req, res) => {
    route(req, res, handlers, maxBodyBytes).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) } });
      else res.destroy();
    });
  });
  // A client that trickles a request is cut off: hooks come from hosts that send at once.
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      const why = error.code === 'EADDRINUSE' ? 'it is in use' : error.code === 'EADDRNOTAVAIL' ? 'no interface has that address' : error.code === 'EACCES' ? 'permission denied' : error.message;
      reject(new UsageError(`cannot listen on ${listen}: ${why}; choose another address (serve.listen in the manifest)`, { cause: error }));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    port: address.port,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // A scrape or hook in progress gets a moment to finish, then is cut.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  });
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  json(res, 405, { error: { code: 'METHOD', message: `use ${allow}` } }, { allow });
}

async function route(req: IncomingMessage, res: ServerResponse, handlers: ServerHandlers, maxBodyBytes: number): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://serve').pathname;
  const method = req.method ?? 'GET';
  const get = (answer: () => void | Promise<void>): void | Promise<void> => (method === 'GET' ? answer() : methodNotAllowed(res, 'GET'));
  if (handlers.page !== undefined && (await routePage(req, res, handlers.page))) return;

  if (path === '/healthz') return get(() => json(res, 200, { status: 'ok' }));
  if (path === '/readyz') return get(() => (handlers.ready() ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'not ready' })));
  if (path === '/metrics') {
    return get(async () => {
      const text = await handlers.metrics.text();
      res.writeHead(200, { 'content-type': handlers.metrics.contentType, 'cache-control': 'no-store' });
      res.end(text);
    });
  }
  if (path === '/mirrors' || path === '/mirrors/') return get(() => json(res, 200, { mirrors: handlers.mirrors() }));
  const mirrorMatch = /^\/mirrors\/([^/]+)$/.exec(path);
  if (mirrorMatch !== null) {
    return get(() => {
      const id = decodeURIComponent(mirrorMatch[1]!);
      const found = handlers.mirror(id);
      if (found === null) json(res, 404, { error: { code: 'NOT_FOUND', message: `no mirror ${JSON.stringify(id)}` } });
      else json(res, 200, found);
    });
  }
  const hookMatch = /^\/hooks\/([^/]+)$/.exec(path);
  if (hookMatch !== null) {
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    const name = decodeURIComponent(hookMatch[1]!);
    const provider: HookProvider = name === 'github' || name === 'gitlab' ? name : 'generic';
    const body = await readBody(req, res, maxBodyBytes);
    if (body === null) {
      handlers.metrics.hookAnswered(provider, 413);
      return;
    }
    const verdict = judgeHook({ provider, headers: req.headers, body, mirrorId: provider === 'generic' ? name : undefined }, handlers.hookSecrets(), handlers.hookMirrors());
    handlers.metrics.hookAnswered(provider, verdict.status);
    if (verdict.status !== 202) {
      json(res, verdict.status, { status: verdict.status < 300 ? 'ignored' : 'refused', reason: verdict.reason, mirrors: {} });
      return;
    }
    json(res, 202, { status: 'queued', reason: verdict.reason, mirrors: handlers.trigger(verdict.mirrors) });
    return;
  }
  json(res, 404, { error: { code: 'NOT_FOUND', message: `nothing at ${path}; see docs/fleet.md, "HTTP endpoints"` } });
}

/**
 * The whole body, or null after answering 413 when it is larger than `limit` (at once when
 * Content-Length says so). The connection is closed after a 413, so a sender that keeps
 * streaming is not read any further.
 */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): void => {
      req.removeAllListeners('data');
      // Unread bytes are dropped, not buffered, until the answer is out and the socket closes.
      req.resume();
      json(res, 413, { status: 'refused', reason: `the body is larger than ${limit} bytes`, mirrors: {} }, { connection: 'close' });
      res.once('finish', () => req.socket.end());
      resolve(null);
    };
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge();
      else chunks.push(chunk);
    });
    req.once('end', () => {
      if (size <= limit) resolve(Buffer.concat(chunks));
    });
    req.once('error', reject);
  });
}
