/**
 * Which relay a plan needs (docs/architecture.md, "One run", docs/architecture.md, "Relay choices"), decided from the plans and the
 * target's listing alone. Checked in this order:
 *
 * | condition                                                        | relayMode            | relayReason                 |
 * |------------------------------------------------------------------|----------------------|-----------------------------|
 * | any `block`                                                      | none                 | blocked-refs                |
 * | no create, update or delete                                      | none                 | nothing-to-push             |
 * | only deletes                                                     | ref-only             | deletes-only                |
 * | deletes, and creates/updates to objects the target already has  | ref-only             | objects-on-target           |
 * | replicate, checkpoints `refs/gitsync/bootstrap/*` on the target  | replicate-batch      | resume-checkpoints          |
 * | replicate with a target body limit                               | replicate-batch      | target-body-limit           |
 * | replicate                                                        | replicate            | replicate-differences       |
 * | bootstrap, or sync with every managed target ref absent:         |                      |                             |
 * |   checkpoints `refs/gitsync/bootstrap/*` on the target           | bootstrap-batch      | resume-checkpoints          |
 * |   a target body limit is set                                     | bootstrap-batch      | target-body-limit           |
 * |   otherwise                                                      | bootstrap            | empty-target-managed-refs   |
 * | sync with a target body limit                                    | incremental-batch    | target-body-limit           |
 * | sync with a forced update                                        | incremental          | forced-updates              |
 * | sync otherwise                                                   | incremental          | fast-forward-and-creates    |
 *
 * "Objects the target already has" are its tips and their peeled values: the only objects whose
 * presence the listing proves. `warn` plans (added after a push) are ignored. `bootstrapSuggested`
 * is true only when a pack is relayed and no managed target ref exists.
 */

import type { Oid, Ref } from '../types.js';
import { hasBootstrapCheckpoints } from './checkpoints.js';
import type { SyncMode } from './plan-policy.js';
import { isPushPlan, type RefPlan } from './plan-types.js';

export type RelayMode =
  | 'bootstrap'
  | 'bootstrap-batch'
  | 'incremental'
  | 'incremental-batch'
  | 'replicate'
  | 'replicate-batch'
  | 'ref-only'
  | 'none';

export type RelayReason =
  | 'blocked-refs'
  | 'nothing-to-push'
  | 'deletes-only'
  | 'objects-on-target'
  | 'replicate-differences'
  | 'resume-checkpoints'
  | 'target-body-limit'
  | 'empty-target-managed-refs'
  | 'forced-updates'
  | 'fast-forward-and-creates';

export interface RelayChoice {
  /** True when a source pack is fetched and streamed into the target. */
  relay: boolean;
  relayMode: RelayMode;
  relayReason: RelayReason;
  /**
   * A pack must be relayed and every managed target ref is absent: a bootstrap fits (sync and
   * bootstrap do one; for replicate it is advice, e.g. to seed a large repository in batches).
   */
  bootstrapSuggested: boolean;
}

export interface RelayChoiceInput {
  mode: SyncMode;
  plans: readonly RefPlan[];
  targetRefs: readonly Ref[];
  /** `--target-max-pack-bytes`; null or absent when no limit was given. */
  targetMaxPackBytes?: number | null | undefined;
}

/** Target tips and their peeled values. */
export function targetObjectHashes(targetRefs: readonly Ref[]): Set<Oid> {
  const hashes = new Set<Oid>();
  for (const ref of targetRefs) {
    hashes.add(ref.hash);
    if (ref.peeled !== null) hashes.add(ref.peeled);
  }
  return hashes;
}

function choice(relayMode: RelayMode, relayReason: RelayReason, bootstrapSuggested: boolean): RelayChoice {
  const relay = relayMode !== 'none' && relayMode !== 'ref-only';
  return { relay, relayMode, relayReason, bootstrapSuggested };
}

export function chooseRelay(input: RelayChoiceInput): RelayChoice {
  const { mode, plans } = input;
  const pushes = plans.filter(isPushPlan);
  if (plans.some((plan) => plan.action === 'block')) return choice('none', 'blocked-refs', false);
  if (pushes.length === 0) return choice('none', 'nothing-to-push', false);
  if (pushes.every((plan) => plan.action === 'delete')) return choice('ref-only', 'deletes-only', false);
  const present = targetObjectHashes(input.targetRefs);
  if (pushes.every((plan) => plan.sourceHash === null || present.has(plan.sourceHash))) {
    return choice('ref-only', 'objects-on-target', false);
  }
  const bootstrapSuggested = plans.every((plan) => plan.targetHash === null);
  const limited = input.targetMaxPackBytes !== undefined && input.targetMaxPackBytes !== null;
  if (mode === 'replicate') {
    if (hasBootstrapCheckpoints(input.targetRefs)) return choice('replicate-batch', 'resume-checkpoints', bootstrapSuggested);
    if (limited) return choice('replicate-batch', 'target-body-limit', bootstrapSuggested);
    return choice('replicate', 'replicate-differences', bootstrapSuggested);
  }
  if (mode === 'bootstrap' || bootstrapSuggested) {
    if (hasBootstrapCheckpoints(input.targetRefs)) return choice('bootstrap-batch', 'resume-checkpoints', bootstrapSuggested);
    if (limited) return choice('bootstrap-batch', 'target-body-limit', bootstrapSuggested);
    return choice('bootstrap', 'empty-target-managed-refs', bootstrapSuggested);
  }
  if (limited) return choice('incremental-batch', 'target-body-limit', bootstrapSuggested);
  if (pushes.some((plan) => plan.forced)) return choice('incremental', 'forced-updates', bootstrapSuggested);
  return choice('incremental', 'fast-forward-and-creates', bootstrapSuggested);
}
