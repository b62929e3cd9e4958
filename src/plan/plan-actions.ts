/**
 * Phase two of planning: one action per managed target ref (docs/usage.md, "How each ref is decided"), given the ancestry
 * answers for the questions ancestryQuestions asked.
 *
 * - sync: skip / create / fast-forward update; a non-fast-forward branch or a differing tag or
 *   other ref blocks unless a force policy allows it (then `update` with `forced: true`);
 *   in-scope target refs gone from the source are deleted only with `--prune`.
 * - replicate: never blocks. A differing branch is a plain update when it fast-forwards, a forced
 *   one otherwise, and also when its ancestry was not asked (overwriting is the point of
 *   replicate, so an unanswered question only costs accuracy of the `forced` flag).
 * - bootstrap: create only. Any managed ref already on the target is a `block` (so the run is
 *   refused with every offending ref listed), except that while resuming its own batches
 *   (`refs/gitsync/bootstrap/*` present) a target ref already equal to the source is a `skip`.
 */

import type { Ref, RefName } from '../types.js';
import {
  needsAncestry,
  type AncestryAnswer,
  type AncestryOracle,
  type BothSides,
} from './ancestry-questions.js';
import { hasBootstrapCheckpoints } from './checkpoints.js';
import type { PlanInput, RefPlan } from './plan-types.js';
import { reasons } from './reasons.js';
import { refKind, shortBranchName } from './ref-kind.js';
import { pairRefs, type RefPair } from './ref-pairs.js';

export interface PlanActionsInput extends PlanInput {
  /** Required in sync without a force flag whenever ancestryQuestions returned anything. */
  ancestry?: AncestryOracle | undefined;
}

// Each plan names its branch and kind from its target ref; the builders take the name itself,
// not an object of the three made per pair (10,000 of them on a no-op of 10,000 refs).

function create(targetRef: RefName, source: Ref): RefPlan {
  return {
    branch: shortBranchName(targetRef), sourceRef: source.name, targetRef, sourceHash: source.hash, targetHash: null,
    kind: refKind(targetRef), action: 'create', reason: reasons.created(source.hash), forced: false,
  };
}

function skip(targetRef: RefName, source: Ref, target: Ref): RefPlan {
  return {
    branch: shortBranchName(targetRef), sourceRef: source.name, targetRef, sourceHash: source.hash, targetHash: target.hash,
    kind: refKind(targetRef), action: 'skip', reason: reasons.current(source.hash), forced: false,
  };
}

function update(targetRef: RefName, source: Ref, target: Ref, forced: boolean): RefPlan {
  const reason = forced ? reasons.forced(target.hash, source.hash) : reasons.moved(target.hash, source.hash);
  return {
    branch: shortBranchName(targetRef), sourceRef: source.name, targetRef, sourceHash: source.hash, targetHash: target.hash,
    kind: refKind(targetRef), action: 'update', reason, forced,
  };
}

function remove(targetRef: RefName, target: Ref): RefPlan {
  return {
    branch: shortBranchName(targetRef), sourceRef: null, targetRef, sourceHash: null, targetHash: target.hash,
    kind: refKind(targetRef), action: 'delete', reason: reasons.deleted(target.hash), forced: false,
  };
}

function block(targetRef: RefName, source: Ref | null, target: Ref, reason: string): RefPlan {
  return {
    branch: shortBranchName(targetRef), sourceRef: source?.name ?? null, targetRef, sourceHash: source?.hash ?? null, targetHash: target.hash,
    kind: refKind(targetRef), action: 'block', reason, forced: false,
  };
}

function planBootstrap(pair: RefPair, resuming: boolean): RefPlan | null {
  const { source, target, targetRef } = pair;
  if (target === null) return source === null ? null : create(targetRef, source);
  if (resuming && source !== null && source.hash === target.hash) return skip(targetRef, source, target);
  return block(targetRef, source, target, reasons.existsForBootstrap(target.hash));
}

function askAncestry(input: PlanActionsInput, pair: BothSides): AncestryAnswer | undefined {
  const answer = input.ancestry?.(pair.target.hash, pair.source.hash);
  if (answer === undefined && input.mode === 'sync' && input.force === 'none') {
    throw new Error(
      `no ancestry answer for ${pair.targetRef} (${pair.target.hash}..${pair.source.hash}); answer every ancestryQuestions() entry before planActions()`,
    );
  }
  return answer;
}

function planDiffering(input: PlanActionsInput, pair: BothSides): RefPlan {
  const { source, target, targetRef } = pair;
  const mayOverwrite = input.mode === 'replicate' || input.force !== 'none';
  if (needsAncestry(input.mode, pair)) {
    const answer = askAncestry(input, pair);
    if (answer === 'ancestor') return update(targetRef, source, target, false);
    if (mayOverwrite) return update(targetRef, source, target, true);
    const reason = answer === 'unknown-target'
      ? reasons.unknownToSource(target.hash, source.hash)
      : reasons.notAncestor(target.hash, source.hash);
    return block(targetRef, source, target, reason);
  }
  if (mayOverwrite) return update(targetRef, source, target, true);
  return block(targetRef, source, target, reasons.differs(refKind(targetRef), targetRef));
}

function planPair(input: PlanActionsInput, pair: RefPair, resuming: boolean): RefPlan | null {
  if (input.mode === 'bootstrap') return planBootstrap(pair, resuming);
  const { source, target, targetRef } = pair;
  if (source === null) return target !== null && input.prune ? remove(targetRef, target) : null;
  if (target === null) return create(targetRef, source);
  if (source.hash === target.hash) return skip(targetRef, source, target);
  return planDiffering(input, { ...pair, source, target });
}

/** Plans sorted by target ref name. Throws UsageError when two sources would share a target. */
export function planActions(input: PlanActionsInput): RefPlan[] {
  const resuming = hasBootstrapCheckpoints(input.targetRefs);
  const plans: RefPlan[] = [];
  const pairs = input.pairs ?? pairRefs(input.scope, input.sourceRefs, input.targetRefs);
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  for (let i = 0; i < pairs.length; i++) {
    const plan = planPair(input, pairs[i]!, resuming);
    if (plan !== null) plans.push(plan);
  }
  return plans;
}
