/**
 * Fuzz properties of the ref-name checks (docs/testing.md, "Fuzzing"): any string at all gets an
 * answer, never an exception; the answers are consistent with each other; and on names built
 * from the characters and sequences the rules are about, they agree with `git check-ref-format`
 * itself (a sample: one git process per name).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { branchNameProblem, isValidRefName, refNameProblem } from '../../src/plan/check-ref-format.js';
import { fuzzParameters } from '../helpers/fuzz.js';

/** Pieces of names: plain text, and every character and sequence git's rules single out. */
const pieceArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('refs', 'heads', 'a', 'b1', 'x-y', '/', '.', '..', '.lock', 'lock', '@', '@{', '{', '}', '-', '_') },
  { weight: 2, arbitrary: fc.constantFrom(' ', '~', '^', ':', '?', '*', '[', ']', '\\', '\x7f', '\x01', '\x1f', '\t', 'é', '\u{1F600}', '!', '#', '%', '+', ',', ';', '=') },
);

const nameArb = fc.array(pieceArb, { minLength: 1, maxLength: 8 }).map((pieces) => pieces.join(''));

function gitAccepts(name: string, allowOneLevel: boolean): boolean {
  const args = ['check-ref-format', ...(allowOneLevel ? ['--allow-onelevel'] : []), name];
  const result = spawnSync('git', args, { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' } });
  if (result.status !== 0 && result.status !== 1) throw new Error(`git check-ref-format ${JSON.stringify(name)} exited ${result.status}`);
  return result.status === 0;
}

describe('ref-name checks (fuzz)', () => {
  it('answer any string at all (lone surrogates, NUL, control characters) without throwing, consistently', () => {
    fc.assert(
      fc.property(fc.oneof(nameArb, fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 40 })), (name) => {
        const strict = refNameProblem(name);
        const oneLevel = refNameProblem(name, { allowOneLevel: true });
        assert.ok(strict === null || (typeof strict === 'string' && strict.length > 0));
        assert.equal(isValidRefName(name), strict === null);
        // Allowing one-level names only ever accepts more.
        if (strict === null) assert.equal(oneLevel, null);
        if (oneLevel === null && strict !== null) assert.ok(!name.includes('/'));
        const branch = branchNameProblem(name);
        assert.ok(branch === null || branch.length > 0);
        if (branch === null) assert.equal(refNameProblem(`refs/heads/${name}`), null);
      }),
      fuzzParameters(3000),
    );
  });

  it('agree with git check-ref-format on names made of the characters its rules are about', () => {
    fc.assert(
      fc.property(nameArb.filter((name) => !name.startsWith('-')), fc.boolean(), (name, allowOneLevel) => {
        assert.equal(refNameProblem(name, { allowOneLevel }) === null, gitAccepts(name, allowOneLevel), `${JSON.stringify(name)}: ${refNameProblem(name, { allowOneLevel })}`);
      }),
      fuzzParameters(150, { maxRuns: 3000 }),
    );
  });
});
