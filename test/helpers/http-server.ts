/**
 * A loopback smart-HTTP git server: node:http on 127.0.0.1 (ephemeral port) running the real
 * `git http-backend` as a CGI for every request, with optional basic auth, a request-body limit,
 * fault-injection middleware and a request log.
 *
 *   const server = await startGitHttpServer({ maxRequestBytes: 1 << 20 });
 *   const src = await createRepo({ parentDir: server.root, name: 'src' });
 *   await git(['ls-remote', server.url('src')]);
 *   await server.close();
 *
 * Bodies stream both ways with backpressure; nothing is buffered but the CGI's header block.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isolatedGitEnv, makeTempDir } from './git.js';

/**
 * Runs before the git handler. Call `next()` to pass the request on, or answer it yourself
 * (`res.writeHead(...)`, `res.end(...)`, `res.destroy()`). The request body is paused until
 * someone reads it: read it with `for await (const chunk of req)` or `req.resume()`.
 */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void | Promise<void>;

export interface GitHttpServerOptions {
  /** Directory holding the served bare repositories (`<root>/<name>.git`). Default: a temp dir. */
  root?: string;
  /** Require these credentials; anything else gets 401 with `WWW-Authenticate: Basic`. */
  basicAuth?: { username: string; password: string; realm?: string };
  /**
   * Answer 413 as soon as a request body exceeds this many bytes (at once when Content-Length
   * says so); the CGI gets only a truncated body, so it cannot apply anything.
   */
  maxRequestBytes?: number;
  /**
   * How a body over `maxRequestBytes` is refused: 413 (default), or 408 / 504 as a proxy with a
   * deadline would, after `limitDelayMs`.
   */
  limitStatus?: 408 | 413 | 504;
  limitDelayMs?: number;
  /**
   * After refusing a body over `maxRequestBytes`, close the connection a moment later (nginx's
   * short lingering close) instead of draining all the client still sends: the client's writes
   * then fail (EPIPE, reset) while the answer has already arrived. (Closing at once, with the
   * client's data unread, makes the kernel send a reset that may destroy the answer in flight:
   * nginx lingers precisely to avoid that.)
   */
  limitHangUp?: boolean;
  /** Middleware run in order before auth and git, e.g. the fault injectors of `http-faults.ts`. */
  onRequest?: Middleware | readonly Middleware[];
  /** Allow pushes (`http.receivepack`). Default true. */
  receivePack?: boolean;
  /** Extra config for every served git process, e.g. `{'uploadpack.allowFilter': 'true'}`. */
  config?: Readonly<Record<string, string>>;
  /** Loopback address to listen on. Default `127.0.0.1`; `127.0.0.2` makes a second "host". */
  host?: string;
  /** Serve HTTPS with this key and certificate (PEM) instead of plain HTTP. */
  https?: { key: string | Buffer; cert: string | Buffer };
}

export type GitService = 'git-upload-pack' | 'git-receive-pack';

/** What a smart-HTTP URL asks for. */
export interface GitRequestKind {
  /** Repository path as requested (`src.git`), or null when the URL is not a git one. */
  repo: string | null;
  service: GitService | null;
  /** `advertisement` = GET info/refs?service=..., `rpc` = POST /<service>. */
  phase: 'advertisement' | 'rpc' | null;
}

export type RequestOutcome =
  | 'pending'
  /** The response was sent completely. */
  | 'completed'
  /** The client went away before the response was complete. */
  | 'client-aborted'
  /** The body went over maxRequestBytes; answered 413. */
  | 'limit-exceeded'
  /** The response was cut off on purpose (middleware destroyed the socket) or by close(). */
  | 'destroyed';

export interface RequestLogEntry {
  readonly id: number;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly kind: GitRequestKind;
  /** The authenticated user, when basic auth succeeded. */
  user: string | null;
  /** Status sent (0 when no response head went out). */
  status: number;
  /** Request body bytes read by the server (as received, before any gzip decoding). */
  requestBytes: number;
  /** Response body bytes written. */
  responseBytes: number;
  outcome: RequestOutcome;
  /** Who answered: a middleware, the auth check, the body limit, or git http-backend. */
  handledBy: 'middleware' | 'auth' | 'limit' | 'git' | null;
  /** How the CGI ended, when one ran. */
  cgiExit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** The CGI's stderr (first 64 KiB). */
  cgiStderr: string;
  readonly startedAt: number;
  durationMs: number;
  /** True once the entry is final (response over and CGI reaped). */
  done: boolean;
}

