import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { ancestryFromMap, ancestryKey, type AncestryAnswer, type AncestryOracle } from '../../src/plan/ancestry-questions.js';
import { planActions } from '../../src/plan/plan-actions.js';
import type { PlanFlags } from '../../src/plan/plan-policy.js';
import type { RefPlan } from '../../src/plan/plan-types.js';
import type { Oid } from '../../src/types.js';
import { A, B, C, D, E, input, ref } from './fixtures.js';

function oracle(answers: Array<[Oid, Oid, AncestryAnswer]>): AncestryOracle {
  return ancestryFromMap(new Map(answers.map(([target, source, answer]) => [ancestryKey(target, source), answer])));
}

function plan(
  flags: PlanFlags,
  source: Record<string, Oid>,
  target: Record<string, Oid>,
  answers: Array<[Oid, Oid, AncestryAnswer]> = [],
): RefPlan[] {
  return planActions({ ...input(flags, source, target), ancestry: oracle(answers) });
}

/** [action, targetRef, sourceRef] per plan: enough to check which refs a scope manages. */
function summary(plans: RefPlan[]): Array<[string, string, string | null]> {
  return plans.map((entry) => [entry.action, entry.targetRef, entry.sourceRef]);
}

const MAIN = 'refs/heads/main';

test('docs/usage.md, "How each ref is decided" table, one row at a time', async (t) => {
  const rows: Array<{
    name: string;
    flags: PlanFlags;
    source: Record<string, Oid>;
    target: Record<string, Oid>;
    answers?: Array<[Oid, Oid, AncestryAnswer]>;
    expected: RefPlan[];
  }> = [
    {
      name: 'same hash: skip',
      flags: { mode: 'sync' },
      source: { [MAIN]: A },
      target: { [MAIN]: A },
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: A, kind: 'branch', action: 'skip', reason: '1a2b3c4d already current', forced: false }],
    },
    {
      name: 'absent on target: create',
      flags: { mode: 'sync' },
      source: { [MAIN]: A },
      target: {},
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: null, kind: 'branch', action: 'create', reason: '1a2b3c4d -> new', forced: false }],
    },
    {
      name: 'branch fast-forward: update',
      flags: { mode: 'sync' },
      source: { [MAIN]: A },
      target: { [MAIN]: B },
      answers: [[B, A, 'ancestor']],
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: B, kind: 'branch', action: 'update', reason: '5e6f7a8b -> 1a2b3c4d', forced: false }],
    },
    {
      name: 'branch diverged: block',
      flags: { mode: 'sync' },
      source: { [MAIN]: A },
      target: { [MAIN]: B },
      answers: [[B, A, 'not-ancestor']],
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: B, kind: 'branch', action: 'block', reason: '5e6f7a8b is not an ancestor of 1a2b3c4d', forced: false }],
    },
    {
      name: 'branch target ahead (source tip is behind the target tip): block',
      flags: { mode: 'sync' },
      source: { [MAIN]: B },
      target: { [MAIN]: A },
      answers: [[A, B, 'not-ancestor']],
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: B, targetHash: A, kind: 'branch', action: 'block', reason: '1a2b3c4d is not an ancestor of 5e6f7a8b', forced: false }],
    },
    {
      name: 'target tip unknown to the source: block as diverged',
      flags: { mode: 'sync' },
      source: { [MAIN]: A },
      target: { [MAIN]: B },
      answers: [[B, A, 'unknown-target']],
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: B, kind: 'branch', action: 'block', reason: '5e6f7a8b is not an ancestor of 1a2b3c4d (the source does not have 5e6f7a8b)', forced: false }],
    },
    {
      name: '--force-with-lease turns a diverged block into a forced update',
      flags: { mode: 'sync', forceWithLease: true },
      source: { [MAIN]: A },
      target: { [MAIN]: B },
      answers: [[B, A, 'not-ancestor']],
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: B, kind: 'branch', action: 'update', reason: '5e6f7a8b -> 1a2b3c4d (forced)', forced: true }],
    },
    {
      name: '--force-blind turns an unknown-target block into a forced update',
      flags: { mode: 'sync', forceBlind: true },
      source: { [MAIN]: A },
      target: { [MAIN]: B },
      answers: [[B, A, 'unknown-target']],
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: B, kind: 'branch', action: 'update', reason: '5e6f7a8b -> 1a2b3c4d (forced)', forced: true }],
    },
    {
      name: 'a fast-forward stays unforced under a force flag',
      flags: { mode: 'sync', forceWithLease: true },
      source: { [MAIN]: A },
      target: { [MAIN]: B },
      answers: [[B, A, 'ancestor']],
      expected: [{ branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: B, kind: 'branch', action: 'update', reason: '5e6f7a8b -> 1a2b3c4d', forced: false }],
    },
    {
      name: 'tag differs: block',
      flags: { mode: 'sync', tags: true },
      source: { 'refs/tags/v1': A },
      target: { 'refs/tags/v1': B },
      expected: [{ branch: null, sourceRef: 'refs/tags/v1', targetRef: 'refs/tags/v1', sourceHash: A, targetHash: B, kind: 'tag', action: 'block', reason: 'tag refs/tags/v1 differs; use --force-with-lease to retarget', forced: false }],
    },
    {
      name: 'tag differs with --force-with-lease: forced update',
      flags: { mode: 'sync', tags: true, forceWithLease: true },
      source: { 'refs/tags/v1': A },
      target: { 'refs/tags/v1': B },
      expected: [{ branch: null, sourceRef: 'refs/tags/v1', targetRef: 'refs/tags/v1', sourceHash: A, targetHash: B, kind: 'tag', action: 'update', reason: '5e6f7a8b -> 1a2b3c4d (forced)', forced: true }],
    },
    {
      name: 'other ref differs: block',
      flags: { mode: 'sync', allRefs: true },
      source: { 'refs/notes/commits': A },
      target: { 'refs/notes/commits': B },
      expected: [{ branch: null, sourceRef: 'refs/notes/commits', targetRef: 'refs/notes/commits', sourceHash: A, targetHash: B, kind: 'other', action: 'block', reason: 'ref refs/notes/commits differs; use --force-with-lease to retarget', forced: false }],
    },
    {
      name: 'other ref differs with --force-blind: forced update',
      flags: { mode: 'sync', allRefs: true, forceBlind: true },
      source: { 'refs/notes/commits': A },
      target: { 'refs/notes/commits': B },
      expected: [{ branch: null, sourceRef: 'refs/notes/commits', targetRef: 'refs/notes/commits', sourceHash: A, targetHash: B, kind: 'other', action: 'update', reason: '5e6f7a8b -> 1a2b3c4d (forced)', forced: true }],
    },
    {
      name: 'gone from source with --prune: delete',
      flags: { mode: 'sync', prune: true },
      source: {},
      target: { 'refs/heads/old': B },
      expected: [{ branch: 'old', sourceRef: null, targetRef: 'refs/heads/old', sourceHash: null, targetHash: B, kind: 'branch', action: 'delete', reason: '5e6f7a8b -> deleted', forced: false }],
    },
    {
      name: 'gone from source without --prune: left alone',
      flags: { mode: 'sync' },
      source: {},
      target: { 'refs/heads/old': B },
      expected: [],
    },
  ];
  for (const row of rows) {
    await t.test(row.name, () => {
      assert.deepEqual(plan(row.flags, row.source, row.target, row.answers), row.expected);
    });
  }
});

