/**
 * Endpoint parsing (CONTRACT §1): what git accepts as a remote, classified by transport. Pure:
 * nothing here touches the network or the file system.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';

export type Endpoint =
  | { kind: 'http'; url: URL; username: string | null; password: string | null; display: string }
  | { kind: 'ssh'; host: string; user: string | null; port: number | null; path: string; display: string }
  | { kind: 'git'; host: string; port: number | null; path: string; display: string }
  | { kind: 'local'; path: string; display: string }
  | { kind: 'helper'; scheme: string; address: string; display: string };

function refuseOption(what: string, value: string, raw: string): void {
  if (value.startsWith('-')) {
    throw new UsageError(`refusing ${what} ${JSON.stringify(value)} in ${JSON.stringify(redactUrl(raw))}: it begins with "-" and would be read as an option`);
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
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();

  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError(`invalid URL ${JSON.stringify(redactUrl(text))}`);
    }
    const username = url.username === '' ? null : decodeURIComponent(url.username);
    const password = url.password === '' ? null : decodeURIComponent(url.password);
    url.username = '';
    url.password = '';
    return { kind: 'http', url, username, password, display: redactUrl(text) };
  }
  if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git' || scheme === 'git') {
    const rest = text.slice(text.indexOf('://') + 3);
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const repoPath = slash < 0 ? '' : decodeURIComponent(rest.slice(slash));
    const at = authority.lastIndexOf('@');
    const user = at < 0 ? null : decodeURIComponent(authority.slice(0, at));
    const hostPort = at < 0 ? authority : authority.slice(at + 1);
    const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(hostPort);
    const host = bracketed ? bracketed[1]! : hostPort.replace(/:\d*$/, '');
    const port = parsePort(bracketed ? bracketed[2] ?? '' : /:(\d*)$/.exec(hostPort)?.[1] ?? '', text);
    if (host === '') throw new UsageError(`no host in ${JSON.stringify(redactUrl(text))}`);
    if (repoPath === '' || repoPath === '/') throw new UsageError(`no repository path in ${JSON.stringify(redactUrl(text))}`);
    refuseOption('host', host, text);
    if (user !== null) refuseOption('user', user, text);
    if (scheme === 'git') {
      return { kind: 'git', host, port, path: repoPath, display: text };
    }
    // `ssh://host/~user/repo` names a home-relative path, as git reads it.
    const sshPath = repoPath.startsWith('/~') ? repoPath.slice(1) : repoPath;
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
  // scp-like `[user@]host:path`: a colon before any slash, as git decides (a path with a slash
  // before the first colon is local).
  const colon = text.indexOf(':');
  const firstSlash = text.indexOf('/');
  if (colon > 0 && (firstSlash < 0 || colon < firstSlash) && !/^[a-zA-Z]:[\\/]/.test(text)) {
    const authority = text.slice(0, colon);
    const repoPath = text.slice(colon + 1);
    const at = authority.lastIndexOf('@');
    const user = at < 0 ? null : authority.slice(0, at);
    const host = (at < 0 ? authority : authority.slice(at + 1)).replace(/^\[(.*)\]$/, '$1');
    if (host === '') throw new UsageError(`no host in ${JSON.stringify(text)}`);
    if (repoPath === '') throw new UsageError(`no repository path in ${JSON.stringify(text)}`);
    refuseOption('host', host, text);
    if (user !== null) refuseOption('user', user, text);
    return { kind: 'ssh', host, user, port: null, path: repoPath, display: text };
  }
  return { kind: 'local', path: path.resolve(cwd, text), display: text };
}
