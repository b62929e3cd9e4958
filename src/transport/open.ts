/** Chooses the transport for an endpoint (CONTRACT §1) and applies the side's credentials. */
import { UnsupportedError } from '../errors.js';
import type { StatsRecorder, Side } from '../observe/stats.js';
import type { Endpoint } from './endpoint.js';
import { HttpTransport, type HttpAuth, type HttpTimeouts } from './http.js';
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
        auth: resolveHttpAuth(endpoint, options.credentials),
        insecureSkipTlsVerify: options.credentials?.insecureSkipTlsVerify ?? false,
        stats: options.stats,
        timeouts: options.timeouts,
      });
    default:
      throw new UnsupportedError(`${endpoint.display}: the ${endpoint.kind} transport is not available in this version of git-sync; use an http(s) URL`);
  }
}