export interface GitHttpServer {
  readonly root: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` (`https://` and the bind host as configured) */
  readonly baseUrl: string;
  /** `http://127.0.0.1:PORT/<name>.git` (`.git` not doubled). With `auth`, credentials are embedded. */
  url(name: string, auth?: { username: string; password: string }): string;
  /** Every request so far, in arrival order; entries are updated until `done`. */
  readonly requests: readonly RequestLogEntry[];
  clearLog(): void;
  /**
   * Resolves when no request is in flight (all entries done, every CGI reaped); with `repos`
   * (repository names, `src` for `/src.git/...`), only requests for those count.
   */
  idle(repos?: readonly string[]): Promise<void>;
  /** Stop listening, cut open connections, reap every CGI. Idempotent. */
  close(): Promise<void>;
}

const MAX_CGI_HEADER_BYTES = 64 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
/**
 * An abandoned CGI (client gone, body over the limit) first gets EOF on stdin and this long to
 * end by itself: git then fails its own way and removes its quarantine and temporary packs, which
 * a signal can interrupt half-way (a SIGTERM left `tmp_objdir-incoming-*` behind). Then SIGTERM.
 */
const ABANDON_GRACE_MS = 1000;
/** After SIGTERM, how long a CGI gets before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** How long a client that keeps sending after a 413 is drained before the socket is reset. */
const LINGER_MS = 10_000;
/** With `limitHangUp`: how long the refused body is still drained before the connection closes. */
const HANG_UP_LINGER_MS = 300;

