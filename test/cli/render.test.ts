/**
 * The CLI's text rendering (src/cli/render.ts). `textOf` scans the whole text once and escapes
 * line by line only when that scan finds something: the result must be what escaping every
 * line on its own gives, for any lines at all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { textOf } from '../../src/cli/render.js';
import { escapeControlCharacters } from '../../src/observe/terminal-text.js';
import { fuzzParameters } from '../helpers/fuzz.js';

/** The definition: each line escaped on its own, joined, ended. */
function eachLineEscaped(lines: readonly string[]): string {
  return `${lines.map((line) => escapeControlCharacters(line)).join('\n')}\n`;
}

describe('textOf (cli/render.ts)', () => {
  it('is each line escaped on its own, for plain lines and for lines with control characters or line feeds', () => {
    const cases: string[][] = [
      [],
      [''],
      ['', ''],
      ['SKIP refs/heads/main - 1a2b3c4d already current', 'summary: sync pushed=0'],
      ['one\ntwo', 'three'],
      ['a', 'b\n'],
      ['\n'],
      ['refs/heads/\u001b]0;x\u0007', 'fine'],
      ['fine', 'txt\u202eexe'],
      ['a\r', 'b'],
      ['Ünïcödé 🚀', '^[ <U+009B>'],
    ];
    for (const lines of cases) assert.equal(textOf(lines), eachLineEscaped(lines), JSON.stringify(lines));
  });

  it('is each line escaped on its own, for any lines (property)', () => {
    const character = fc.oneof(
      fc.constantFrom('\n', '\r', '\u001b', '\u0000', '\u007f', '\u009b', '\u2028', '\u202e', '\u061c', 'a', ' ', '/', 'é'),
      fc.string({ maxLength: 3 }),
    );
    const line = fc.array(character, { maxLength: 8 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
        assert.equal(textOf(lines), eachLineEscaped(lines));
      }),
      fuzzParameters(2000),
    );
  });
});
