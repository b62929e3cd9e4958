/**
 * Lines up source refs with the target names they go to, and adds the in-scope target refs that
 * no source ref feeds (prune candidates). One pair per managed target name, sorted by it.
 */

import { UsageError } from '../errors.js';
import type { Ref, RefName } from '../types.js';
import { compareRefNames, isManageableRefName } from './ref-kind.js';
import { patternScopeContains, targetNameFor, targetScopeContains, type RefScope } from './ref-scope.js';

export interface RefPair {
  targetRef: RefName;
  /** The managed source ref feeding `targetRef`, or null when the source has none. */
  source: Ref | null;
  /** The target's current value, or null when absent. */
  target: Ref | null;
}

/** First occurrence wins; peel lines and names outside `refs/` (HEAD) are dropped. */
function byName(refs: readonly Ref[]): Map<RefName, Ref> {
  const map = new Map<RefName, Ref>();
  for (const ref of refs) {
    if (isManageableRefName(ref.name) && !map.has(ref.name)) map.set(ref.name, ref);
  }
  return map;
}

function collision(scope: RefScope, targetRef: RefName, first: RefName, second: RefName): UsageError {
  const mapping = scope.mapByTarget.get(targetRef);
  const via = mapping === undefined ? '' : ` (--map '${mapping.spec}')`;
  return new UsageError(
    `${targetRef}${via} would receive both ${first} and ${second} from the source; change the --map target or narrow the scope with --branch or --exclude-ref-prefix`,
  );
}

export function pairRefs(scope: RefScope, sourceRefs: readonly Ref[], targetRefs: readonly Ref[]): RefPair[] {
  if (scope.maps.length === 0) {
    const merged = pairInOrder(scope, sourceRefs, targetRefs);
    if (merged !== null) return merged;
  }
  const targets = byName(targetRefs);
  const pairs = new Map<RefName, RefPair>();
  for (const source of byName(sourceRefs).values()) {
    const targetRef = targetNameFor(scope, source.name);
    if (targetRef === null) continue;
    const claimed = pairs.get(targetRef)?.source;
    if (claimed) {
      const [first, second] = [claimed.name, source.name].sort(compareRefNames) as [RefName, RefName];
      throw collision(scope, targetRef, first, second);
    }
    pairs.set(targetRef, { targetRef, source, target: targets.get(targetRef) ?? null });
  }
  for (const target of targets.values()) {
    if (!pairs.has(target.name) && targetScopeContains(scope, target.name)) {
      pairs.set(target.name, { targetRef: target.name, source: null, target });
    }
  }
  return [...pairs.values()].sort((a, b) => compareRefNames(a.targetRef, b.targetRef));
}

/**
 * The same pairs, for a scope without `--map` and listings in name order, as git sends them: one
 * merge of the two lists, no map. Maps of 10,000 names cost a no-op run 28-34 ms in code V8 runs
 * for the first time, the merge 8-11 ms (docs/architecture.md, "No-op runs at scale"). Null when
 * either listing is out of order or names a ref twice: the general path decides then.
 */
function pairInOrder(scope: RefScope, sourceRefs: readonly Ref[], targetRefs: readonly Ref[]): RefPair[] | null {
  const pairs: RefPair[] = [];
  let i = 0;
  let j = 0;
  // Every manageable name starts with `refs/`, so it sorts after the empty string.
  let lastSource = '';
  let lastTarget = '';
  for (;;) {
    while (i < sourceRefs.length && !isManageableRefName(sourceRefs[i]!.name)) i += 1;
    while (j < targetRefs.length && !isManageableRefName(targetRefs[j]!.name)) j += 1;
    const source = i < sourceRefs.length ? sourceRefs[i]! : null;
    const target = j < targetRefs.length ? targetRefs[j]! : null;
    if (source === null && target === null) return pairs;
    if ((source !== null && source.name <= lastSource) || (target !== null && target.name <= lastTarget)) return null;
    const name = source === null || (target !== null && target.name < source.name) ? target!.name : source.name;
    const sourceHere = source !== null && source.name === name ? source : null;
    const targetHere = target !== null && target.name === name ? target : null;
    if (sourceHere !== null) {
      lastSource = name;
      i += 1;
    }
    if (targetHere !== null) {
      lastTarget = name;
      j += 1;
    }
    // Without --map a name is managed on both sides alike (ref-scope.ts).
    if (patternScopeContains(scope, name)) pairs.push({ targetRef: name, source: sourceHere, target: targetHere });
  }
}