export async function startGitHttpServer(options: GitHttpServerOptions = {}): Promise<GitHttpServer> {
  const tempRoot = options.root === undefined ? makeTempDir('gitsync-http-root-') : undefined;
  const root = options.root ?? tempRoot!.path;
  const middleware = options.onRequest === undefined ? [] : Array.isArray(options.onRequest) ? [...options.onRequest] : [options.onRequest as Middleware];
  const log: RequestLogEntry[] = [];
  /** Requests in flight, with the entry that logs each. */
  const inFlight = new Map<Promise<void>, RequestLogEntry>();
  const cgis = new Set<Cgi>();
  let nextId = 1;
  let port = 0;

  const handle = (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const entry: RequestLogEntry = {
      id: nextId++, method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers,
      kind: describeGitRequest(req.url ?? '/'), user: null, status: 0, requestBytes: 0, responseBytes: 0,
      outcome: 'pending', handledBy: null, cgiExit: null, cgiStderr: '', startedAt: Date.now(), durationMs: 0, done: false,
    };
    log.push(entry);
    // Paused, so a slow middleware loses no body bytes; the counter sees whoever reads them.
    req.pause();
    req.on('data', (chunk: Buffer) => { entry.requestBytes += chunk.length; });
    req.on('error', () => undefined);
    countResponseBytes(res, entry);

    let responseClosed = false;
    const responseOver = new Promise<void>((resolve) => {
      res.on('close', () => {
        responseClosed = true;
        if (entry.outcome === 'pending') entry.outcome = res.writableFinished ? 'completed' : res.headersSent ? 'destroyed' : 'client-aborted';
        if (res.headersSent) entry.status = res.statusCode;
        resolve();
      });
    });
    let cgiOver: Promise<void> = Promise.resolve();

    const runGit = (): void => {
      // A middleware may pass the request on after the client (or close()) has gone.
      if (responseClosed) return;
      entry.handledBy = 'git';
      const authorized = checkAuth(req, res, options.basicAuth, entry);
      if (!authorized) return;
      const limit = options.maxRequestBytes;
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (limit !== undefined && declared > limit) {
        rejectTooLarge(req, res, entry, limit, options.limitStatus, options.limitDelayMs, options.limitHangUp);
        return;
      }
      const cgi = startCgi(req, res, entry, { root, port, options });
      cgis.add(cgi);
      cgiOver = cgi.exited.then(() => { cgis.delete(cgi); });
    };

    const runChain = async (index: number): Promise<void> => {
      const mw = middleware[index];
      if (mw === undefined) {
        runGit();
        return;
      }
      let passed = false;
      await mw(req, res, () => {
        passed = true;
        void runChain(index + 1).catch((error: unknown) => failRequest(res, error));
      });
      if (!passed && entry.handledBy === null) entry.handledBy = 'middleware';
    };

    const done = (async () => {
      try {
        await runChain(0);
      } catch (error) {
        failRequest(res, error);
      }
      await responseOver;
      await cgiOver;
      entry.durationMs = Date.now() - entry.startedAt;
      entry.done = true;
    })();
    inFlight.set(done, entry);
    void done.finally(() => inFlight.delete(done));
    return done;
  };

  const host = options.host ?? '127.0.0.1';
  const scheme = options.https === undefined ? 'http' : 'https';
  const listener = (req: IncomingMessage, res: ServerResponse): void => { void handle(req, res); };
  const server: Server = options.https === undefined ? createServer(listener) : createHttpsServer(options.https, listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const baseUrl = `${scheme}://${host}:${port}`;

  let closing: Promise<void> | undefined;
  const idle = async (repos?: readonly string[]): Promise<void> => {
    const named = (entry: RequestLogEntry): boolean => {
      const repo = entry.kind.repo;
      return repo !== null && repos!.includes((repo.split('/').pop() ?? '').replace(/\.git$/, ''));
    };
    const pending = (): Promise<void>[] => [...inFlight].filter(([, entry]) => repos === undefined || named(entry)).map(([done]) => done);
    for (let left = pending(); left.length > 0; left = pending()) await Promise.all(left);
  };

  return {
    root,
    port,
    baseUrl,
    requests: log,
    url(name, auth) {
      const path = name.endsWith('.git') ? name : `${name}.git`;
      if (auth === undefined) return `${baseUrl}/${path}`;
      return `${scheme}://${encodeURIComponent(auth.username)}:${encodeURIComponent(auth.password)}@${host}:${port}/${path}`;
    },
    clearLog() {
      log.length = 0;
    },
    idle,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        for (const cgi of cgis) cgi.kill();
        await stopped;
        await idle();
        await tempRoot?.remove();
      })();
      return closing;
    },
  };
}

/** Classify a smart-HTTP request URL (`/src.git/info/refs?service=...`, `/src.git/git-upload-pack`). */
export function describeGitRequest(url: string): GitRequestKind {
  const { pathname, searchParams } = new URL(url, 'http://localhost');
  const advertisement = /^\/(.+)\/info\/refs$/.exec(pathname);
  const service = searchParams.get('service');
  if (advertisement !== null && (service === 'git-upload-pack' || service === 'git-receive-pack')) {
    return { repo: advertisement[1]!, service, phase: 'advertisement' };
  }
  const rpc = /^\/(.+)\/(git-upload-pack|git-receive-pack)$/.exec(pathname);
  if (rpc !== null) return { repo: rpc[1]!, service: rpc[2] as GitService, phase: 'rpc' };
  return { repo: null, service: null, phase: null };
}

// ---------------------------------------------------------------------------------------------

interface Cgi {
  /** Resolves once the CGI process has exited and its pipes are closed. */
  readonly exited: Promise<void>;
  /** SIGTERM the whole process group (http-backend and the git it runs), SIGKILL after a grace. */
  kill(): void;
}

interface CgiContext {
  root: string;
  port: number;
  options: GitHttpServerOptions;
}

