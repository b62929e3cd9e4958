import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planActions } from '../../src/plan/plan-actions.js';
import { resolvePlanPolicy } from '../../src/plan/plan-policy.js';
import { refCandidates, resolveRefName } from '../../src/plan/ref-lookup.js';
import { DEFAULT_MAX_DELETES, guardDeletions, managedSourceCount, missingSourceRefs } from '../../src/plan/safety-guards.js';
import { UsageError } from '../../src/errors.js';
import { A, B, C, input, refs } from './fixtures.js';

describe('deletion guards', () => {
  const target = { 'refs/heads/main': A, 'refs/heads/dev': B, 'refs/tags/v1': C };

  it('blocks every delete when the source lists no managed refs, unless the source may be empty', () => {
    const planned = planActions(input({ mode: 'sync', tags: true, prune: true }, {}, target));
    assert.deepEqual(planned.map((p) => p.action), ['delete', 'delete', 'delete']);
    const guarded = guardDeletions(planned, { maxDeletes: DEFAULT_MAX_DELETES, allowEmptySource: false }, 0);
    assert.equal(guarded.tripped, 'empty-source');
    assert.deepEqual(guarded.plans.map((p) => p.action), ['block', 'block', 'block']);
    assert.match(guarded.plans[0]!.reason, /source lists no managed refs/);
    // The plan keeps the key order of docs/json.md.
    assert.deepEqual(Object.keys(guarded.plans[0]!), Object.keys(planned[0]!));
    assert.equal(guardDeletions(planned, { maxDeletes: 100, allowEmptySource: true }, 0).tripped, null);
  });

  it('counts a source with refs outside the scope as empty for the scope', () => {
    const policy = resolvePlanPolicy({ mode: 'sync', tags: true });
    assert.equal(managedSourceCount(policy.scope, refs({ 'refs/pull/1/head': A, 'refs/heads/x': B })), 1);
    assert.equal(managedSourceCount(policy.scope, refs({ 'refs/pull/1/head': A })), 0);
  });

  it('counts the managed source refs only when there is a delete to guard', () => {
    const guard = { maxDeletes: DEFAULT_MAX_DELETES, allowEmptySource: false };
    let counted = 0;
    const count = (value: number) => () => {
      counted += 1;
      return value;
    };
    const current = planActions(input({ mode: 'sync', prune: true }, { 'refs/heads/main': A }, { 'refs/heads/main': A }));
    assert.equal(guardDeletions(current, guard, count(0)).tripped, null);
    assert.equal(counted, 0, 'no delete: not counted');
    const deleting = planActions(input({ mode: 'sync', prune: true }, {}, { 'refs/heads/main': A }));
    assert.equal(guardDeletions(deleting, guard, count(0)).tripped, 'empty-source');
    assert.equal(guardDeletions(deleting, guard, count(1)).tripped, null);
    assert.equal(counted, 2);
  });

  it('blocks every delete past maxDeletes, and only deletes', () => {
    const planned = planActions(input({ mode: 'sync', prune: true }, { 'refs/heads/main': A }, { 'refs/heads/main': A, 'refs/heads/a': A, 'refs/heads/b': A }));
    const over = guardDeletions(planned, { maxDeletes: 1, allowEmptySource: false }, 1);
    assert.equal(over.tripped, 'max-deletes');
    assert.deepEqual(over.plans.map((p) => [p.targetRef, p.action]), [['refs/heads/a', 'block'], ['refs/heads/b', 'block'], ['refs/heads/main', planned[2]!.action]]);
    assert.match(over.plans[0]!.reason, /would delete 2 refs, more than --max-deletes 1/);
    assert.equal(guardDeletions(planned, { maxDeletes: 2, allowEmptySource: false }, 1).tripped, null);
    assert.equal(guardDeletions(planned, { maxDeletes: 0, allowEmptySource: false }, 1).tripped, 'max-deletes');
  });

  it('is part of the policy: a default, validation, and replicate refusing force flags', () => {
    assert.deepEqual(resolvePlanPolicy({ mode: 'sync' }).deletionGuard, { maxDeletes: 100, allowEmptySource: false });
    assert.throws(() => resolvePlanPolicy({ mode: 'sync', maxDeletes: -1 }), UsageError);
    assert.throws(() => resolvePlanPolicy({ mode: 'sync', maxDeletes: 1.5 }), UsageError);
    assert.throws(() => resolvePlanPolicy({ mode: 'replicate', forceWithLease: true }), /--force-with-lease does not apply to replicate/);
    assert.throws(() => resolvePlanPolicy({ mode: 'replicate', forceBlind: true }), /--force-blind does not apply to replicate/);
  });
});

describe('names the source must have', () => {
  it('lists --branch names and --map sources the source lacks, in the order given', () => {
    const policy = resolvePlanPolicy({ mode: 'sync', branches: ['main,nope'], maps: ['refs/heads/gone:refs/heads/x', 'dev:stable'] });
    assert.deepEqual(missingSourceRefs(policy.scope, refs({ 'refs/heads/main': A, 'refs/heads/dev': B })), [
      { given: '--branch nope', ref: 'refs/heads/nope' },
      { given: "--map 'refs/heads/gone:refs/heads/x'", ref: 'refs/heads/gone' },
    ]);
    assert.deepEqual(missingSourceRefs(resolvePlanPolicy({ mode: 'sync' }).scope, []), [], 'all branches: nothing named');
  });

  it('resolves short ref names the way git does', () => {
    const existing = new Set(['refs/heads/main', 'refs/tags/v1', 'refs/heads/v1', 'refs/remotes/origin/HEAD', 'refs/heads/heads']);
    assert.equal(resolveRefName('main', existing), 'refs/heads/main');
    assert.equal(resolveRefName('heads/main', existing), 'refs/heads/main');
    assert.equal(resolveRefName('refs/heads/main', existing), 'refs/heads/main');
    assert.equal(resolveRefName('v1', existing), 'refs/tags/v1', 'a tag wins over a branch, as in git');
    assert.equal(resolveRefName('origin', existing), 'refs/remotes/origin/HEAD');
    assert.equal(resolveRefName('nope', existing), null);
    assert.equal(resolveRefName('refs/heads/nope', existing), null);
    assert.deepEqual(refCandidates('x'), ['refs/x', 'refs/tags/x', 'refs/heads/x', 'refs/remotes/x', 'refs/remotes/x/HEAD']);
  });
});

describe('checkpoint refs of managed branches', () => {
  it('knows which branch a checkpoint holds history for', async () => {
    const { checkpointBranch, checkpointsOfManagedBranches } = await import('../../src/plan/checkpoints.js');
    assert.equal(checkpointBranch('refs/gitsync/bootstrap/heads/main'), 'refs/heads/main');
    assert.equal(checkpointBranch('refs/gitsync/bootstrap/heads/feature/x'), 'refs/heads/feature/x');
    assert.equal(checkpointBranch('refs/gitsync/bootstrap/tips/feature/x/3-2'), 'refs/heads/feature/x');
    assert.equal(checkpointBranch('refs/gitsync/bootstrap/tips/main'), null);
    assert.equal(checkpointBranch('refs/gitsync/other/heads/main'), null);
    assert.equal(checkpointBranch('refs/heads/main'), null);
    const listing = refs({ 'refs/gitsync/bootstrap/heads/main': A, 'refs/gitsync/bootstrap/heads/dev': B, 'refs/heads/main': C });
    assert.deepEqual(checkpointsOfManagedBranches(listing, (branch) => branch === 'refs/heads/main').map((ref) => ref.name), ['refs/gitsync/bootstrap/heads/main']);
  });
});
