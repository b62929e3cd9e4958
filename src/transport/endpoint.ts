/**
 * Endpoint parsing (docs/usage.md, "Sources and targets"): what git accepts as a remote, classified by transport, and the
 * identity of the repository an endpoint names. The one URL grammar of the project: connecting
 * and telling two locations apart both start here. Pure: nothing here touches the network or
 * the file system (real paths of local repositories are the caller's: api/same-repository.ts).
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';

export type Endpoint =
  | { kind: 'http'; url: URL; username: string | null; password: string | null; display: string }
  | { kind: 'ssh'; host: string; user: string | null; port: number | null; path: string; display: string }
  | { kind: 'git'; host: string; port: number | null; path: string; display: string }
  | { kind: 'local'; path: string; display: string }
  /** `<scheme>://...` (the address is the whole URL) or `<scheme>::<address>` (git's helper syntax). */
  | { kind: 'helper'; scheme: string; address: string; display: string };

/**
 * A host, user or repository path that begins with `-` would reach ssh or the remote
 * `git-upload-pack`/`git-receive-pack` as an option; git blocks it as a "strange pathname", and
 * so does git-sync (docs/security.md, "git's own protocol rules").
 */
function refuseOption(what: string, value: string, raw: string): void {
  if (value.startsWith('-')) {
    throw new UsageError(`refusing ${what} ${JSON.stringify(value)} in ${JSON.stringify(redactUrl(raw))}: it begins with "-" and would be read as an option`);
  }
}

/** Percent-decodes a part of a URL; a malformed escape (`%zz`, a lone `%E0`) is a usage error. */
function decodePart(what: string, value: string, raw: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new UsageError(`invalid percent-encoding in the ${what} of ${JSON.stringify(redactUrl(raw))}`);
  }
}

function parsePort(value: string, raw: string): number | null {
  if (value === '') return null;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new UsageError(`invalid port ${JSON.stringify(value)} in ${JSON.stringify(redactUrl(raw))}`);
  }
  return port;
}

/** Parses a source or target as git would; relative local paths resolve against `cwd`. */
export function parseEndpoint(raw: string, cwd: string = process.cwd()): Endpoint {
  const text = raw.trim();
  if (text === '') throw new UsageError('empty repository URL or path');
  // `<transport>::<address>` names a remote helper before anything else is looked at, as in git.
  const helperPrefix = /^([a-zA-Z][a-zA-Z0-9+.-]*)::/.exec(text);
  if (helperPrefix !== null) {
    const address = text.slice(helperPrefix[0].length);
    if (address === '') throw new UsageError(`no address after ${JSON.stringify(helperPrefix[0])} in ${JSON.stringify(redactUrl(text))}`);
    return { kind: 'helper', scheme: helperPrefix[1]!.toLowerCase(), address, display: redactUrl(text) };
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();

  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError(`invalid URL ${JSON.stringify(redactUrl(text))}`);
    }
    const username = url.username === '' ? null : decodePart('user name', url.username, text);
    const password = url.password === '' ? null : decodePart('password', url.password, text);
    url.username = '';
    url.password = '';
    return { kind: 'http', url, username, password, display: redactUrl(text) };
  }
  if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git' || scheme === 'git') {
    const rest = text.slice(text.indexOf('://') + 3);
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const repoPath = slash < 0 ? '' : decodePart('path', rest.slice(slash), text);
    const at = authority.lastIndexOf('@');
    const user = at < 0 ? null : decodePart('user name', authority.slice(0, at), text);
    const hostPort = at < 0 ? authority : authority.slice(at + 1);
    const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(hostPort);
    const host = bracketed ? bracketed[1]! : hostPort.replace(/:\d*$/, '');
    const port = parsePort(bracketed ? bracketed[2] ?? '' : /:(\d*)$/.exec(hostPort)?.[1] ?? '', text);
    if (host === '') throw new UsageError(`no host in ${JSON.stringify(redactUrl(text))}`);
    if (repoPath === '' || repoPath === '/') throw new UsageError(`no repository path in ${JSON.stringify(redactUrl(text))}`);
    refuseOption('host', host, text);
    if (user !== null) refuseOption('user', user, text);
    if (scheme === 'git') {
      return { kind: 'git', host, port, path: repoPath, display: redactUrl(text) };
    }
    // `ssh://host/~user/repo` names a home-relative path, as git reads it.
    const sshPath = repoPath.startsWith('/~') ? repoPath.slice(1) : repoPath;
    refuseOption('repository path', sshPath, text);
    return { kind: 'ssh', host, user, port, path: sshPath, display: redactUrl(text) };
  }
  if (scheme === 'file') {
    let filePath: string;
    try {
      filePath = decodeURIComponent(new URL(text).pathname);
    } catch {
      throw new UsageError(`invalid file URL ${JSON.stringify(text)}`);
    }
    return { kind: 'local', path: path.resolve(filePath), display: text };
  }
  if (scheme !== undefined) {
    return { kind: 'helper', scheme, address: text, display: redactUrl(text) };
  }
  const scp = parseScpLike(text);
  if (scp !== null) return scp;
  return { kind: 'local', path: path.resolve(cwd, text), display: text };
}