function startCgi(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry, ctx: CgiContext): Cgi {
  const { pathname, search } = new URL(req.url ?? '/', 'http://localhost');
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const cgiEnv: Record<string, string | undefined> = {
    GIT_PROJECT_ROOT: ctx.root,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_SOFTWARE: 'gitsync-test-http',
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: String(ctx.port),
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(pathname),
    QUERY_STRING: search.startsWith('?') ? search.slice(1) : search,
    CONTENT_TYPE: header('content-type'),
    // Absent for chunked bodies: http-backend then reads stdin to EOF (receive-pack inherits it).
    CONTENT_LENGTH: chunked ? undefined : header('content-length'),
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    REMOTE_USER: entry.user ?? undefined,
    AUTH_TYPE: entry.user === null ? undefined : 'Basic',
    // http-backend passes this on to upload-pack; it is how protocol v2 is requested.
    GIT_PROTOCOL: header('git-protocol'),
    HTTP_CONTENT_ENCODING: header('content-encoding'),
  };
  const child: ChildProcessWithoutNullStreams = spawn('git', ['http-backend'], {
    env: isolatedGitEnv({
      config: { 'http.receivepack': String(ctx.options.receivePack ?? true), ...ctx.options.config },
      env: cgiEnv,
    }),
    stdio: ['pipe', 'pipe', 'pipe'],
    // Own process group, so a kill reaches receive-pack and index-pack too.
    detached: true,
  });

  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;
  let abandonTimer: NodeJS.Timeout | undefined;
  const kill = (): void => {
    if (exited || killTimer !== undefined) return;
    signalGroup(child, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS);
  };
  const exitedPromise = new Promise<void>((resolve) => {
    child.on('error', (error) => {
      entry.cgiStderr += `spawn failed: ${error.message}`;
    });
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(killTimer);
      clearTimeout(abandonTimer);
      entry.cgiExit = { code, signal };
      resolve();
    });
  });

  // Response from the CGI, if nobody else has taken the response over.
  let responseTakenOver = false;
  child.stderr.on('data', (chunk: Buffer) => {
    if (entry.cgiStderr.length < MAX_STDERR_BYTES) entry.cgiStderr += chunk.toString('utf8');
  });
  pipeCgiResponse(child, res, entry, () => responseTakenOver);

  // Request body into the CGI, pausing the client when the CGI is slow. Once stdin is closed
  // (the CGI answered without reading everything, or was abandoned) the rest is discarded.
  let stdinOpen = true;
  const closeStdin = (): void => {
    if (stdinOpen) {
      stdinOpen = false;
      child.stdin.destroy();
    }
    req.resume();
  };
  child.stdin.on('error', closeStdin);
  child.stdin.on('close', closeStdin);
  // The CGI never sees the chunk that crosses the limit, so it only ever gets a strict prefix of
  // the body: receive-pack cannot apply a truncated request, it fails and updates no ref.
  const abandon = (): void => {
    closeStdin();
    abandonTimer ??= setTimeout(kill, ABANDON_GRACE_MS);
  };
  const limit = ctx.options.maxRequestBytes;
  req.on('data', (chunk: Buffer) => {
    if (limit !== undefined && entry.requestBytes > limit && entry.outcome === 'pending') {
      responseTakenOver = true;
      abandon();
      rejectTooLarge(req, res, entry, limit, ctx.options.limitStatus, ctx.options.limitDelayMs, ctx.options.limitHangUp);
      return;
    }
    if (!stdinOpen || entry.outcome === 'limit-exceeded') return; // discarding the rest
    if (!child.stdin.write(chunk)) {
      req.pause();
      child.stdin.once('drain', () => req.resume());
    }
  });
  req.on('end', () => {
    if (stdinOpen) child.stdin.end();
  });
  req.resume();

  // The client vanished (or close() cut the connection) before the response was complete.
  res.on('close', () => {
    if (!res.writableFinished) abandon();
  });

  return { exited: exitedPromise, kill };
}

