import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PackFormatError, PackTooLargeError } from '../../src/errors.js';
import { PackStreamCheck } from '../../src/pack/pack-stream-check.js';
import { emptyPack } from '../../src/pack/pack-writer.js';
import { createRepo } from '../helpers/fixtures.js';
import { gitRaw } from '../helpers/git.js';

function check(pack: Buffer, chunk: number, maxBytes?: number): ReturnType<PackStreamCheck['end']> {
  const checker = new PackStreamCheck({ maxBytes });
  for (let at = 0; at < pack.length; at += chunk) checker.write(pack.subarray(at, at + chunk));
  return checker.end();
}

describe('pack stream check (header and checksum only)', () => {
  it('accepts a real pack in any chunking and reports its size, count and checksum', async () => {
    const repo = await createRepo();
    for (let i = 0; i < 3; i++) await repo.commit('main', { files: { [`f${i}`]: `content ${i}\n` } });
    const pack = await gitRaw(['pack-objects', '--stdout', '--revs'], { cwd: repo.path, input: 'main\n' });
    for (const size of [1, 7, 4096]) {
      const summary = check(pack, size);
      assert.equal(summary.bytes, pack.length);
      assert.equal(summary.objectCount, pack.readUInt32BE(8));
      assert.equal(summary.checksum, pack.subarray(-20).toString('hex'));
    }
    assert.equal(check(emptyPack(), 5).objectCount, 0);
  });

  it('rejects a bad header, a truncated pack, a corrupted byte, and a pack over the limit', async () => {
    const pack = emptyPack();
    assert.throws(() => check(Buffer.from('PAKC\0\0\0\x02\0\0\0\0'), 64), PackFormatError);
    assert.throws(() => check(pack.subarray(0, 8), 64), /not even a header/);
    assert.throws(() => check(pack.subarray(0, pack.length - 1), 64), /checksum mismatch/);
    const corrupt = Buffer.from(pack);
    corrupt[20] = corrupt[20]! ^ 0xff;
    assert.throws(() => check(corrupt, 64), PackFormatError);
    assert.throws(() => check(pack, 4, 16), PackTooLargeError);
  });
});
