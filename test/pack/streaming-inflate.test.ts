import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { PackFormatError } from '../../src/errors.js';
import { StreamingInflate } from '../../src/pack/streaming-inflate.js';
import { pseudoRandomBytes } from '../helpers/fixtures.js';

describe('streaming inflate', () => {
  const content = pseudoRandomBytes(700_000, 'inflate');
  const compressed = deflateSync(content);

  function collector(): { inflate: StreamingInflate; output: () => Buffer } {
    const chunks: Buffer[] = [];
    return { inflate: new StreamingInflate((chunk) => chunks.push(chunk)), output: () => Buffer.concat(chunks) };
  }

  it('says how many bytes of the last piece follow the end of the stream', async () => {
    const { inflate, output } = collector();
    assert.equal(await inflate.feed(compressed.subarray(0, 100_000)), -1);
    assert.equal(await inflate.feed(Buffer.concat([compressed.subarray(100_000), Buffer.from('next entry')])), 10);
    assert.equal(inflate.consumed, compressed.length);
    assert.deepEqual(output(), content);
  });

  it('notices the end on the next piece when the stream ends exactly at a piece boundary', async () => {
    const { inflate, output } = collector();
    assert.equal(await inflate.feed(compressed), -1);
    assert.equal(await inflate.feed(Buffer.from('after')), 5);
    assert.deepEqual(output(), content);
  });

  it('completes on finish() when the input ends with the stream, and rejects a truncated one', async () => {
    const whole = collector();
    await whole.inflate.feed(compressed);
    await whole.inflate.finish();
    assert.deepEqual(whole.output(), content);

    const cut = collector();
    await cut.inflate.feed(compressed.subarray(0, 1000));
    await assert.rejects(cut.inflate.finish(), { code: 'Z_BUF_ERROR' });
  });

  it('rejects corrupt data, and a pending feed with the reason given to abort()', async () => {
    const corrupt = Buffer.from(compressed);
    corrupt[0] = 0;
    await assert.rejects(collector().inflate.feed(corrupt), { code: 'Z_DATA_ERROR' });

    const aborted = collector();
    const feeding = aborted.inflate.feed(compressed);
    aborted.inflate.abort(new PackFormatError('too big'));
    await assert.rejects(feeding, PackFormatError);
  });
});