/**
 * scp-like `[user@]host:path`, as git decides (connect.c): a colon before any slash (a path with
 * a slash before its first colon is local). The host may be bracketed, which also lets it carry
 * a port: `[::1]:repo`, `user@[host:2222]:repo`, `[user@host:2222]:repo`.
 */
function parseScpLike(text: string): Endpoint | null {
  if (/^[a-zA-Z]:[\\/]/.test(text)) return null; // a Windows drive path
  const bracket = text.startsWith('[') ? 0 : /^[^/:@[\]]*@\[/.test(text) ? text.indexOf('[') : -1;
  const close = bracket >= 0 ? text.indexOf(']', bracket) : -1;
  let user: string | null = null;
  let host: string;
  let port: number | null = null;
  let repoPath: string;
  if (close > 0 && text[close + 1] === ':') {
    if (bracket > 0) user = text.slice(0, bracket - 1);
    let inner = text.slice(bracket + 1, close);
    // `[user@host:port]` puts the user inside the brackets.
    const innerAt = inner.lastIndexOf('@');
    if (innerAt >= 0 && user === null) {
      user = inner.slice(0, innerAt);
      inner = inner.slice(innerAt + 1);
    }
    // One colon inside: host and port; several: an IPv6 address.
    const colons = inner.split(':').length - 1;
    if (colons === 1) {
      const [h, p] = inner.split(':') as [string, string];
      host = h;
      port = parsePort(p, text);
    } else {
      host = inner;
    }
    repoPath = text.slice(close + 2);
  } else {
    const colon = text.indexOf(':');
    const firstSlash = text.indexOf('/');
    if (colon <= 0 || (firstSlash >= 0 && firstSlash < colon)) return null;
    const authority = text.slice(0, colon);
    const at = authority.lastIndexOf('@');
    user = at < 0 ? null : authority.slice(0, at);
    host = at < 0 ? authority : authority.slice(at + 1);
    repoPath = text.slice(colon + 1);
  }
  if (host === '') throw new UsageError(`no host in ${JSON.stringify(text)}`);
  if (repoPath === '') throw new UsageError(`no repository path in ${JSON.stringify(text)}`);
  refuseOption('host', host, text);
  refuseOption('repository path', repoPath, text);
  if (user !== null) refuseOption('user', user, text);
  return { kind: 'ssh', host, user: user === '' ? null : user, port, path: repoPath, display: text };
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ssh: 22, git: 9418 };

/** A remote path compared as servers serve it: dot segments, doubled and trailing slashes, a trailing `.git` do not matter. */
function remotePath(repoPath: string): string {
  let normalized = path.posix.normalize(repoPath.startsWith('/') || repoPath.startsWith('~') ? repoPath : `/${repoPath}`);
  normalized = normalized.replace(/\/+$/, '').replace(/\.git$/, '').replace(/\/+$/, '');
  return normalized === '' ? '/' : normalized;
}

function hostPart(scheme: string, host: string, port: number | null): string {
  const bare = host.toLowerCase().replace(/\.$/, '');
  const shown = bare.includes(':') ? `[${bare}]` : bare;
  return port === null || port === DEFAULT_PORTS[scheme] ? `${scheme}://${shown}` : `${scheme}://${shown}:${port}`;
}

/**
 * The identity of the repository an endpoint names, for telling a source and a target apart:
 * scheme (scp-like and `git+ssh` are `ssh`), host in lowercase, port unless the default, and the
 * path; never credentials or user names. A local endpoint is `file://` and its path exactly
 * (two directories are one repository only when their real paths are: pass the real path in).
 * The same host over two schemes counts as two repositories (https and ssh often serve different
 * path layouts).
 */
export function endpointIdentity(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case 'http': {
      let decoded: string;
      try {
        decoded = decodeURIComponent(endpoint.url.pathname);
      } catch {
        decoded = endpoint.url.pathname;
      }
      const port = endpoint.url.port === '' ? null : Number(endpoint.url.port);
      return `${hostPart(endpoint.url.protocol.replace(/:$/, ''), endpoint.url.hostname.replace(/^\[(.*)\]$/, '$1'), port)}${remotePath(decoded)}`;
    }
    case 'ssh':
      return `${hostPart('ssh', endpoint.host, endpoint.port)}${remotePath(endpoint.path)}`;
    case 'git':
      return `${hostPart('git', endpoint.host, endpoint.port)}${remotePath(endpoint.path)}`;
    case 'local':
      return `file://${endpoint.path}`;
    case 'helper': {
      const url = `${endpoint.scheme}://`;
      return `${endpoint.scheme}::${endpoint.address.toLowerCase().startsWith(url) ? endpoint.address.slice(url.length) : endpoint.address}`;
    }
  }
}
