import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError, RemoteError } from '../../src/errors.js';
import { FLUSH_PKT, PktLineReader, pktLine } from '../../src/wire/pktline.js';
import { MAX_PROGRESS_MESSAGE, ProgressSplitter, demuxSideband } from '../../src/wire/sideband.js';
import { chunked, collect } from '../helpers/streams.js';

function band(n: number, payload: string | Buffer): Buffer {
  return pktLine(Buffer.concat([Buffer.from([n]), Buffer.isBuffer(payload) ? payload : Buffer.from(payload)]));
}

describe('sideband demultiplexer', () => {
  it('yields band 1, sends band 2 to the progress callback split on \\r and \\n, stops at flush', async () => {
    const bytes = Buffer.concat([
      band(2, 'Counting: 50%\rCoun'),
      band(1, 'PACK'),
      band(2, 'ting: 100%\n'),
      band(1, 'rest'),
      FLUSH_PKT,
      pktLine('after'),
    ]);
    const progress: string[] = [];
    const reader = new PktLineReader(chunked(bytes, 3));
    const data = await collect(demuxSideband(reader, { onProgress: (m, transient) => progress.push(`${m}${transient ? ' (in place)' : ''}`) }));
    assert.equal(data.toString(), 'PACKrest');
    assert.deepEqual(progress, ['Counting: 50% (in place)', 'Counting: 100%']);
    assert.equal((await reader.read())?.type, 'data', 'bytes after the flush stay unread');
  });

  it('turns band 3 into a RemoteError with the server text', async () => {
    const bytes = Buffer.concat([band(1, 'PA'), band(3, 'upload-pack: not our ref 1234\n')]);
    await assert.rejects(collect(demuxSideband(new PktLineReader(chunked(bytes, 7)))), (error: unknown) => {
      assert.ok(error instanceof RemoteError);
      assert.equal(error.remoteMessage, 'upload-pack: not our ref 1234');
      return true;
    });
  });

  it('turns an ERR packet in place of a sideband packet into a RemoteError (a push report, a pack)', async () => {
    const bytes = Buffer.concat([band(1, 'PA'), pktLine('ERR no space left on device\n'), band(1, 'CK')]);
    await assert.rejects(collect(demuxSideband(new PktLineReader(chunked(bytes, 5)))), (error: unknown) => {
      assert.ok(error instanceof RemoteError);
      assert.equal(error.remoteMessage, 'no space left on device');
      return true;
    });
  });

  it('rejects an unknown band and an empty packet', async () => {
    await assert.rejects(collect(demuxSideband(new PktLineReader(chunked(band(4, 'x'), 64)))), ProtocolError);
    await assert.rejects(collect(demuxSideband(new PktLineReader(chunked(Buffer.from('0004'), 64)))), ProtocolError);
  });

  it('works with 1000-byte side-band packets as well as 64k ones', async () => {
    const payload = Buffer.alloc(999, 1);
    const big = Buffer.alloc(65515, 2);
    const bytes = Buffer.concat([band(1, payload), band(1, big), FLUSH_PKT]);
    const data = await collect(demuxSideband(new PktLineReader(chunked(bytes, 4096))));
    assert.equal(data.length, 999 + 65515);
  });

  // Regression: text without \r or \n was held whole and rescanned at every packet, so 64 MB of
  // it took 38 s (quadratic) and 64 MB of memory.
  it('passes on progress text without line ends in pieces, in time linear in its length', () => {
    const messages: string[] = [];
    const splitter = new ProgressSplitter((m) => messages.push(m));
    const piece = 'a'.repeat(65515);
    const started = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) splitter.push(piece);
    splitter.push('b\rdone\n');
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(elapsed < 5000, `${elapsed} ms`);
    assert.ok(messages.every((m) => m.length <= MAX_PROGRESS_MESSAGE));
    assert.equal(messages.join('').length, 1000 * 65515 + 'bdone'.length);
    assert.deepEqual(messages.slice(-2).map((m) => m.slice(-5)), ['aaaab', 'done']);
  });
});
