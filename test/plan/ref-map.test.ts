import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { parseRefMapping, parseRefMappings } from '../../src/plan/ref-map.js';

test('short names map branches, full names map within their kind', () => {
  const cases: Array<[string, { source: string; target: string; kind: string }]> = [
    ['main:stable', { source: 'refs/heads/main', target: 'refs/heads/stable', kind: 'branch' }],
    ['feature/x:release/x', { source: 'refs/heads/feature/x', target: 'refs/heads/release/x', kind: 'branch' }],
    ['refs/heads/x:refs/heads/y', { source: 'refs/heads/x', target: 'refs/heads/y', kind: 'branch' }],
    ['refs/tags/a:refs/tags/b', { source: 'refs/tags/a', target: 'refs/tags/b', kind: 'tag' }],
    ['refs/notes/a:refs/notes/b', { source: 'refs/notes/a', target: 'refs/notes/b', kind: 'other' }],
    ['main:main', { source: 'refs/heads/main', target: 'refs/heads/main', kind: 'branch' }],
  ];
  for (const [spec, expected] of cases) {
    assert.deepEqual(parseRefMapping(spec), { spec, ...expected }, spec);
  }
});

const refused: Array<[string, RegExp]> = [
  ['main', /--map 'main' must have exactly one ':' between source and target/],
  ['a:b:c', /exactly one ':'/],
  [':stable', /needs a name on both sides of ':'/],
  ['main:', /needs a name on both sides of ':'/],
  ['main:refs/heads/stable', /mixes a short and a full ref name/],
  ['refs/heads/main:stable', /mixes a short and a full ref name/],
  ['refs/heads/a:refs/tags/a', /maps a branch onto a tag; map within one kind/],
  ['refs/tags/a:refs/heads/a', /maps a tag onto a branch/],
  ['refs/heads/a:refs/notes/a', /maps a branch onto a non-branch, non-tag ref/],
  ['ma..in:stable', /branch name 'ma\.\.in' contains '\.\.'/],
  ['main:st able', /branch name 'st able' contains a space/],
  ['-x:y', /branch name '-x' begins with '-'/],
  ['HEAD:y', /branch name 'HEAD' is 'HEAD'/],
  ['refs/heads/x.lock:refs/heads/y', /ref name 'refs\/heads\/x\.lock' has a component ending with '\.lock'/],
  ['refs/heads/a@{1}:refs/heads/b', /contains '@\{'/],
  ['refs/heads/*:refs/heads/*', /patterns are not supported/],
  ['refs/heads/x/:refs/heads/y', /ends with '\/'/],
  ['+main:stable', /leading '\+' is refspec syntax.*--force-with-lease/],
];

test('bad --map entries are usage errors saying what to do', () => {
  for (const [spec, message] of refused) {
    assert.throws(() => parseRefMapping(spec), (error: unknown) => {
      assert.ok(error instanceof UsageError, spec);
      assert.equal(error.code, 'USAGE');
      assert.match(error.message, message, spec);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  }
});

test('two sources onto one target are refused', () => {
  assert.throws(
    () => parseRefMappings(['main:stable', 'dev:stable']),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message ===
        "--map 'main:stable' and --map 'dev:stable' both write refs/heads/stable; two sources cannot share one target, keep one entry",
  );
});

test('the same source mapped twice is refused', () => {
  assert.throws(
    () => parseRefMappings(['main:stable', 'refs/heads/main:refs/heads/prod']),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message ===
        "--map 'main:stable' and --map 'refs/heads/main:refs/heads/prod' map the same source refs/heads/main twice; a source has one target, keep one entry",
  );
});

test('an exact repeat of one mapping is harmless and kept once', () => {
  const mappings = parseRefMappings(['main:stable', 'refs/heads/main:refs/heads/stable', 'dev:next']);
  assert.deepEqual(
    mappings.map((mapping) => [mapping.source, mapping.target]),
    [
      ['refs/heads/main', 'refs/heads/stable'],
      ['refs/heads/dev', 'refs/heads/next'],
    ],
  );
});
