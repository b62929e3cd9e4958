/**
 * Lines up source refs with the target names they go to, and adds the in-scope target refs that
 * no source ref feeds (prune candidates). One pair per managed target name, sorted by it.
 */

import { UsageError } from '../errors.js';
import type { Ref, RefName } from '../types.js';
import { compareRefNames, isManageableRefName } from './ref-kind.js';
import { targetNameFor, targetScopeContains, type RefScope } from './ref-scope.js';

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
