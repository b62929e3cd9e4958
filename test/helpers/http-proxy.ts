/**
 * A loopback HTTP proxy that records what it carried: absolute-form requests for `http://`
 * targets (forwarded with node:http) and `CONNECT host:port` tunnels for `https://` targets
 * (bytes piped both ways, never looked into). Optionally requires `Proxy-Authorization`.
 *
 *   const proxy = await startHttpProxy();
 *   await runCli(['probe', server.url('src')], { HTTP_PROXY: proxy.url });
 *   assert.equal(proxy.requests[0].method, 'GET');
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';

export interface ProxyLogEntry {
  /** `GET`, `POST`, ... or `CONNECT`. */
  readonly method: string;
  /** The absolute URL asked for, or `host:port` for CONNECT. */
  readonly target: string;
  /** The `Proxy-Authorization` header as received, or null. */
  readonly proxyAuthorization: string | null;
  /** The `Authorization` header the proxy could read (absolute-form only; a tunnel hides it). */
  readonly authorization: string | null;
  /** Status the proxy answered itself (407, 502), or 0 when it passed the request on. */
  status: number;
}

export interface HttpProxy {
  /** `http://127.0.0.1:PORT` (with `user:password@` when the proxy requires auth). */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly ProxyLogEntry[];
  close(): Promise<void>;
}

export interface HttpProxyOptions {
  /** Require these credentials; anything else gets 407. */
  auth?: { username: string; password: string };
}

export async function startHttpProxy(options: HttpProxyOptions = {}): Promise<HttpProxy> {
  const log: ProxyLogEntry[] = [];
  const sockets = new Set<Socket>();
  const expected = options.auth === undefined ? null : `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;

  const record = (req: IncomingMessage): ProxyLogEntry => {
    const entry: ProxyLogEntry = {
      method: req.method ?? '',
      target: req.url ?? '',
      proxyAuthorization: req.headers['proxy-authorization'] ?? null,
      authorization: req.method === 'CONNECT' ? null : req.headers.authorization ?? null,
      status: 0,
    };
    log.push(entry);
    return entry;
  };
  const authorized = (req: IncomingMessage): boolean => expected === null || req.headers['proxy-authorization'] === expected;

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const entry = record(req);
    if (!authorized(req)) {
      entry.status = 407;
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="proxy"', 'Content-Type': 'text/plain' });
      res.end('proxy authentication required\n');
      req.resume();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      entry.status = 400;
      res.writeHead(400).end('absolute-form request expected\n');
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = http.request(target, { method: req.method, headers, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const entry = record(req);
    if (!authorized(req)) {
      entry.status = 407;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = splitAuthority(req.url ?? '');
    const upstream = net.connect({ host, port }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => {
      entry.status = 502;
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const credentials = options.auth === undefined ? '' : `${encodeURIComponent(options.auth.username)}:${encodeURIComponent(options.auth.password)}@`;
  return {
    url: `http://${credentials}127.0.0.1:${port}`,
    port,
    requests: log,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function splitAuthority(authority: string): [string, number] {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(authority);
  if (bracketed) return [bracketed[1]!, Number(bracketed[2])];
  const colon = authority.lastIndexOf(':');
  return [authority.slice(0, colon), Number(authority.slice(colon + 1))];
}