test('a plan serialises to exactly the docs/json.md keys, in order', () => {
  const [entry] = plan({ mode: 'sync' }, { [MAIN]: A }, {});
  assert.equal(
    JSON.stringify(entry),
    `{"branch":"main","sourceRef":"refs/heads/main","targetRef":"refs/heads/main","sourceHash":"${A}","targetHash":null,"kind":"branch","action":"create","reason":"1a2b3c4d -> new","forced":false}`,
  );
});

test('plans come sorted by target ref', () => {
  const plans = plan({ mode: 'sync', tags: true }, { 'refs/tags/v1': A, 'refs/heads/z': A, 'refs/heads/a': B }, {});
  assert.deepEqual(plans.map((entry) => entry.targetRef), ['refs/heads/a', 'refs/heads/z', 'refs/tags/v1']);
});

test('sync without a force flag refuses to guess an unanswered ancestry question', () => {
  assert.throws(
    () => plan({ mode: 'sync' }, { [MAIN]: A }, { [MAIN]: B }),
    /no ancestry answer for refs\/heads\/main .*answer every ancestryQuestions\(\) entry/,
  );
  assert.throws(() => planActions(input({ mode: 'sync' }, { [MAIN]: A }, { [MAIN]: B })), /no ancestry answer/);
});

test('an unanswered question under a force flag is a forced update', () => {
  assert.deepEqual(summary(planActions(input({ mode: 'sync', forceWithLease: true }, { [MAIN]: A }, { [MAIN]: B }))), [
    ['update', MAIN, MAIN],
  ]);
});

