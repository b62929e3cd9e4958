/**
 * Fault injectors for `startGitHttpServer({ onRequest })`: small middlewares that compose.
 *
 *   onRequest: [
 *     when(isRpc('git-receive-pack'), once(respond(504, 'gateway timeout'))),
 *     when(isAdvertisement('git-upload-pack'), delay(200)),
 *     when(isRpc('git-upload-pack'), truncateResponse(1000)),
 *   ]
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeGitRequest, type GitService, type Middleware } from './http-server.js';

export type RequestPredicate = (req: IncomingMessage) => boolean;

/** `GET <repo>/info/refs?service=<service>` (any service when omitted). */
export function isAdvertisement(service?: GitService): RequestPredicate {
  return (req) => {
    const kind = describeGitRequest(req.url ?? '/');
    return kind.phase === 'advertisement' && (service === undefined || kind.service === service);
  };
}

/** `POST <repo>/<service>` (any service when omitted). */
export function isRpc(service?: GitService): RequestPredicate {
  return (req) => {
    const kind = describeGitRequest(req.url ?? '/');
    return kind.phase === 'rpc' && (service === undefined || kind.service === service);
  };
}

/** Apply `middleware` only to requests matching `predicate`; pass the others on. */
export function when(predicate: RequestPredicate, middleware: Middleware): Middleware {
  return (req, res, next) => (predicate(req) ? middleware(req, res, next) : next());
}

/** Apply `middleware` to the first `n` requests that reach it, then pass everything on. */
export function times(n: number, middleware: Middleware): Middleware {
  let left = n;
  return (req, res, next) => {
    if (left <= 0) return next();
    left -= 1;
    return middleware(req, res, next);
  };
}

/** Apply `middleware` to the first request that reaches it only. */
export function once(middleware: Middleware): Middleware {
  return times(1, middleware);
}

/** Answer with this status and body instead of git (the request body is discarded). */
export function respond(status: number, body: string | Buffer = '', headers: Record<string, string> = {}): Middleware {
  return (req, res) => {
    req.resume();
    res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
    res.end(body);
  };
}

/** Wait `ms` before passing the request on (the body waits, paused). */
export function delay(ms: number): Middleware {
  return (_req, _res, next) => {
    setTimeout(next, ms);
  };
}

/** Drop the connection without any response. */
export function hangUp(): Middleware {
  return (req) => {
    req.socket.destroy();
  };
}

/**
 * Let git answer, but cut the connection after `bytes` bytes of response body: the client sees
 * a response that starts normally and ends mid-body.
 */
export function truncateResponse(bytes: number): Middleware {
  return (req, res, next) => {
    let left = bytes;
    const write = res.write as (...args: unknown[]) => boolean;
    const end = res.end as (...args: unknown[]) => ServerResponse;
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
      if (left < 0) return false;
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      if (data.length <= left) {
        left -= data.length;
        return write.call(this, data, ...rest);
      }
      const allowed = data.subarray(0, left);
      left = -1;
      // Flush what is allowed, then cut; the response never ends properly.
      write.call(this, allowed, () => req.socket.destroy());
      return false;
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
      if (args[0] !== undefined && typeof args[0] !== 'function') res.write(args[0] as Buffer);
      if (left < 0) return this;
      return end.call(this, ...args.filter((arg) => typeof arg === 'function'));
    } as ServerResponse['end'];
    next();
  };
}

/**
 * Let git answer, but no faster than `bytesPerSecond`: each response chunk is followed by a pause
 * as long as sending it would take at that rate (the CGI waits, as on a slow link).
 */
export function throttleResponse(bytesPerSecond: number): Middleware {
  return (_req, res, next) => {
    const write = res.write as (...args: unknown[]) => boolean;
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Buffer).length;
      write.call(this, chunk, ...rest);
      setTimeout(() => res.emit('drain'), (size * 1000) / bytesPerSecond);
      return false;
    } as ServerResponse['write'];
    next();
  };
}


/** Never answer and never read the request body: a server that stopped (the connection stays open). */
export function stall(): Middleware {
  return () => undefined;
}

/**
 * Let git answer, but after `bytes` bytes of response body stop sending (the connection stays
 * open, nothing more comes): a server that stalls mid-response.
 */
export function stallResponseAfter(bytes: number): Middleware {
  return (_req, res, next) => {
    let left = bytes;
    const write = res.write as (...args: unknown[]) => boolean;
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
      if (left <= 0) return true;
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      const allowed = data.subarray(0, left);
      left -= allowed.length;
      return write.call(this, allowed, ...rest.filter((arg) => typeof arg === 'function'));
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse): ServerResponse {
      return this;
    } as ServerResponse['end'];
    next();
  };
}

/**
 * Let git do all its work (a push is applied), but lose its answer: the response headers go out,
 * the body is swallowed, and once git is done the connection is cut.
 */
export function loseAnswer(): Middleware {
  return (req, res, next) => {
    res.write = function (this: ServerResponse): boolean {
      return true;
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse): ServerResponse {
      req.socket.destroy();
      return this;
    } as ServerResponse['end'];
    next();
  };
}