/** Parse the CGI header block (`Status:`, headers, blank line), then stream the body. */
function pipeCgiResponse(child: ChildProcessWithoutNullStreams, res: ServerResponse, entry: RequestLogEntry, takenOver: () => boolean): void {
  let head: Buffer | null = Buffer.alloc(0);
  const write = (chunk: Buffer): void => {
    if (chunk.length === 0 || takenOver() || res.writableEnded || res.destroyed) return;
    if (!res.write(chunk)) {
      child.stdout.pause();
      res.once('drain', () => child.stdout.resume());
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    if (takenOver()) return;
    if (head === null) {
      write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = findHeaderEnd(head);
    if (end === null) {
      if (head.length > MAX_CGI_HEADER_BYTES) {
        failRequest(res, new Error('CGI header block too large'));
        head = null;
      }
      return;
    }
    applyCgiHeaders(res, head.subarray(0, end.headerEnd).toString('latin1'));
    const body = head.subarray(end.bodyStart);
    head = null;
    // The head goes out with the first body byte (or at the end), so a body-limit 413 can
    // still replace it: http-backend prints its headers before it has read the request.
    write(body);
  });
  // Nobody reads the rest: keep draining so the CGI is not stuck on a full pipe.
  res.on('close', () => child.stdout.resume());
  child.on('close', () => {
    if (takenOver() || res.writableEnded || res.destroyed) return;
    if (head !== null) {
      failRequest(res, new Error(`git http-backend ended without a response (exit ${child.exitCode ?? child.signalCode}): ${entry.cgiStderr.trim()}`));
      return;
    }
    res.end();
  });
}

function findHeaderEnd(buf: Buffer): { headerEnd: number; bodyStart: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { headerEnd: crlf, bodyStart: crlf + 4 };
  if (lf !== -1) return { headerEnd: lf, bodyStart: lf + 2 };
  return null;
}

function applyCgiHeaders(res: ServerResponse, block: string): void {
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const [code, ...reason] = value.split(' ');
      res.statusCode = Number(code);
      if (reason.length > 0) res.statusMessage = reason.join(' ');
    } else {
      res.appendHeader(name, value);
    }
  }
}

function checkAuth(req: IncomingMessage, res: ServerResponse, auth: GitHttpServerOptions['basicAuth'], entry: RequestLogEntry): boolean {
  if (auth === undefined) return true;
  const header = req.headers.authorization ?? '';
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (match !== null) {
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon !== -1 && decoded.slice(0, colon) === auth.username && decoded.slice(colon + 1) === auth.password) {
      entry.user = auth.username;
      return true;
    }
  }
  entry.handledBy = 'auth';
  res.writeHead(401, { 'WWW-Authenticate': `Basic realm="${auth.realm ?? 'git'}"`, 'Content-Type': 'text/plain' });
  res.end('authentication required\n');
  req.resume();
  return false;
}

/**
 * Answer 413 while the client may still be sending. The response is written to the socket
 * directly, then only our side is closed and whatever the client still sends is drained: closing
 * outright would reset the connection and the client might never read the 413 (curl stops
 * sending as soon as it sees an error status, then closes).
 */
const STATUS_TEXT: Record<number, string> = { 408: 'Request Timeout', 413: 'Payload Too Large', 504: 'Gateway Timeout' };

function rejectTooLarge(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry, limit: number, status: 408 | 413 | 504 = 413, delayMs = 0, hangUp = false): void {
  entry.outcome = 'limit-exceeded';
  if (delayMs > 0) {
    req.resume();
    setTimeout(() => rejectTooLarge(req, res, entry, limit, status, 0, hangUp), delayMs).unref();
    return;
  }
  entry.handledBy = 'limit';
  entry.status = status;
  const body = status === 413 ? `request body exceeds ${limit} bytes\n` : `${STATUS_TEXT[status]}\n`;
  entry.responseBytes += Buffer.byteLength(body);
  const socket = req.socket;
  if (res.headersSent || socket.destroyed) {
    res.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n\r\n${body}`,
    () => {
      if (hangUp) setTimeout(() => socket.destroy(), HANG_UP_LINGER_MS).unref();
    },
  );
  req.resume();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

function failRequest(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, { 'Content-Type': 'text/plain' });
  res.end(`${error instanceof Error ? error.message : String(error)}\n`);
}

function countResponseBytes(res: ServerResponse, entry: RequestLogEntry): void {
  const size = (chunk: unknown, encoding: unknown): number =>
    typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      : chunk instanceof Uint8Array ? chunk.length : 0;
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    entry.responseBytes += size(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (typeof args[0] !== 'function') entry.responseBytes += size(args[0], args[1]);
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
}

function signalGroup(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}
