import { test } from 'node:test';
import assert from 'node:assert/strict';
import { branchNameProblem, isValidRefName, refNameProblem } from '../../src/plan/check-ref-format.js';

const valid = [
  'refs/heads/main',
  'refs/heads/feature/x',
  'refs/tags/v1.0',
  'refs/heads/a.b',
  'refs/heads/-x',
  'refs/heads/@',
  'refs/heads/a@b',
  'refs/heads/x.lockx',
  'refs/heads/lock',
  'refs/heads/é',
  'refs/heads/+x',
  'refs/pull/1/head',
  'refs/heads/a./b',
];

const invalid: Array<[string, string]> = [
  ['', 'is empty'],
  ['@', "is the single character '@'"],
  ['main', "has no '/' (a full name looks like refs/heads/main)"],
  ['refs/heads/a..b', "contains '..'"],
  ['refs/heads/..', "contains '..'"],
  ['refs/heads/a b', 'contains a space'],
  ['refs/heads/a~1', "contains '~'"],
  ['refs/heads/a^', "contains '^'"],
  ['refs/heads/a:b', "contains ':'"],
  ['refs/heads/a?', "contains '?'"],
  ['refs/heads/a*', "contains '*' (patterns are not supported)"],
  ['refs/heads/a[', "contains '['"],
  ['refs/heads/a\\b', "contains '\\'"],
  ['refs/heads/a\u0001', 'contains the control character 0x01'],
  ['refs/heads/a\u0000', 'contains the control character 0x00'],
  ['refs/heads/a\u007f', 'contains the control character 0x7f'],
  ['refs/heads/a\tb', 'contains the control character 0x09'],
  ['refs/heads/a@{1}', "contains '@{'"],
  ['/refs/heads/x', "begins with '/'"],
  ['refs/heads/x/', "ends with '/'"],
  ['refs/heads//x', "contains '//'"],
  ['refs/heads/x.', "ends with '.'"],
];

test('valid ref names pass git check-ref-format rules', () => {
  for (const name of valid) assert.equal(refNameProblem(name), null, name);
  for (const name of valid) assert.equal(isValidRefName(name), true, name);
});

test('components may not begin with a dot or end with .lock', () => {
  assert.equal(refNameProblem('refs/heads/.x'), "has a component beginning with '.' (.x)");
  assert.equal(refNameProblem('refs/heads/a/.b'), "has a component beginning with '.' (.b)");
  assert.equal(refNameProblem('refs/heads/.'), "ends with '.'");
  assert.equal(refNameProblem('refs/heads/x.lock'), "has a component ending with '.lock' (x.lock)");
  assert.equal(refNameProblem('refs/heads/x.lock/y'), "has a component ending with '.lock' (x.lock)");
  assert.equal(refNameProblem('refs/heads/.lock'), "has a component beginning with '.' (.lock)");
});

test('invalid ref names are refused with the rule they break', () => {
  for (const [name, problem] of invalid) {
    assert.equal(refNameProblem(name), problem, JSON.stringify(name));
    assert.equal(isValidRefName(name), false, JSON.stringify(name));
  }
});

test('one-level names are allowed only on request', () => {
  assert.equal(refNameProblem('HEAD', { allowOneLevel: true }), null);
  assert.equal(refNameProblem('@', { allowOneLevel: true }), "is the single character '@'");
});

test('branch short names follow git check-ref-format --branch', () => {
  const cases: Array<[string, string | null]> = [
    ['main', null],
    ['feature/x', null],
    ['-x', "begins with '-'"],
    ['HEAD', "is 'HEAD', which is never a managed ref"],
    ['', 'is empty'],
    ['a..b', "contains '..'"],
    ['x.lock', "has a component ending with '.lock' (x.lock)"],
    ['a@{1}', "contains '@{'"],
    ['a/', "ends with '/'"],
  ];
  for (const [name, problem] of cases) assert.equal(branchNameProblem(name), problem, name);
});
