import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { resolvePlanPolicy, type PlanFlags } from '../../src/plan/plan-policy.js';
import { parseBranchList, sourceRefPrefixes } from '../../src/plan/ref-scope.js';

const usageErrors: Array<[string, PlanFlags, string]> = [
  [
    '--all-refs with --branch',
    { mode: 'sync', allRefs: true, branches: ['main'] },
    '--all-refs cannot be combined with --branch; drop one (use --branch with --tags for branches and tags)',
  ],
  [
    'both force flags',
    { mode: 'sync', forceWithLease: true, forceBlind: true },
    '--force-with-lease and --force-blind are exclusive; pass one (--force-with-lease is the safe choice)',
  ],
  [
    'bootstrap with --prune',
    { mode: 'bootstrap', prune: true },
    '--prune does not apply to bootstrap, which only creates refs; use sync --prune',
  ],
  [
    'bootstrap with --force-with-lease',
    { mode: 'bootstrap', forceWithLease: true },
    '--force-with-lease does not apply to bootstrap, which only creates refs; use sync with it',
  ],
  [
    'bootstrap with --force-blind',
    { mode: 'bootstrap', forceBlind: true },
    '--force-blind does not apply to bootstrap, which only creates refs; use sync with it',
  ],
  [
    'a branch both listed and mapped',
    { mode: 'sync', branches: ['main,dev'], maps: ['main:stable'] },
    "refs/heads/main is listed in --branch and mapped by --map 'main:stable'; a source has one target, drop it from --branch",
  ],
  [
    'a listed branch that is also a map target',
    { mode: 'sync', branches: ['stable'], maps: ['main:stable'] },
    "refs/heads/stable would receive both the branch listed in --branch and --map 'main:stable'; drop one of them",
  ],
  ['--branch with a full name', { mode: 'sync', branches: ['refs/heads/main'] }, "--branch takes short names: write 'main' instead of 'refs/heads/main'"],
  ['--branch with an empty name', { mode: 'sync', branches: ['a,,b'] }, "--branch 'a,,b' has an empty name; list short branch names separated by commas"],
  ['--branch with an invalid name', { mode: 'sync', branches: ['a..b'] }, "--branch 'a..b' is not a valid branch name: it contains '..'"],
  ['--branch with no names', { mode: 'sync', branches: [] }, '--branch needs at least one branch name'],
  [
    '--exclude-ref-prefix outside refs/',
    { mode: 'sync', excludeRefPrefixes: ['pull/'] },
    "--exclude-ref-prefix 'pull/' must start with refs/ (for example refs/pull/)",
  ],
  ['a bad --map', { mode: 'sync', maps: ['main'] }, "--map 'main' must have exactly one ':' between source and target, e.g. --map main:stable"],
];

test('conflicting or malformed flags are usage errors', () => {
  for (const [name, flags, message] of usageErrors) {
    assert.throws(() => resolvePlanPolicy(flags), (error: unknown) => {
      assert.ok(error instanceof UsageError, name);
      assert.equal(error.code, 'USAGE', name);
      assert.equal(error.message, message, name);
      return true;
    });
  }
});

test('force flags, prune and best effort resolve per mode', () => {
  const cases: Array<[PlanFlags, { force: string; prune: boolean; bestEffort: boolean }]> = [
    [{ mode: 'sync' }, { force: 'none', prune: false, bestEffort: false }],
    [{ mode: 'sync', forceWithLease: true, prune: true }, { force: 'lease', prune: true, bestEffort: false }],
    [{ mode: 'sync', forceBlind: true }, { force: 'blind', prune: false, bestEffort: false }],
    [{ mode: 'sync', allRefs: true }, { force: 'none', prune: false, bestEffort: true }],
    [{ mode: 'bootstrap', allRefs: true }, { force: 'none', prune: false, bestEffort: true }],
    [{ mode: 'replicate', allRefs: true, prune: true }, { force: 'none', prune: true, bestEffort: false }],
  ];
  for (const [flags, expected] of cases) {
    const policy = resolvePlanPolicy(flags);
    assert.deepEqual({ force: policy.force, prune: policy.prune, bestEffort: policy.bestEffort }, expected, JSON.stringify(flags));
  }
});

test('scope shapes: all branches, listed branches, mapped only, tags implied by --all-refs', () => {
  assert.equal(resolvePlanPolicy({ mode: 'sync' }).scope.branches, 'all');
  assert.deepEqual(resolvePlanPolicy({ mode: 'sync', branches: ['a,b', 'a', ' c '] }).scope.branches, [
    'refs/heads/a',
    'refs/heads/b',
    'refs/heads/c',
  ]);
  assert.equal(resolvePlanPolicy({ mode: 'sync', maps: ['main:stable'] }).scope.branches, 'mapped-only');
  const allRefs = resolvePlanPolicy({ mode: 'sync', allRefs: true }).scope;
  assert.equal(allRefs.tags, true);
  assert.equal(allRefs.allRefs, true);
  assert.equal(resolvePlanPolicy({ mode: 'sync', branches: ['main'], maps: ['main:main'] }).scope.maps.length, 1);
});

test('branch lists split on commas and deduplicate', () => {
  assert.deepEqual(parseBranchList(['main,dev', 'dev', 'feature/x']), ['main', 'dev', 'feature/x']);
});

test('ls-refs prefixes cover the scope and HEAD, without redundant entries', () => {
  const prefixes = (flags: PlanFlags): string[] => sourceRefPrefixes(resolvePlanPolicy(flags).scope);
  assert.deepEqual(prefixes({ mode: 'sync' }), ['HEAD', 'refs/heads/']);
  assert.deepEqual(prefixes({ mode: 'sync', branches: ['a'], tags: true }), ['HEAD', 'refs/heads/a', 'refs/tags/']);
  assert.deepEqual(prefixes({ mode: 'sync', maps: ['main:stable', 'refs/tags/v1:refs/tags/r1'], tags: true }), [
    'HEAD',
    'refs/tags/',
    'refs/heads/main',
  ]);
  assert.deepEqual(prefixes({ mode: 'sync', allRefs: true, maps: ['main:stable'] }), ['HEAD', 'refs/']);
});
