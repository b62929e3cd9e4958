/**
 * Which proxy a request goes through, read from the environment the way curl (and so git)
 * reads it. Pure: the caller passes the environment.
 *
 * - `https://` targets: `https_proxy`, then `HTTPS_PROXY`; `http://` targets: `http_proxy`,
 *   then `HTTP_PROXY`; either falls back to `all_proxy` / `ALL_PROXY`. A value without a scheme
 *   is an `http://` proxy. Only `http://` proxies are supported (no TLS to the proxy, no SOCKS).
 * - `no_proxy` / `NO_PROXY`: comma- or space-separated; `*` alone bypasses every host; a name
 *   matches itself and its subdomains (`example.com`, `.example.com` and `*.example.com` all
 *   match `git.example.com`); an IP address matches exactly, `10.0.0.0/8` by prefix;
 *   `host:port` (`[::1]:port`) only on that port.
 * - Loopback gets no special treatment, as in curl: with a proxy set, `127.0.0.1` goes through
 *   it unless `NO_PROXY` names it (`NO_PROXY=localhost,127.0.0.1,::1`).
 */
import net from 'node:net';
import { UnsupportedError, UsageError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';

export type ProxyEnv = Readonly<Record<string, string | undefined>>;

function firstSet(env: ProxyEnv, names: readonly string[]): string | null {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return null;
}

/** The proxy for a request to `target`, or null to connect directly. */
export function proxyFor(target: URL, env: ProxyEnv): URL | null {
  const names = target.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
  const raw = firstSet(env, names) ?? firstSet(env, ['all_proxy', 'ALL_PROXY']);
  if (raw === null) return null;
  if (bypassesProxy(target, firstSet(env, ['no_proxy', 'NO_PROXY']) ?? '')) return null;
  return parseProxyUrl(raw);
}

export function parseProxyUrl(raw: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid proxy URL ${JSON.stringify(redactUrl(text))} in the environment`);
  }
  if (url.protocol !== 'http:') {
    throw new UnsupportedError(`proxy ${redactUrl(text)}: only http:// proxies are supported (https:// targets are tunnelled through them with CONNECT)`);
  }
  return url;
}

function bareHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}

/** Whether `NO_PROXY` (its value) exempts `target` from the proxy. */
export function bypassesProxy(target: URL, noProxy: string): boolean {
  const host = bareHost(target.hostname);
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  const hostIsIp = net.isIP(host) !== 0;
  for (const item of noProxy.split(/[\s,]+/)) {
    let entry = item.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryPort: string | null = null;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    const withPort = /^([^:]+):(\d+)$/.exec(entry);
    if (bracketed) {
      entry = bracketed[1]!;
      entryPort = bracketed[2] ?? null;
    } else if (withPort) {
      entry = withPort[1]!;
      entryPort = withPort[2]!;
    }
    if (entryPort !== null && entryPort !== port) continue;
    entry = entry.replace(/^\*?\./, '').replace(/\.$/, '');
    if (entry === '') continue;
    if (entry.includes('/')) {
      if (hostIsIp && inSubnet(host, entry)) return true;
    } else if (host === entry || (!hostIsIp && host.endsWith(`.${entry}`))) {
      return true;
    }
  }
  return false;
}

function inSubnet(host: string, cidr: string): boolean {
  const [network, bits] = cidr.split('/');
  const family = net.isIP(network ?? '');
  const prefix = Number(bits);
  if (family === 0 || !/^\d+$/.test(bits ?? '') || prefix > (family === 4 ? 32 : 128)) return false;
  const list = new net.BlockList();
  list.addSubnet(network!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return list.check(host, net.isIP(host) === 4 ? 'ipv4' : 'ipv6');
}