test('scope: --branch manages and prunes only the listed branches', () => {
  const plans = plan(
    { mode: 'sync', branches: ['a,gone'], prune: true },
    { 'refs/heads/a': A, 'refs/heads/b': A },
    { 'refs/heads/gone': B, 'refs/heads/other': B },
  );
  assert.deepEqual(summary(plans), [
    ['create', 'refs/heads/a', 'refs/heads/a'],
    ['delete', 'refs/heads/gone', null],
  ]);
});

test('scope: all branches by default; prune stays inside refs/heads/ without --tags', () => {
  const plans = plan(
    { mode: 'sync', prune: true },
    { 'refs/heads/a': A, 'refs/tags/v1': A, 'refs/notes/commits': A },
    { 'refs/heads/old': B, 'refs/tags/v0': B, 'refs/notes/x': B },
  );
  assert.deepEqual(summary(plans), [
    ['create', 'refs/heads/a', 'refs/heads/a'],
    ['delete', 'refs/heads/old', null],
  ]);
});

test('scope: --tags adds refs/tags/* to branches', () => {
  const plans = plan({ mode: 'sync', tags: true, prune: true }, { 'refs/heads/a': A, 'refs/tags/v1': A }, { 'refs/tags/v0': B, 'refs/pull/1/head': B });
  assert.deepEqual(summary(plans), [
    ['create', 'refs/heads/a', 'refs/heads/a'],
    ['delete', 'refs/tags/v0', null],
    ['create', 'refs/tags/v1', 'refs/tags/v1'],
  ]);
});

test('scope: --map alone manages only the mapped refs', () => {
  const plans = plan(
    { mode: 'sync', maps: ['main:stable', 'refs/tags/v1:refs/tags/release-1'], prune: true },
    { [MAIN]: A, 'refs/heads/dev': A, 'refs/tags/v1': B, 'refs/tags/v2': B },
    { [MAIN]: C, 'refs/heads/dev': C, 'refs/tags/v2': C },
  );
  assert.deepEqual(plans, [
    { branch: 'stable', sourceRef: MAIN, targetRef: 'refs/heads/stable', sourceHash: A, targetHash: null, kind: 'branch', action: 'create', reason: '1a2b3c4d -> new', forced: false },
    { branch: null, sourceRef: 'refs/tags/v1', targetRef: 'refs/tags/release-1', sourceHash: B, targetHash: null, kind: 'tag', action: 'create', reason: '5e6f7a8b -> new', forced: false },
  ]);
});

test('scope: --map with --tags adds all tags; a mapped source is not also synced under its own name', () => {
  const plans = plan(
    { mode: 'sync', maps: ['refs/tags/v1:refs/tags/release-1'], tags: true },
    { [MAIN]: A, 'refs/tags/v1': B, 'refs/tags/v2': B },
    {},
  );
  assert.deepEqual(summary(plans), [
    ['create', 'refs/tags/release-1', 'refs/tags/v1'],
    ['create', 'refs/tags/v2', 'refs/tags/v2'],
  ]);
});

