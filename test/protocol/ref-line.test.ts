import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesStartWith, lineStop, oidEnd, spaceOrStop } from '../../src/protocol/ref-line.js';

const sha1 = 'a'.repeat(40);
const sha256 = '0123456789abcdef'.repeat(4);

describe('ref line bytes', () => {
  it('oidEnd finds a 40- or 64-digit lowercase id followed by a space or the line end', () => {
    const line = Buffer.from(`xx${sha1} refs/heads/main`);
    assert.equal(oidEnd(line, 2, line.length), 42);
    assert.equal(oidEnd(Buffer.from(sha1), 0, 40), 40);
    assert.equal(oidEnd(Buffer.from(`${sha256} x`), 0, 66), 64);
    assert.equal(oidEnd(Buffer.from(`${sha1}\n`), 0, 40), 40, 'the stop given is where the id may end');
  });

  it('oidEnd refuses ids of another length, in uppercase, or run into other bytes', () => {
    for (const text of [`${'a'.repeat(39)} x`, `${'a'.repeat(41)} x`, `${'A'.repeat(40)} x`, `${sha1}x refs/heads/main`, `${sha1}\tx`, '', 'unborn HEAD', 'ERR no']) {
      const buffer = Buffer.from(text);
      assert.equal(oidEnd(buffer, 0, buffer.length), -1, JSON.stringify(text));
    }
  });

  it('lineStop drops one trailing newline; spaceOrStop and bytesStartWith stay within their bounds', () => {
    const line = Buffer.from('peeled:abc def\n');
    assert.equal(lineStop(line, 0, line.length), line.length - 1);
    assert.equal(lineStop(line, 0, 3), 3);
    assert.equal(lineStop(Buffer.alloc(0), 0, 0), 0);
    assert.equal(spaceOrStop(line, 0, line.length), 10);
    assert.equal(spaceOrStop(line, 11, 14), 14);
    assert.equal(spaceOrStop(line, 0, 5), 5, 'never past the stop');
    assert.ok(bytesStartWith(line, 0, 10, 'peeled:'));
    assert.ok(!bytesStartWith(line, 0, 6, 'peeled:'), 'not past the stop');
    assert.ok(!bytesStartWith(line, 1, 10, 'peeled:'));
    assert.ok(bytesStartWith(line, 11, 14, 'def'));
  });
});
