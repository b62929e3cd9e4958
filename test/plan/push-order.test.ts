import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { ancestryFromMap, ancestryKey } from '../../src/plan/ancestry-questions.js';
import { planActions } from '../../src/plan/plan-actions.js';
import { chunkRefCommands, DEFAULT_MAX_REF_UPDATES } from '../../src/plan/push-chunks.js';
import { orderForPush } from '../../src/plan/push-order.js';
import { A, B, C, input } from './fixtures.js';

const source = {
  'refs/heads/b': A,
  'refs/heads/main': A,
  'refs/heads/a': A,
  'refs/heads/same': C,
  'refs/tags/v2': A,
  'refs/tags/v1': A,
  'refs/notes/x': A,
  'refs/heads/upd': A,
};
const target = { 'refs/heads/same': C, 'refs/heads/zzz': B, 'refs/heads/upd': B, 'refs/tags/old': B };

function plans(flags: Parameters<typeof input>[0]) {
  return planActions({ ...input(flags, source, target), ancestry: ancestryFromMap(new Map([[ancestryKey(B, A), 'ancestor']])) });
}

test('deletes first, then the source HEAD branch, branches, tags, other refs, each sorted', () => {
  const ordered = orderForPush(plans({ mode: 'sync', allRefs: true, prune: true }), 'refs/heads/main');
  assert.deepEqual(
    ordered.map((plan) => `${plan.action} ${plan.targetRef}`),
    [
      'delete refs/heads/zzz',
      'delete refs/tags/old',
      'create refs/heads/main',
      'create refs/heads/a',
      'create refs/heads/b',
      'update refs/heads/upd',
      'create refs/tags/v1',
      'create refs/tags/v2',
      'create refs/notes/x',
    ],
  );
});

test('the HEAD branch goes first under its mapped name; without a HEAD branches are just sorted', () => {
  const mapped = orderForPush(plans({ mode: 'sync', maps: ['main:stable', 'a:alpha'] }), 'refs/heads/main');
  assert.deepEqual(mapped.map((plan) => plan.targetRef), ['refs/heads/stable', 'refs/heads/alpha']);
  const headless = orderForPush(plans({ mode: 'bootstrap', branches: ['main,b,a'] }), null);
  assert.deepEqual(headless.map((plan) => plan.targetRef), ['refs/heads/a', 'refs/heads/b', 'refs/heads/main']);
});

test('commands are split into chunks of at most the limit, order kept', () => {
  assert.deepEqual(chunkRefCommands([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(chunkRefCommands([1, 2], 2), [[1, 2]]);
  assert.deepEqual(chunkRefCommands([], 2), []);
  assert.equal(DEFAULT_MAX_REF_UPDATES, 5000);
  const many = Array.from({ length: 10_001 }, (_, index) => index);
  assert.deepEqual(chunkRefCommands(many).map((chunk) => chunk.length), [5000, 5000, 1]);
  assert.equal(chunkRefCommands(many)[2]?.[0], 10_000);
});

test('a chunk size below 1 or not whole is a usage error', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => chunkRefCommands([1], bad), (error: unknown) => error instanceof UsageError && /--target-max-ref-updates must be a whole number of at least 1/.test(error.message));
  }
});
