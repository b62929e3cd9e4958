import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeControlCharacters, escapeJsonText } from '../../src/observe/terminal-text.js';

describe('terminal text (observe/terminal-text.ts)', () => {
  it('shows C0 controls and DEL in caret notation', () => {
    const cases: Array<[string, string]> = [
      ['\u001b]0;title\u0007', '^[]0;title^G'],
      ['a\rb', 'a^Mb'],
      ['a\nb', 'a^Jb'],
      ['a\tb', 'a^Ib'],
      ['\u0000', '^@'],
      ['\u001f', '^_'],
      ['\u007f', '^?'],
      ['\u001b[31mred\u001b[0m', '^[[31mred^[[0m'],
    ];
    for (const [raw, shown] of cases) assert.equal(escapeControlCharacters(raw), shown, JSON.stringify(raw));
  });

  it('shows C1 controls, line separators and bidirectional controls as <U+XXXX>', () => {
    assert.equal(escapeControlCharacters('\u009b31m'), '<U+009B>31m');
    assert.equal(escapeControlCharacters('\u0080\u009f'), '<U+0080><U+009F>');
    assert.equal(escapeControlCharacters('a\u2028b\u2029c'), 'a<U+2028>b<U+2029>c');
    assert.equal(escapeControlCharacters('txt\u202eexe.sh'), 'txt<U+202E>exe.sh');
    assert.equal(escapeControlCharacters('\u2066\u2069\u200e\u200f\u061c'), '<U+2066><U+2069><U+200E><U+200F><U+061C>');
  });

  it('leaves printable text alone, non-ASCII letters and emoji included', () => {
    for (const text of ['refs/heads/main', 'refs/heads/é', 'Ünïcödé 🚀 ^[ <U+009B>', '', 'a ~ ^ : ? * [ \\']) {
      assert.equal(escapeControlCharacters(text), text);
    }
  });

  it('keeps line feeds only when asked', () => {
    assert.equal(escapeControlCharacters('one\ntwo\r\n', { keepNewlines: true }), 'one\ntwo^M\n');
    assert.equal(escapeControlCharacters('one\ntwo', { keepNewlines: false }), 'one^Jtwo');
  });

  it('escapes every character the same way on repeated calls (no regex state carried over)', () => {
    for (let i = 0; i < 3; i++) assert.equal(escapeControlCharacters('x\u001by\u001bz'), 'x^[y^[z');
  });

  it('writes what JSON.stringify leaves raw as \\u escapes: the text parses to the same values', () => {
    const value = { name: 'refs/heads/a\u009b31m\u202e', del: '\u007f', esc: '\u001b[2J', sep: '\u2028' };
    const json = escapeJsonText(JSON.stringify(value));
    assert.doesNotMatch(json, /[\u0000-\u001f\u007f-\u009f\u2028\u202e]/);
    assert.match(json, /a\\u009b31m\\u202e/);
    assert.deepEqual(JSON.parse(json), value);
    assert.equal(escapeJsonText('{"plain":"text"}'), '{"plain":"text"}');
  });
});
