import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitRefLine } from '../../src/protocol/ref-line.js';

const oid = 'a'.repeat(40);

describe('splitRefLine', () => {
  it('splits hash, name and what follows, newline dropped', () => {
    assert.deepEqual(splitRefLine(Buffer.from(`${oid} refs/heads/main\n`)), { hash: oid, name: 'refs/heads/main', rest: null });
    assert.deepEqual(splitRefLine(Buffer.from(`${oid} HEAD symref-target:refs/heads/main peeled:${oid}\n`)), {
      hash: oid,
      name: 'HEAD',
      rest: `symref-target:refs/heads/main peeled:${oid}`,
    });
    assert.deepEqual(splitRefLine(Buffer.from(`${oid} refs/tags/v1`)), { hash: oid, name: 'refs/tags/v1', rest: null });
  });

  it('decodes names as UTF-8 and leaves malformed lines to the caller (empty parts)', () => {
    assert.equal(splitRefLine(Buffer.from(`${oid} refs/heads/caf\u00e9\n`)).name, 'refs/heads/caf\u00e9');
    assert.deepEqual(splitRefLine(Buffer.from(`${oid}\n`)), { hash: oid, name: '', rest: null });
    assert.deepEqual(splitRefLine(Buffer.from(`${oid}  x\n`)), { hash: oid, name: '', rest: 'x' });
    assert.deepEqual(splitRefLine(Buffer.from(`${oid} \n`)), { hash: oid, name: '', rest: null });
    assert.deepEqual(splitRefLine(Buffer.alloc(0)), { hash: '', name: '', rest: null });
  });
});
