/**
 * HTTP proxies on Node's own clients. A plain `http://` request goes to the proxy in absolute
 * form (`GET http://host/path HTTP/1.1`, see `proxiedRequestOptions`); an `https://` request goes
 * through a `CONNECT host:port` tunnel with TLS to the real host on top (`TunnelingAgent`), so
 * the proxy sees only where the bytes go, never the requests or the credentials in them.
 *
 * Written here rather than taken from `https-proxy-agent`: that package brings `agent-base` and
 * `debug` with it, while this needs one `createConnection` override, and here a refused tunnel
 * becomes the library's own error (407 is HTTP_AUTH, a silent proxy is TIMEOUT, both naming the
 * redacted proxy URL).
 */
import http from 'node:http';
import type { Agent, AgentOptions, RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { lazyHttps, lazyTls } from '../builtins.js';
import { HttpAuthError, HttpStatusError, NetworkError, TimeoutError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';

/** `Proxy-Authorization` from the proxy URL's user-info (`http://user:password@proxy:3128`). */
export function proxyAuthorization(proxy: URL): string | null {
  if (proxy.username === '' && proxy.password === '') return null;
  const user = decodeURIComponent(proxy.username);
  const password = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function portOf(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

/** Options for `http.request` sending `target` through `proxy` in absolute form. */
export function proxiedRequestOptions(target: URL, proxy: URL, headers: Record<string, string>): http.RequestOptions {
  const authorization = proxyAuthorization(proxy);
  return {
    host: hostOf(proxy),
    port: portOf(proxy),
    path: target.href,
    headers: { ...headers, host: target.host, ...(authorization === null ? {} : { 'proxy-authorization': authorization }) },
  };
}

export interface TunnelingAgentOptions extends AgentOptions {
  /** How long the proxy may take to open the tunnel. */
  connectTimeoutMillis: number;
}

type TunnelingAgentClass = new (proxy: URL, options: TunnelingAgentOptions) => Agent;

let tunnelingAgentClass: TunnelingAgentClass | undefined;

/**
 * An https.Agent whose sockets are TLS over a CONNECT tunnel; pooled per target like any other.
 * Its class is made on first use: node:https and node:tls load only when a run needs them
 * (src/builtins.ts).
 */
export function tunnelingAgent(proxy: URL, options: TunnelingAgentOptions): Agent {
  tunnelingAgentClass ??= defineTunnelingAgent();
  return new tunnelingAgentClass(proxy, options);
}

function defineTunnelingAgent(): TunnelingAgentClass {
  return class TunnelingAgent extends lazyHttps().Agent {
    private readonly connectTimeoutMillis: number;

    constructor(
      private readonly proxy: URL,
      options: TunnelingAgentOptions,
    ) {
      super(options);
      this.connectTimeoutMillis = options.connectTimeoutMillis;
    }

    override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
      const done = callback ?? (() => undefined);
      const host = String(options.host ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
      const authority = `${host.includes(':') ? `[${host}]` : host}:${options.port ?? 443}`;
      const where = redactUrl(this.proxy.toString());
      const authorization = proxyAuthorization(this.proxy);
      const connect = http.request({
        host: hostOf(this.proxy),
        port: portOf(this.proxy),
        method: 'CONNECT',
        path: authority,
        headers: { host: authority, ...(authorization === null ? {} : { 'proxy-authorization': authorization }) },
        agent: false,
      });
      let settled = false;
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        connect.destroy();
        done(error, undefined as unknown as Duplex);
      };
      const timer = setTimeout(
        () => fail(new TimeoutError('connect', where, this.connectTimeoutMillis, `proxy ${where} did not open a tunnel to ${authority} within ${this.connectTimeoutMillis} ms`)),
        this.connectTimeoutMillis,
      );
      timer.unref();
      connect.once('error', (error) => fail(new NetworkError(where, `proxy ${where}: ${error.message}`, { cause: error, transient: true })));
      connect.once('connect', (response, socket, head) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          socket.destroy();
          const data = { status, url: where, requestIds: {} };
          fail(
            status === 407
              ? new HttpAuthError(data, `proxy ${where} answered 407 Proxy Authentication Required to CONNECT ${authority}; put the proxy's credentials in its URL (http://user:password@proxy:port)`)
              : new HttpStatusError(data, `proxy ${where} refused to CONNECT ${authority}: HTTP ${status}`),
          );
          return;
        }
        if (settled) {
          socket.destroy();
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (head.length > 0) socket.unshift(head);
        done(null, lazyTls().connect({ ...options, host, socket } as ConnectionOptions));
      });
      connect.end();
      return undefined;
    }
  };
}
