/**
 * Flags that shape a plan, checked together before any network traffic. Every refusal is a
 * UsageError naming the conflict and the way out.
 */

import { UsageError } from '../errors.js';
import { resolveScope, type RefScope, type ScopeFlags } from './ref-scope.js';
import { DEFAULT_MAX_DELETES, type DeletionGuard } from './safety-guards.js';

/** `sync` (and `plan`) follows safely; `replicate` overwrites; `bootstrap` only creates. */
export type SyncMode = 'sync' | 'replicate' | 'bootstrap';

/** How non-fast-forward branch updates and tag/other retargets are allowed. */
export type ForcePolicy = 'none' | 'lease' | 'blind';

export interface PlanFlags extends ScopeFlags {
  mode: SyncMode;
  prune?: boolean | undefined;
  forceWithLease?: boolean | undefined;
  forceBlind?: boolean | undefined;
  /** Most managed refs one run may delete (default DEFAULT_MAX_DELETES). */
  maxDeletes?: number | undefined;
  allowEmptySource?: boolean | undefined;
}

export interface PlanPolicy {
  mode: SyncMode;
  scope: RefScope;
  prune: boolean;
  force: ForcePolicy;
  /** `--all-refs` on sync/bootstrap: a ref the target rejects becomes a warning, not a failure. */
  bestEffort: boolean;
  deletionGuard: DeletionGuard;
}

export function resolvePlanPolicy(flags: PlanFlags): PlanPolicy {
  if (flags.forceWithLease === true && flags.forceBlind === true) {
    throw new UsageError('--force-with-lease and --force-blind are exclusive; pass one (--force-with-lease is the safe choice)');
  }
  const force: ForcePolicy = flags.forceWithLease === true ? 'lease' : flags.forceBlind === true ? 'blind' : 'none';
  const prune = flags.prune === true;
  const maxDeletes = flags.maxDeletes ?? DEFAULT_MAX_DELETES;
  if (!Number.isInteger(maxDeletes) || maxDeletes < 0) {
    throw new UsageError(`--max-deletes takes a whole number of refs, 0 or more (got ${String(flags.maxDeletes)})`);
  }
  if (flags.mode === 'replicate' && force !== 'none') {
    throw new UsageError(
      `--${force === 'lease' ? 'force-with-lease' : 'force-blind'} does not apply to replicate, which overwrites every differing ref anyway; drop it, or use sync with it`,
    );
  }
  if (flags.mode === 'bootstrap') {
    if (prune) throw new UsageError('--prune does not apply to bootstrap, which only creates refs; use sync --prune');
    if (force !== 'none') {
      throw new UsageError(
        `--${force === 'lease' ? 'force-with-lease' : 'force-blind'} does not apply to bootstrap, which only creates refs; use sync with it`,
      );
    }
  }
  const scope = resolveScope(flags);
  return {
    mode: flags.mode,
    scope,
    prune,
    force,
    bestEffort: scope.allRefs && flags.mode !== 'replicate',
    deletionGuard: { maxDeletes, allowEmptySource: flags.allowEmptySource === true },
  };
}
