/**
 * Chooses the transport for an endpoint (docs/usage.md, "Sources and targets") and applies the side's credentials (HTTP
 * only: ssh brings its own keys, local paths and git:// need none, helpers do their own).
 */
import type { CredentialProvider } from '../auth/credential-provider.js';
import { GitCredentialHelper } from '../auth/credential-helper.js';
import type { Side } from '../observe/stats.js';
import type { RunObserver } from '../observe/observer.js';
import type { Endpoint } from './endpoint.js';
import type { ConnectionPool } from './connection-pool.js';
import { GitDaemonTransport } from './daemon.js';
import { DEFAULT_HTTP_TIMEOUTS, HttpTransport, type HttpAuth, type HttpTimeouts } from './http.js';
import { LocalTransport } from './local.js';
import { RemoteHelperTransport } from './remote-helper.js';
import { SshTransport } from './ssh.js';
import type { Transport } from './transport.js';

/** How one side authenticates and connects over HTTP (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing"). */
export interface SideCredentials {
  /** Basic-auth password or personal access token. */
  token?: string | null;
  /** Basic-auth user name; `git` when a token is given without one. */
  username?: string | null;
  /** Sent as `Authorization: Bearer`; wins over basic. */
  bearerToken?: string | null;
  /**
   * Asked after the server answers 401 when no credentials are given above or in the URL.
   * Default: the user's git credential helpers (`git credential fill`); null: never.
   */
  credentialHelper?: CredentialProvider | null;
  insecureSkipTlsVerify?: boolean;
  /** After a redirected `info/refs`, send every later request to where it ended. */
  followInfoRefsRedirect?: boolean;
}

export interface OpenTransportOptions {
  side: Side;
  credentials?: SideCredentials;
  /** Where the bytes this transport moves are counted. */
  observer?: RunObserver;
  /**
   * No progress either way for this long (a whole packet from the server, bytes it took), while
   * waiting on the server, fails the request (TIMEOUT_IDLE); it also bounds connecting and waiting for response headers
   * (TIMEOUT_CONNECT, TIMEOUT_HEADERS). Absent: the HTTP defaults, no limit on stream transports.
   */
  idleMillis?: number;
  /** Finer HTTP timeouts; they win over `idleMillis`. */
  timeouts?: Partial<HttpTimeouts>;
  /** The most bytes one ref listing may take (default DEFAULT_MAX_REF_LISTING_BYTES). */
  maxRefListingBytes?: number;
  /**
   * Where proxy variables are read, and the environment of every process the transport starts
   * (ssh, git, a remote helper, `git credential`), less git-sync's own variables (auth/child-env.ts).
   * Default: this process's environment.
   */
  env?: NodeJS.ProcessEnv;
  /** HTTP(S) connections shared with other runs (connection-pool.ts); absent: the transport's own. */
  connectionPool?: ConnectionPool | null;
}

/** Bearer first, then a token (or a password embedded in the URL) as basic auth, else none. */
export function resolveHttpAuth(endpoint: Extract<Endpoint, { kind: 'http' }>, credentials: SideCredentials = {}): HttpAuth | null {
  if (credentials.bearerToken) return { kind: 'bearer', token: credentials.bearerToken };
  if (credentials.token) return { kind: 'basic', username: credentials.username || endpoint.username || 'git', password: credentials.token };
  if (endpoint.password !== null) return { kind: 'basic', username: endpoint.username ?? 'git', password: endpoint.password };
  return null;
}

export function openTransport(endpoint: Endpoint, options: OpenTransportOptions): Transport {
  switch (endpoint.kind) {
    case 'http': {
      const credentials = options.credentials ?? {};
      return new HttpTransport(endpoint.url, {
        side: options.side,
        displayUrl: endpoint.display,
        auth: resolveHttpAuth(endpoint, credentials),
        username: credentials.username || endpoint.username,
        credentialProvider: credentials.credentialHelper === undefined ? new GitCredentialHelper({ env: options.env }) : credentials.credentialHelper,
        insecureSkipTlsVerify: credentials.insecureSkipTlsVerify ?? false,
        followInfoRefsRedirect: credentials.followInfoRefsRedirect ?? false,
        proxyEnv: options.env,
        observer: options.observer,
        timeouts: { ...idleTimeouts(options.idleMillis), ...options.timeouts },
        maxRefListingBytes: options.maxRefListingBytes,
        connectionPool: options.connectionPool,
      });
    }
    case 'ssh':
      return new SshTransport(endpoint, streamOptions(options));
    case 'local':
      return new LocalTransport(endpoint, streamOptions(options));
    case 'git':
      return new GitDaemonTransport(endpoint, { observer: options.observer, side: options.side, idleMillis: options.idleMillis, connectTimeoutMillis: options.timeouts?.connectMillis ?? idleTimeouts(options.idleMillis).connectMillis });
    case 'helper':
      return new RemoteHelperTransport(endpoint, streamOptions(options));
  }
}

/** Connecting waits at most the default connect timeout, or the idle timeout when that is shorter. */
function idleTimeouts(idleMillis: number | undefined): Partial<HttpTimeouts> {
  if (idleMillis === undefined) return {};
  return { connectMillis: Math.min(idleMillis, DEFAULT_HTTP_TIMEOUTS.connectMillis), headersMillis: idleMillis, bodyIdleMillis: idleMillis };
}

function streamOptions(options: OpenTransportOptions): { observer?: RunObserver; side: Side; idleMillis?: number; maxRefListingBytes?: number; env?: NodeJS.ProcessEnv } {
  return { observer: options.observer, side: options.side, idleMillis: options.idleMillis, maxRefListingBytes: options.maxRefListingBytes, env: options.env };
}