test('scope: a mapped target whose source is gone is pruned with --prune', () => {
  const plans = plan({ mode: 'sync', maps: ['main:stable'], prune: true }, {}, { 'refs/heads/stable': B, [MAIN]: B });
  assert.deepEqual(summary(plans), [['delete', 'refs/heads/stable', null]]);
});

test('scope: --all-refs with --exclude-ref-prefix leaves excluded refs alone on both sides', () => {
  const plans = plan(
    { mode: 'sync', allRefs: true, excludeRefPrefixes: ['refs/pull/'], prune: true },
    { [MAIN]: A, 'refs/pull/1/head': A, 'refs/notes/commits': A, 'refs/tags/v1': A },
    { 'refs/pull/2/head': B, 'refs/changes/1': B },
  );
  assert.deepEqual(summary(plans), [
    ['delete', 'refs/changes/1', null],
    ['create', MAIN, MAIN],
    ['create', 'refs/notes/commits', 'refs/notes/commits'],
    ['create', 'refs/tags/v1', 'refs/tags/v1'],
  ]);
});

test('scope: --exclude-ref-prefix does not affect an explicit --map', () => {
  const plans = plan(
    { mode: 'sync', maps: ['main:stable'], tags: true, excludeRefPrefixes: ['refs/heads/', 'refs/tags/v'] },
    { [MAIN]: A, 'refs/tags/v1': A, 'refs/tags/x1': A },
    {},
  );
  assert.deepEqual(summary(plans), [
    ['create', 'refs/heads/stable', MAIN],
    ['create', 'refs/tags/x1', 'refs/tags/x1'],
  ]);
});

test('scope: HEAD and peel lines are never managed, even with --all-refs --prune', () => {
  const source = [{ name: 'HEAD', hash: A, peeled: null, symrefTarget: MAIN }, ref(MAIN, A), ref('refs/tags/v1', B, C), ref('refs/tags/v1^{}', C)];
  const target = [ref('HEAD', B), ref('refs/tags/v0^{}', C)];
  const plans = planActions(input({ mode: 'sync', allRefs: true, prune: true }, source, target));
  assert.deepEqual(summary(plans), [
    ['create', MAIN, MAIN],
    ['create', 'refs/tags/v1', 'refs/tags/v1'],
  ]);
});

test('scope: refs/gitsync/* temporary refs are never copied or pruned unless mapped explicitly', () => {
  const source = { [MAIN]: A, 'refs/gitsync/bootstrap/heads/x': A, 'refs/gitsync/keep': B };
  const target = { 'refs/gitsync/bootstrap/heads/main': B, 'refs/gitsync/old': B };
  assert.deepEqual(summary(plan({ mode: 'sync', allRefs: true, prune: true }, source, target)), [['create', MAIN, MAIN]]);
  assert.deepEqual(
    summary(plan({ mode: 'sync', allRefs: true, prune: true, maps: ['refs/gitsync/keep:refs/gitsync/kept', 'refs/gitsync/none:refs/gitsync/old'] }, source, target)),
    [
      ['create', 'refs/gitsync/kept', 'refs/gitsync/keep'],
      ['delete', 'refs/gitsync/old', null],
      ['create', MAIN, MAIN],
    ],
  );
});

test('scope: with --all-refs the target mirrors the mapped image, so the old name is pruned', () => {
  const plans = plan({ mode: 'sync', allRefs: true, maps: ['main:stable'], prune: true }, { [MAIN]: A }, { [MAIN]: A });
  assert.deepEqual(summary(plans), [
    ['delete', MAIN, null],
    ['create', 'refs/heads/stable', MAIN],
  ]);
});

test('scope: two source refs landing on one target are a usage error', () => {
  assert.throws(
    () => plan({ mode: 'sync', allRefs: true, maps: ['main:stable'] }, { [MAIN]: A, 'refs/heads/stable': B }, {}),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message ===
        "refs/heads/stable (--map 'main:stable') would receive both refs/heads/main and refs/heads/stable from the source; change the --map target or narrow the scope with --branch or --exclude-ref-prefix",
  );
});

