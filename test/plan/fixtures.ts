/** Small builders for planner tests: readable hashes and ref listings. */

import type { Oid, Ref } from '../../src/types.js';
import { resolvePlanPolicy, type PlanFlags } from '../../src/plan/plan-policy.js';
import type { PlanInput } from '../../src/plan/plan-types.js';

/** A full 40-hex object id starting with `prefix` (8 hex digits keep short hashes readable). */
export function oid(prefix: string): Oid {
  return prefix.padEnd(40, '0') as Oid;
}

export const A = oid('1a2b3c4d');
export const B = oid('5e6f7a8b');
export const C = oid('9c9c9c9c');
export const D = oid('d0d0d0d0');
export const E = oid('eeeeeeee');

export function ref(name: string, hash: Oid, peeled: Oid | null = null): Ref {
  return { name, hash, peeled };
}

/** `{ 'refs/heads/main': A }` -> refs. */
export function refs(listing: Record<string, Oid>): Ref[] {
  return Object.entries(listing).map(([name, hash]) => ref(name, hash));
}

export function input(flags: PlanFlags, source: Record<string, Oid> | Ref[], target: Record<string, Oid> | Ref[]): PlanInput {
  const policy = resolvePlanPolicy(flags);
  return {
    mode: policy.mode,
    scope: policy.scope,
    prune: policy.prune,
    force: policy.force,
    sourceRefs: Array.isArray(source) ? source : refs(source),
    targetRefs: Array.isArray(target) ? target : refs(target),
  };
}
