/** Hand-built plans for tests of the execution layer (the planner's own tests are in test/plan/). */
import type { CreatePlan, DeletePlan, UpdatePlan } from '../../src/plan/plan-types.js';
import type { Oid } from '../../src/types.js';

function branchOf(ref: string): string | null {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
}

function kindOf(ref: string): 'branch' | 'tag' | 'other' {
  return ref.startsWith('refs/heads/') ? 'branch' : ref.startsWith('refs/tags/') ? 'tag' : 'other';
}

export function createPlan(ref: string, hash: string): CreatePlan {
  return { branch: branchOf(ref), sourceRef: ref, targetRef: ref, kind: kindOf(ref), action: 'create', reason: 'absent on target', sourceHash: hash as Oid, targetHash: null, forced: false };
}

export function updatePlan(ref: string, from: string, to: string, forced = false): UpdatePlan {
  return { branch: branchOf(ref), sourceRef: ref, targetRef: ref, kind: kindOf(ref), action: 'update', reason: forced ? 'forced' : 'fast-forward', sourceHash: to as Oid, targetHash: from as Oid, forced };
}

export function deletePlan(ref: string, hash: string): DeletePlan {
  return { branch: branchOf(ref), sourceRef: null, targetRef: ref, kind: kindOf(ref), action: 'delete', reason: 'gone from source', sourceHash: null, targetHash: hash as Oid, forced: false };
}