test('replicate never blocks: differing refs are updates, forced unless a known fast-forward', async (t) => {
  const source = { [MAIN]: A, 'refs/heads/ff': A, 'refs/heads/unknown': A, 'refs/heads/unasked': A, 'refs/tags/v1': A, 'refs/heads/new': A, 'refs/heads/same': C };
  const target = { [MAIN]: B, 'refs/heads/ff': C, 'refs/heads/unknown': D, 'refs/heads/unasked': E, 'refs/tags/v1': B, 'refs/heads/same': C, 'refs/heads/gone': B };
  const answers: Array<[Oid, Oid, AncestryAnswer]> = [
    [B, A, 'not-ancestor'],
    [C, A, 'ancestor'],
    [D, A, 'unknown-target'],
  ];
  const rows = (prune: boolean): Array<[string, string, boolean, string]> =>
    plan({ mode: 'replicate', tags: true, prune }, source, target, answers).map((entry) => [entry.targetRef, entry.action, entry.forced, entry.reason]);
  await t.test('without --prune', () => {
    assert.deepEqual(rows(false), [
      ['refs/heads/ff', 'update', false, '9c9c9c9c -> 1a2b3c4d'],
      [MAIN, 'update', true, '5e6f7a8b -> 1a2b3c4d (forced)'],
      ['refs/heads/new', 'create', false, '1a2b3c4d -> new'],
      ['refs/heads/same', 'skip', false, '9c9c9c9c already current'],
      ['refs/heads/unasked', 'update', true, 'eeeeeeee -> 1a2b3c4d (forced)'],
      ['refs/heads/unknown', 'update', true, 'd0d0d0d0 -> 1a2b3c4d (forced)'],
      ['refs/tags/v1', 'update', true, '5e6f7a8b -> 1a2b3c4d (forced)'],
    ]);
  });
  await t.test('with --prune', () => {
    assert.deepEqual(rows(true)[0], ['refs/heads/ff', 'update', false, '9c9c9c9c -> 1a2b3c4d']);
    assert.deepEqual(rows(true)[1], ['refs/heads/gone', 'delete', false, '5e6f7a8b -> deleted']);
    assert.equal(rows(true).length, 8);
  });
});

test('bootstrap creates into an empty scope and blocks on every managed ref the target has', () => {
  const plans = plan(
    { mode: 'bootstrap', tags: true },
    { [MAIN]: A, 'refs/heads/dev': A, 'refs/tags/v1': B },
    { 'refs/heads/dev': A, 'refs/heads/old': C, 'refs/notes/x': C },
  );
  assert.deepEqual(plans, [
    { branch: 'dev', sourceRef: 'refs/heads/dev', targetRef: 'refs/heads/dev', sourceHash: A, targetHash: A, kind: 'branch', action: 'block', reason: 'exists on target at 1a2b3c4d; bootstrap only creates refs, use sync instead', forced: false },
    { branch: 'main', sourceRef: MAIN, targetRef: MAIN, sourceHash: A, targetHash: null, kind: 'branch', action: 'create', reason: '1a2b3c4d -> new', forced: false },
    { branch: 'old', sourceRef: null, targetRef: 'refs/heads/old', sourceHash: null, targetHash: C, kind: 'branch', action: 'block', reason: 'exists on target at 9c9c9c9c; bootstrap only creates refs, use sync instead', forced: false },
    { branch: null, sourceRef: 'refs/tags/v1', targetRef: 'refs/tags/v1', sourceHash: B, targetHash: null, kind: 'tag', action: 'create', reason: '5e6f7a8b -> new', forced: false },
  ]);
});

test('bootstrap resuming its own batches skips refs it already finished', () => {
  const plans = plan(
    { mode: 'bootstrap' },
    { [MAIN]: A, 'refs/heads/dev': B, 'refs/heads/moved': A },
    { [MAIN]: A, 'refs/heads/moved': C, 'refs/gitsync/bootstrap/heads/dev': C },
  );
  assert.deepEqual(summary(plans), [
    ['create', 'refs/heads/dev', 'refs/heads/dev'],
    ['skip', MAIN, MAIN],
    ['block', 'refs/heads/moved', 'refs/heads/moved'],
  ]);
});
