/**
 * The hosts a mirror's run talks to, as the per-host limit counts them (docs/fleet.md,
 * "Distributed workers"): the host (and port, when not the default) of its source and of each
 * target, once each. Local paths and remote helpers touch no network host and are not limited.
 */
import { parseEndpoint } from '../../transport/endpoint.js';
import type { MirrorSpec } from '../manifest.js';

export function endpointHost(url: string, cwd: string): string | null {
  const endpoint = parseEndpoint(url, cwd);
  switch (endpoint.kind) {
    case 'http':
      return endpoint.url.host.toLowerCase();
    case 'ssh':
    case 'git':
      return `${endpoint.host.toLowerCase()}${endpoint.port === null ? '' : `:${endpoint.port}`}`;
    case 'local':
    case 'helper':
      return null;
  }
}

export function mirrorHosts(spec: MirrorSpec): string[] {
  const hosts = [spec.source, ...spec.targets].map((url) => endpointHost(url, spec.cwd)).filter((host): host is string => host !== null);
  return [...new Set(hosts)].sort();
}
