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
import { refKind, shortBranchName, type RefKind } from './ref-kind.js';
import { pairRefs, type RefPair } from './ref-pairs.js';

export interface PlanActionsInput extends PlanInput {
  /** Required in sync without a force flag whenever ancestryQuestions returned anything. */
  ancestry?: AncestryOracle | undefined;
}

interface Names {
  branch: string | null;
  targetRef: RefName;
  kind: RefKind;
}

function namesOf(targetRef: RefName): Names {
  return { branch: shortBranchName(targetRef), targetRef, kind: refKind(targetRef) };
}

function create(names: Names, source: Ref): RefPlan {
  const { branch, targetRef, kind } = names;
  return {
    branch, sourceRef: source.name, targetRef, sourceHash: source.hash, targetHash: null,
    kind, action: 'create', reason: reasons.created(source.hash), forced: false,
  };
}

function skip(names: Names, source: Ref, target: Ref): RefPlan {
  const { branch, targetRef, kind } = names;
  return {
    branch, sourceRef: source.name, targetRef, sourceHash: source.hash, targetHash: target.hash,
    kind, action: 'skip', reason: reasons.current(source.hash), forced: false,
  };
}

function update(names: Names, source: Ref, target: Ref, forced: boolean): RefPlan {
  const { branch, targetRef, kind } = names;
  const reason = forced ? reasons.forced(target.hash, source.hash) : reasons.moved(target.hash, source.hash);
  return {
    branch, sourceRef: source.name, targetRef, sourceHash: source.hash, targetHash: target.hash,
    kind, action: 'update', reason, forced,
  };
}

function remove(names: Names, target: Ref): RefPlan {
  const { branch, targetRef, kind } = names;
  return {
    branch, sourceRef: null, targetRef, sourceHash: null, targetHash: target.hash,
    kind, action: 'delete', reason: reasons.deleted(target.hash), forced: false,
  };
}

function block(names: Names, source: Ref | null, target: Ref, reason: string): RefPlan {
  const { branch, targetRef, kind } = names;
  return {
    branch, sourceRef: source?.name ?? null, targetRef, sourceHash: source?.hash ?? null, targetHash: target.hash,
    kind, action: 'block', reason, forced: false,
  };
}

function planBootstrap(pair: RefPair, names: Names, resuming: boolean): RefPlan | null {
  const { source, target } = pair;
  if (target === null) return source === null ? null : create(names, source);
  if (resuming && source !== null && source.hash === target.hash) return skip(names, source, target);
  return block(names, source, target, reasons.existsForBootstrap(target.hash));
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

function planDiffering(input: PlanActionsInput, pair: BothSides, names: Names): RefPlan {
  const { source, target } = pair;
  const mayOverwrite = input.mode === 'replicate' || input.force !== 'none';
  if (needsAncestry(input.mode, pair)) {
    const answer = askAncestry(input, pair);
    if (answer === 'ancestor') return update(names, source, target, false);
    if (mayOverwrite) return update(names, source, target, true);
    const reason = answer === 'unknown-target'
      ? reasons.unknownToSource(target.hash, source.hash)
      : reasons.notAncestor(target.hash, source.hash);
    return block(names, source, target, reason);
  }
  if (mayOverwrite) return update(names, source, target, true);
  return block(names, source, target, reasons.differs(names.kind, names.targetRef));
}

function planPair(input: PlanActionsInput, pair: RefPair, resuming: boolean): RefPlan | null {
  const names = namesOf(pair.targetRef);
  if (input.mode === 'bootstrap') return planBootstrap(pair, names, resuming);
  const { source, target } = pair;
  if (source === null) return target !== null && input.prune ? remove(names, target) : null;
  if (target === null) return create(names, source);
  if (source.hash === target.hash) return skip(names, source, target);
  return planDiffering(input, { ...pair, source, target }, names);
}

/** Plans sorted by target ref name. Throws UsageError when two sources would share a target. */
export function planActions(input: PlanActionsInput): RefPlan[] {
  const resuming = hasBootstrapCheckpoints(input.targetRefs);
  const plans: RefPlan[] = [];
  for (const pair of input.pairs ?? pairRefs(input.scope, input.sourceRefs, input.targetRefs)) {
    const plan = planPair(input, pair, resuming);
    if (plan !== null) plans.push(plan);
  }
  return plans;
}
