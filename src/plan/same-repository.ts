/**
 * Whether a source and a target name the same repository, decided from the two strings alone
 * (CONTRACT §1: refused before any network traffic).
 *
 * Each location is reduced to an identity: the scheme (`git+ssh`, `ssh+git` and scp-like
 * `[user@]host:path` all count as `ssh`), the host in lowercase, the port unless it is the
 * scheme's default, and the path with dot segments resolved, duplicate and trailing slashes,
 * a trailing `.git` and `/.git` removed. Credentials and user names are ignored. Local paths and
 * `file://` URLs are resolved against `cwd`. A `<transport>::<address>` location is compared as
 * written, the transport name aside.
 *
 * Deliberately not done, because they would need I/O or guesses: following symlinks, treating
 * the same host reached over two schemes (https and ssh serve different path layouts on many
 * servers) or paths differing only in case as the same repository.
 */

import { posix } from 'node:path';
import { UsageError } from '../errors.js';

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443', ssh: '22', git: '9418' };
const SCHEME_ALIASES: Readonly<Record<string, string>> = { 'git+ssh': 'ssh', 'ssh+git': 'ssh' };
const URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;
/** git's `<transport>::<address>` remote-helper form: the address is opaque to us. */
const HELPER_RE = /^([A-Za-z][A-Za-z0-9+.-]*)::(.*)$/s;

function decodePercent(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function normalizePath(path: string): string {
  let normalized = posix.normalize(path.startsWith('/') ? path : `/${path}`);
  normalized = normalized.replace(/\/+$/, '');
  normalized = normalized.replace(/\.git$/, '').replace(/\/+$/, '');
  return normalized === '' ? '/' : normalized;
}

function hostIdentity(scheme: string, host: string, port: string): string {
  const bare = host.toLowerCase().replace(/\.$/, '');
  const shownHost = bare.includes(':') ? `[${bare}]` : bare;
  const effectivePort = port === '' ? '' : String(Number(port));
  const shownPort = effectivePort === '' || effectivePort === DEFAULT_PORTS[scheme] ? '' : `:${effectivePort}`;
  return `${scheme}://${shownHost}${shownPort}`;
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, credentials already removed. */
function splitHostPort(hostPort: string): { host: string; port: string } {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    const rest = close < 0 ? '' : hostPort.slice(close + 1);
    return { host: hostPort.slice(1, close < 0 ? undefined : close), port: rest.startsWith(':') ? rest.slice(1) : '' };
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon >= 0 && hostPort.indexOf(':') === colon && /^\d*$/.test(hostPort.slice(colon + 1))) {
    return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
  }
  return { host: hostPort, port: '' };
}

function localIdentity(path: string, cwd: string): string {
  return `file://${normalizePath(posix.resolve('/', cwd, path))}`;
}

function urlIdentity(rawScheme: string, rest: string, cwd: string): string {
  const lower = rawScheme.toLowerCase();
  const scheme = SCHEME_ALIASES[lower] ?? lower;
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = decodePercent(slash < 0 ? '/' : rest.slice(slash));
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (scheme === 'file' && (hostPort === '' || hostPort.toLowerCase() === 'localhost')) return localIdentity(path, cwd);
  const { host, port } = splitHostPort(hostPort);
  return `${hostIdentity(scheme, host, port)}${normalizePath(path)}`;
}

/**
 * git's rule (connect.c): a location with a `:` and no `/` before it is scp-like ssh, with the
 * host optionally in brackets (`[::1]:repo`, `user@[host:2222]:repo`).
 */
function scpIdentity(location: string): string | null {
  const colon = location.indexOf(':');
  const slash = location.indexOf('/');
  if (colon < 0 || (slash >= 0 && slash < colon)) return null;
  const at = location.indexOf('@');
  const bracket = location.startsWith('[') ? 0 : at >= 0 && location[at + 1] === '[' ? at + 1 : -1;
  const close = bracket >= 0 ? location.indexOf(']', bracket) : -1;
  let hostPart: string;
  let path: string;
  let port = '';
  if (close >= 0 && location[close + 1] === ':') {
    const inner = location.slice(bracket + 1, close);
    const innerColons = inner.split(':').length - 1;
    ({ host: hostPart, port } = innerColons === 1 ? splitHostPort(inner) : { host: inner, port: '' });
    path = location.slice(close + 2);
  } else {
    hostPart = location.slice(location.lastIndexOf('@', colon) + 1, colon);
    path = location.slice(colon + 1);
  }
  return `${hostIdentity('ssh', hostPart, port)}${normalizePath(path)}`;
}

/** The comparable identity of a source or target location; never contains credentials. */
export function repositoryIdentity(location: string, cwd: string): string {
  const url = URL_RE.exec(location);
  if (url !== null) return urlIdentity(url[1] ?? '', url[2] ?? '', cwd);
  const helper = HELPER_RE.exec(location);
  if (helper !== null) return `${(helper[1] ?? '').toLowerCase()}::${helper[2] ?? ''}`;
  return scpIdentity(location) ?? localIdentity(location, cwd);
}

export function sameRepository(a: string, b: string, cwd: string): boolean {
  return repositoryIdentity(a, cwd) === repositoryIdentity(b, cwd);
}

export function assertDifferentRepositories(source: string, target: string, cwd: string): void {
  if (sameRepository(source, target, cwd)) {
    throw new UsageError(
      `source and target are the same repository (${repositoryIdentity(source, cwd)}); pass two different repositories`,
    );
  }
}
