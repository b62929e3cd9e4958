/**
 * pairRefs: one pair per managed target name, sorted by it. Listings in name order (as git sends
 * them) take a merge of the two lists; anything else takes the general path. Both must give the
 * same pairs as the rule written out plainly here, whatever the listings hold.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../../src/errors.js';
import { pairRefs, type RefPair } from '../../src/plan/ref-pairs.js';
import { resolvePlanPolicy, type PlanFlags } from '../../src/plan/plan-policy.js';
import { targetNameFor, targetScopeContains, type RefScope } from '../../src/plan/ref-scope.js';
import type { Ref } from '../../src/types.js';
import { fuzzParameters } from '../helpers/fuzz.js';
import { A, B, C, ref } from './fixtures.js';

/** The rule, without any shortcut: first listing of a name wins; HEAD and peel lines are not refs. */
function expectedPairs(scope: RefScope, sourceRefs: readonly Ref[], targetRefs: readonly Ref[]): RefPair[] {
  const first = (refs: readonly Ref[]): Ref[] => {
    const seen = new Set<string>();
    return refs.filter((r) => r.name.startsWith('refs/') && !r.name.endsWith('^{}') && !seen.has(r.name) && seen.add(r.name) !== undefined);
  };
  const targets = first(targetRefs);
  const pairs: RefPair[] = [];
  for (const source of first(sourceRefs)) {
    const targetRef = targetNameFor(scope, source.name);
    if (targetRef !== null) pairs.push({ targetRef, source, target: targets.find((t) => t.name === targetRef) ?? null });
  }
  for (const target of targets) {
    if (!pairs.some((pair) => pair.targetRef === target.name) && targetScopeContains(scope, target.name)) pairs.push({ targetRef: target.name, source: null, target });
  }
  return pairs.sort((a, b) => (a.targetRef < b.targetRef ? -1 : a.targetRef > b.targetRef ? 1 : 0));
}

const NAMES = [
  'HEAD', 'refs/heads/main', 'refs/heads/a', 'refs/heads/a/b', 'refs/heads/a-b', 'refs/heads/z', 'refs/heads/\u00e9t\u00e9',
  'refs/heads/\u{1F600}', 'refs/heads/\uFF5E', 'refs/tags/v1', 'refs/tags/v1^{}', 'refs/tags/v2', 'refs/notes/commits', 'refs/pull/1/head',
  'refs/gitsync/bootstrap/heads/main', 'refs/heads/keep/x',
];
const listingArb = fc.array(fc.record({ name: fc.constantFrom(...NAMES), hash: fc.constantFrom(A, B, C) }), { maxLength: 12 });
/** Half the listings sorted and without repeats, as git sends them; the rest as they come. */
const orderedListingArb = fc.oneof(
  listingArb.map((listing) => [...new Map(listing.map((r) => [r.name, r])).values()].sort((a, b) => (a.name < b.name ? -1 : 1))),
  listingArb,
);
const flagsArb = fc.record({
  mode: fc.constant<'sync'>('sync'),
  tags: fc.boolean(),
  allRefs: fc.boolean(),
  branches: fc.option(fc.subarray(['main', 'a', 'z'], { minLength: 1 }), { nil: undefined }),
  excludeRefPrefixes: fc.option(fc.subarray(['refs/heads/keep/', 'refs/pull/']), { nil: undefined }),
}).map((flags): PlanFlags => (flags.allRefs ? { ...flags, branches: undefined } : flags));

describe('pairRefs', () => {
  it('gives the rule\'s pairs for any listings and scope without --map, in order or not', () => {
    fc.assert(
      fc.property(flagsArb, orderedListingArb, orderedListingArb, (flags, source, target) => {
        const scope = resolvePlanPolicy(flags).scope;
        const toRefs = (listing: { name: string; hash: typeof A }[]): Ref[] => listing.map((r) => ref(r.name, r.hash));
        const sourceRefs = toRefs(source);
        const targetRefs = toRefs(target);
        assert.deepEqual(pairRefs(scope, sourceRefs, targetRefs), expectedPairs(scope, sourceRefs, targetRefs));
      }),
      fuzzParameters(500),
    );
  });

  it('pairs sorted listings by merging them: current, new, gone, out of scope', () => {
    const scope = resolvePlanPolicy({ mode: 'sync', tags: true }).scope;
    const source = [ref('HEAD', A), ref('refs/heads/a', A), ref('refs/heads/b', B), ref('refs/notes/x', A), ref('refs/tags/v1', C), ref('refs/tags/v1^{}', A)];
    const target = [ref('refs/heads/a', A), ref('refs/heads/c', C), ref('refs/tags/v1', C)];
    assert.deepEqual(pairRefs(scope, source, target), [
      { targetRef: 'refs/heads/a', source: source[1], target: target[0] },
      { targetRef: 'refs/heads/b', source: source[2], target: null },
      { targetRef: 'refs/heads/c', source: null, target: target[1] },
      { targetRef: 'refs/tags/v1', source: source[4], target: target[2] },
    ]);
  });

  it('keeps the first of a name listed twice, and sorts listings that came out of order', () => {
    const scope = resolvePlanPolicy({ mode: 'sync' }).scope;
    const source = [ref('refs/heads/z', A), ref('refs/heads/a', B), ref('refs/heads/a', C)];
    assert.deepEqual(pairRefs(scope, source, []), [
      { targetRef: 'refs/heads/a', source: source[1], target: null },
      { targetRef: 'refs/heads/z', source: source[0], target: null },
    ]);
  });

  it('maps source names with --map, and refuses two sources for one target', () => {
    const scope = resolvePlanPolicy({ mode: 'sync', maps: ['main:stable'], tags: true }).scope;
    const source = [ref('refs/heads/main', A), ref('refs/tags/v1', B)];
    const target = [ref('refs/heads/main', B), ref('refs/heads/stable', C), ref('refs/tags/v0', C)];
    // Only the mapped branch is managed; main on the target is not, tags are.
    assert.deepEqual(pairRefs(scope, source, target), [
      { targetRef: 'refs/heads/stable', source: source[0], target: target[1] },
      { targetRef: 'refs/tags/v0', source: null, target: target[2] },
      { targetRef: 'refs/tags/v1', source: source[1], target: null },
    ]);
    const clash = resolvePlanPolicy({ mode: 'sync', maps: ['dev:main'], allRefs: true }).scope;
    assert.throws(() => pairRefs(clash, [ref('refs/heads/dev', A), ref('refs/heads/main', B)], []), UsageError);
  });
});
