/**
 * The hosts a mirror's run talks to, as the per-host limit counts them (docs/fleet.md,
 * "Distributed workers"): the same hosts `fleet run` limits (host-limiter.ts, `hostOf`), its
 * source's and each target's, once each. Local paths touch no host and are not limited.
 */
import { hostOf } from '../host-limiter.js';
import type { MirrorSpec } from '../manifest.js';

export function mirrorHosts(spec: MirrorSpec): string[] {
  const hosts = [spec.source, ...spec.targets].map(hostOf).filter((host): host is string => host !== null);
  return [...new Set(hosts)].sort();
}
