/**
 * Phase one of planning: which "is the target tip an ancestor of the source tip?" questions the
 * I/O layer must answer (docs/architecture.md, "Ancestry without materializing": commits fetched with `want source`, `have target`) before
 * planActions can decide branch updates. Tags and other refs never need one: any change to them
 * is a retarget.
 */

import type { Oid, Ref, RefName } from '../types.js';
import type { PlanInput } from './plan-types.js';
import { refKind } from './ref-kind.js';
import { pairRefs, type RefPair } from './ref-pairs.js';

/**
 * `unknown-target`: the source does not have the target tip at all (no ACK for it), so the target
 * holds history the source lacks; it is treated as diverged.
 */
export type AncestryAnswer = 'ancestor' | 'not-ancestor' | 'unknown-target';

export interface AncestryQuestion {
  /** The first target ref (in name order) that asks this question; others may share it. */
  targetRef: RefName;
  targetHash: Oid;
  sourceHash: Oid;
}

/** Answers for planActions; undefined means "not asked". Build one from a Map with ancestryFromMap. */
export type AncestryOracle = (targetHash: Oid, sourceHash: Oid) => AncestryAnswer | undefined;

export function ancestryKey(targetHash: Oid, sourceHash: Oid): string {
  return `${targetHash}..${sourceHash}`;
}

/** An oracle over answers keyed by ancestryKey(targetHash, sourceHash). */
export function ancestryFromMap(answers: ReadonlyMap<string, AncestryAnswer>): AncestryOracle {
  return (targetHash, sourceHash) => answers.get(ancestryKey(targetHash, sourceHash));
}

export type BothSides = RefPair & { source: Ref; target: Ref };

/** A branch present on both sides with different tips, in a mode that may update it. */
export function needsAncestry(mode: PlanInput['mode'], pair: RefPair): pair is BothSides {
  return (
    mode !== 'bootstrap' &&
    pair.source !== null &&
    pair.target !== null &&
    pair.source.hash !== pair.target.hash &&
    refKind(pair.targetRef) === 'branch'
  );
}

/** Deduplicated by hash pair, in target ref order. Empty for bootstrap (it never updates). */
export function ancestryQuestions(input: PlanInput): AncestryQuestion[] {
  const questions = new Map<string, AncestryQuestion>();
  const pairs = input.pairs ?? pairRefs(input.scope, input.sourceRefs, input.targetRefs);
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    if (!needsAncestry(input.mode, pair)) continue;
    const key = ancestryKey(pair.target.hash, pair.source.hash);
    if (!questions.has(key)) {
      questions.set(key, { targetRef: pair.targetRef, targetHash: pair.target.hash, sourceHash: pair.source.hash });
    }
  }
  return [...questions.values()];
}
