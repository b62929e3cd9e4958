/**
 * Checks that keep a mistake from reaching the target (docs/usage.md, "Safety guards"):
 *
 * - **Names the source does not have.** `--branch nope` or `--map refs/heads/nope:x` used to plan
 *   nothing and succeed; a name the user gave that the source does not list is an error naming it.
 * - **An empty source never empties the mirror.** A source that lists no managed refs at all is
 *   almost always a wrong URL, a permission change or a broken host: every delete it would cause
 *   is blocked, unless the user says the source really is empty (`--allow-empty-source`).
 * - **A bounded number of deletes.** A run that would delete more than `maxDeletes` managed refs
 *   (default 100) has every delete blocked; raise the bound to let it through.
 *
 * A blocked delete blocks the run: sync, replicate and bootstrap push nothing and exit 3, and
 * plan shows each blocked ref with the reason.
 */

import type { Ref, RefName } from '../types.js';
import type { RefPlan } from './plan-types.js';
import { BRANCH_PREFIX } from './ref-kind.js';
import { targetNameFor, type RefScope } from './ref-scope.js';

/** Deletes one run may make unless told otherwise. */
export const DEFAULT_MAX_DELETES = 100;

export interface DeletionGuard {
  /** Most managed refs one run may delete; more blocks every delete. */
  maxDeletes: number;
  /** The source may really list no managed refs: its deletes are not blocked for that reason. */
  allowEmptySource: boolean;
}

/** A name the user gave (`--branch`, `--map` source) that the source's listing does not hold. */
export interface MissingSourceRef {
  /** How the user named it: `--branch dev` or `--map 'main:stable'`. */
  given: string;
  ref: RefName;
}

/** The names the user gave explicitly that the source does not have, in the order given. */
export function missingSourceRefs(scope: RefScope, sourceRefs: readonly Ref[]): MissingSourceRef[] {
  // Nothing named (all branches, no --map): no set of thousands of names to build.
  if (!Array.isArray(scope.branches) && scope.maps.length === 0) return [];
  const listed = new Set(sourceRefs.map((ref) => ref.name));
  const missing: MissingSourceRef[] = [];
  if (Array.isArray(scope.branches)) {
    for (const ref of scope.branches as readonly RefName[]) {
      if (!listed.has(ref)) missing.push({ given: `--branch ${ref.slice(BRANCH_PREFIX.length)}`, ref });
    }
  }
  for (const mapping of scope.maps) {
    if (!listed.has(mapping.source)) missing.push({ given: `--map '${mapping.spec}'`, ref: mapping.source });
  }
  return missing;
}

/** How many source refs the scope manages. */
export function managedSourceCount(scope: RefScope, sourceRefs: readonly Ref[]): number {
  let count = 0;
  for (const ref of sourceRefs) if (targetNameFor(scope, ref.name) !== null) count += 1;
  return count;
}

/** Why a guard blocks a delete. */
export const guardReasons = {
  emptySource: (): string =>
    'the source lists no managed refs, so this delete would empty the mirror; check the source URL and access, or pass --allow-empty-source if it is really empty',
  tooManyDeletes: (count: number, max: number): string =>
    `the run would delete ${count} refs, more than --max-deletes ${max}; check the source, or raise --max-deletes to allow it`,
};

/** Which deletion guard tripped, if any. */
export type TrippedGuard = 'empty-source' | 'max-deletes' | null;

/**
 * The plans with every delete turned into a block when a guard trips: the source lists no
 * managed refs (and that is not allowed), or the deletes outnumber `maxDeletes`. `sourceManaged`
 * (managedSourceCount) may be given as a function: it is then counted only when there is a
 * delete to guard, which a no-op over thousands of refs does not have.
 */
export function guardDeletions(plans: readonly RefPlan[], guard: DeletionGuard, sourceManaged: number | (() => number)): { plans: RefPlan[]; tripped: TrippedGuard } {
  let deletes = 0;
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  for (let i = 0; i < plans.length; i++) if (plans[i]!.action === 'delete') deletes += 1;
  let tripped: TrippedGuard = null;
  const noneManaged = (): boolean => (typeof sourceManaged === 'number' ? sourceManaged : sourceManaged()) === 0;
  if (deletes > 0 && !guard.allowEmptySource && noneManaged()) tripped = 'empty-source';
  else if (deletes > guard.maxDeletes) tripped = 'max-deletes';
  if (tripped === null) return { plans: [...plans], tripped };
  const reason = tripped === 'empty-source' ? guardReasons.emptySource() : guardReasons.tooManyDeletes(deletes, guard.maxDeletes);
  return { plans: plans.map((plan): RefPlan => (plan.action === 'delete' ? { ...plan, action: 'block', reason } : plan)), tripped };
}
