/**
 * Chooses the transport for an endpoint (CONTRACT §1) and applies the side's credentials (HTTP
 * only: ssh brings its own keys, local paths and git:// need none, helpers do their own).
 */
import type { StatsRecorder, Side } from '../observe/stats.js';
import type { Endpoint } from './endpoint.js';
import { GitDaemonTransport } from './daemon.js';
import { HttpTransport, type HttpAuth, type HttpTimeouts } from './http.js';
import { LocalTransport } from './local.js';
import { RemoteHelperTransport } from './remote-helper.js';
import { SshTransport } from './ssh.js';
import type { Transport } from './transport.js';

export interface SideCredentials {
  /** Basic-auth password or personal access token. */
  token?: string | null;
  /** Basic-auth user name; `git` when a token is given without one. */
  username?: string | null;
  /** Sent as `Authorization: Bearer`; wins over basic. */
  bearerToken?: string | null;
  insecureSkipTlsVerify?: boolean;
}

export interface OpenTransportOptions {
  side: Side;
  credentials?: SideCredentials;
  stats?: StatsRecorder;
  timeouts?: Partial<HttpTimeouts>;
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
    case 'http':
      return new HttpTransport(endpoint.url, {
        side: options.side,
        displayUrl: endpoint.display,
        auth: resolveHttpAuth(endpoint, options.credentials),
        insecureSkipTlsVerify: options.credentials?.insecureSkipTlsVerify ?? false,
        stats: options.stats,
        timeouts: options.timeouts,
      });
    case 'ssh':
      return new SshTransport(endpoint, { stats: options.stats });
    case 'local':
      return new LocalTransport(endpoint, { stats: options.stats });
    case 'git':
      return new GitDaemonTransport(endpoint, { stats: options.stats, connectTimeoutMillis: options.timeouts?.connectMillis });
    case 'helper':
      return new RemoteHelperTransport(endpoint, { stats: options.stats });
  }
}
