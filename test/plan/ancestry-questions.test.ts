import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ancestryFromMap, ancestryKey, ancestryQuestions } from '../../src/plan/ancestry-questions.js';
import { A, B, C, input } from './fixtures.js';

test('only branches present on both sides with different tips ask a question, once per hash pair', () => {
  const questions = ancestryQuestions(
    input(
      { mode: 'sync', allRefs: true },
      { 'refs/heads/b': A, 'refs/heads/a': A, 'refs/heads/c': A, 'refs/heads/same': C, 'refs/heads/new': A, 'refs/tags/v1': A, 'refs/notes/x': A },
      { 'refs/heads/b': B, 'refs/heads/a': B, 'refs/heads/c': C, 'refs/heads/same': C, 'refs/tags/v1': B, 'refs/notes/x': B },
    ),
  );
  assert.deepEqual(questions, [
    { targetRef: 'refs/heads/a', targetHash: B, sourceHash: A },
    { targetRef: 'refs/heads/c', targetHash: C, sourceHash: A },
  ]);
});

test('mapped branches are asked about under their target name', () => {
  const questions = ancestryQuestions(input({ mode: 'sync', maps: ['main:stable'] }, { 'refs/heads/main': A }, { 'refs/heads/stable': B }));
  assert.deepEqual(questions, [{ targetRef: 'refs/heads/stable', targetHash: B, sourceHash: A }]);
});

test('replicate asks too (to report forced accurately); bootstrap never does', () => {
  const source = { 'refs/heads/main': A };
  const target = { 'refs/heads/main': B };
  assert.equal(ancestryQuestions(input({ mode: 'replicate' }, source, target)).length, 1);
  assert.deepEqual(ancestryQuestions(input({ mode: 'bootstrap' }, source, target)), []);
});

test('answers are looked up by (target, source) hash pair', () => {
  const oracle = ancestryFromMap(new Map([[ancestryKey(B, A), 'ancestor' as const]]));
  assert.equal(oracle(B, A), 'ancestor');
  assert.equal(oracle(A, B), undefined);
  assert.equal(ancestryKey(B, A), `${B}..${A}`);
});
