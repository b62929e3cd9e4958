import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizePlans } from '../../src/plan/plan-summary.js';
import type { RefPlan } from '../../src/plan/plan-types.js';
import { applyTargetRejections } from '../../src/plan/target-rejections.js';
import { A, B } from './fixtures.js';

const plans: RefPlan[] = [
  { branch: 'a', sourceRef: 'refs/heads/a', targetRef: 'refs/heads/a', sourceHash: A, targetHash: null, kind: 'branch', action: 'create', reason: '1a2b3c4d -> new', forced: false },
  { branch: null, sourceRef: 'refs/pull/1/head', targetRef: 'refs/pull/1/head', sourceHash: A, targetHash: B, kind: 'other', action: 'update', reason: '5e6f7a8b -> 1a2b3c4d (forced)', forced: true },
  { branch: 'c', sourceRef: 'refs/heads/c', targetRef: 'refs/heads/c', sourceHash: A, targetHash: A, kind: 'branch', action: 'skip', reason: '1a2b3c4d already current', forced: false },
  { branch: 'd', sourceRef: null, targetRef: 'refs/heads/d', sourceHash: null, targetHash: B, kind: 'branch', action: 'delete', reason: '5e6f7a8b -> deleted', forced: false },
  { branch: 'e', sourceRef: 'refs/heads/e', targetRef: 'refs/heads/e', sourceHash: A, targetHash: B, kind: 'branch', action: 'block', reason: '5e6f7a8b is not an ancestor of 1a2b3c4d', forced: false },
];

test('rejected commands become warnings carrying the server reason; others are untouched', () => {
  const rejections = new Map([
    ['refs/pull/1/head', 'deny updating a hidden ref'],
    ['refs/heads/c', 'ignored: nothing was sent'],
    ['refs/heads/d', 'deletion prohibited'],
    ['refs/heads/unknown', 'not in the plan'],
  ]);
  const result = applyTargetRejections(plans, rejections);
  assert.deepEqual(result, [
    plans[0],
    { branch: null, sourceRef: 'refs/pull/1/head', targetRef: 'refs/pull/1/head', sourceHash: A, targetHash: B, kind: 'other', action: 'warn', reason: 'target rejected: deny updating a hidden ref', forced: true },
    plans[2],
    { branch: 'd', sourceRef: null, targetRef: 'refs/heads/d', sourceHash: null, targetHash: B, kind: 'branch', action: 'warn', reason: 'target rejected: deletion prohibited', forced: false },
    plans[4],
  ]);
  assert.equal(plans[1]?.action, 'update', 'the input is not modified');
  assert.deepEqual(summarizePlans(result), { pushed: 1, deleted: 0, skipped: 1, blocked: 1, warned: 2 });
});

test('summary counts pushed as creates plus updates', () => {
  assert.deepEqual(summarizePlans(plans), { pushed: 2, deleted: 1, skipped: 1, blocked: 1, warned: 0 });
  assert.deepEqual(summarizePlans([]), { pushed: 0, deleted: 0, skipped: 0, blocked: 0, warned: 0 });
});
