import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PktLineError } from '../../src/errors.js';
import { DELIM_PKT, FLUSH_PKT, MAX_PKT_PAYLOAD, PktLineReader, RESPONSE_END_PKT, packetText, pktLine } from '../../src/wire/pktline.js';
import { chunked, collect } from '../helpers/streams.js';

function reader(bytes: string | Buffer, chunkSize = 1 << 16): PktLineReader {
  return new PktLineReader(chunked(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1'), chunkSize));
}

/** Runs `body` with Buffer.concat counted: the bytes it joined (copied) meanwhile. */
async function bytesJoinedDuring(body: () => Promise<void>): Promise<number> {
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], totalLength?: number) => {
    const joined = concat(list, totalLength);
    copied += joined.length;
    return joined;
  }) as typeof Buffer.concat;
  try {
    await body();
  } finally {
    Buffer.concat = concat;
  }
  return copied;
}

describe('pkt-line writer', () => {
  it('frames text with a four-digit hex length that counts itself', () => {
    assert.equal(pktLine('want abc\n').toString(), '000dwant abc\n');
    assert.equal(pktLine('').toString(), '0004');
  });

  it('refuses payloads longer than 65516 bytes', () => {
    assert.equal(pktLine(Buffer.alloc(MAX_PKT_PAYLOAD)).length, 65520);
    assert.throws(() => pktLine(Buffer.alloc(MAX_PKT_PAYLOAD + 1)), PktLineError);
  });
});

describe('pkt-line reader', () => {
  it('reads data, flush, delim, response-end and the empty packet, across any chunking', async () => {
    const bytes = Buffer.concat([pktLine('hello\n'), FLUSH_PKT, pktLine('x'), DELIM_PKT, Buffer.from('0004'), RESPONSE_END_PKT]);
    for (const size of [1, 2, 3, 5, 64]) {
      const r = reader(bytes, size);
      const seen: string[] = [];
      for (let p = await r.read(); p !== null; p = await r.read()) seen.push(p.type === 'data' ? `data:${packetText(p)}` : p.type);
      assert.deepEqual(seen, ['data:hello', 'flush', 'data:x', 'delim', 'data:', 'response-end'], `chunk size ${size}`);
    }
  });

  it('readBuffered gives what the buffer already holds, never waits, and agrees with read()', async () => {
    const bytes = Buffer.concat([pktLine('one\n'), pktLine('two\n'), FLUSH_PKT, pktLine('three')]);
    const r = reader(bytes, 12);
    assert.equal(r.readBuffered(), undefined, 'nothing buffered before the first read');
    const first = await r.read();
    assert.equal(first?.type === 'data' && packetText(first), 'one');
    // 12-byte chunks: the first held "0008one\n" and the start of "0008two\n".
    assert.equal(r.readBuffered(), undefined, 'the second packet is only partly buffered');
    const second = await r.read();
    assert.equal(second?.type === 'data' && packetText(second), 'two');
    assert.deepEqual(r.readBuffered() ?? (await r.read()), { type: 'flush' });
    const third = r.readBuffered() ?? (await r.read());
    assert.equal(third?.type === 'data' && packetText(third), 'three');
    assert.equal(r.readBuffered(), undefined);
    assert.equal(await r.read(), null);
    await assert.rejects(reader('00zz').read(), /invalid pkt-line length header "00zz"/);
    await assert.rejects(reader('0003').read(), /0003/);
  });

  it('visitBufferedData hands over the whole data packets buffered, stops at anything else, and tells onPacket once', async () => {
    const bytes = Buffer.concat([pktLine('one\n'), pktLine('two\n'), pktLine('three\n'), FLUSH_PKT, pktLine('four'), Buffer.from('00zz')]);
    let told = 0;
    const r = new PktLineReader(chunked(bytes, 20), { onPacket: () => (told += 1) });
    const seen: string[] = [];
    const visit = (buffer: Buffer, start: number, end: number): void => void seen.push(buffer.toString('latin1', start, end));
    assert.equal(r.visitBufferedData(visit), 0, 'nothing buffered before the first read');
    const first = await r.read();
    assert.equal(first?.type === 'data' && packetText(first), 'one');
    told = 0;
    // 20-byte chunks: the first held "0008one\n0008two\n" and the start of "000athree\n".
    assert.equal(r.visitBufferedData(visit), 1);
    assert.deepEqual(seen, ['two\n']);
    assert.equal(told, 1);
    assert.equal(r.visitBufferedData(visit), 0, 'the third packet is only partly buffered');
    assert.equal(told, 1, 'not told when nothing was consumed');
    const third = await r.read();
    assert.equal(third?.type === 'data' && packetText(third), 'three');
    assert.equal(r.visitBufferedData(visit), 0, 'a flush is left for read()');
    assert.deepEqual(await r.read(), { type: 'flush' });
    const fourth = await r.read();
    r.unread(fourth!);
    assert.equal(r.visitBufferedData(visit), 0, 'a put-back packet is left for read()');
    assert.equal(await r.read(), fourth);
    await assert.rejects(r.read(), /invalid pkt-line length header "00zz"/);
    const bad = reader(Buffer.concat([pktLine('x'), Buffer.from('00zz')]));
    await bad.read();
    await bad.peek(0);
    assert.throws(() => bad.visitBufferedData(visit), /invalid pkt-line length header "00zz"/);
  });

  it('visitBufferedData reads a long listing the same at any chunking', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `line ${i}\n`);
    const bytes = Buffer.concat([...lines.map((line) => pktLine(line)), FLUSH_PKT]);
    for (const size of [1, 7, 100, 1 << 16]) {
      const r = reader(bytes, size);
      const seen: string[] = [];
      const visit = (buffer: Buffer, start: number, end: number): void => void seen.push(buffer.toString('latin1', start, end));
      for (;;) {
        r.visitBufferedData(visit);
        const packet = await r.read();
        if (packet === null || packet.type === 'flush') break;
        if (packet.type === 'data') seen.push(packet.data.toString('latin1'));
      }
      assert.deepEqual(seen, lines, `chunk size ${size}`);
    }
  });

  it('returns null at a clean end of stream', async () => {
    assert.equal(await reader('').read(), null);
  });

  it('rejects a length above 65520', async () => {
    await assert.rejects(reader('fff1').read(), PktLineError);
  });

  it('rejects the reserved length 0003', async () => {
    await assert.rejects(reader('0003').read(), /0003/);
  });

  it('rejects a non-hex length', async () => {
    await assert.rejects(reader('00g4abcd').read(), PktLineError);
    await assert.rejects(reader('PACK\0\0\0\x02').read(), PktLineError);
  });

  it('detects a stream truncated inside the header or the payload', async () => {
    await assert.rejects(reader('00').read(), /truncated/);
    await assert.rejects(reader('000aabc').read(), /truncated/);
  });

  it('accepts a maximum-size packet', async () => {
    const big = pktLine(Buffer.alloc(MAX_PKT_PAYLOAD, 7));
    const packet = await reader(big, 1000).read();
    assert.equal(packet?.type, 'data');
    assert.equal(packet?.type === 'data' && packet.data.length, MAX_PKT_PAYLOAD);
  });

  it('hands over the unframed bytes after a section, including what was already buffered', async () => {
    const raw = Buffer.from('PACK-and-more-bytes');
    const r = reader(Buffer.concat([pktLine('NAK\n'), raw]), 3);
    assert.equal(packetText((await r.read())!), 'NAK');
    assert.equal((await r.peek(4)).toString(), 'PACK');
    assert.deepEqual(await collect(r.rest()), raw);
  });

  it('puts back one packet', async () => {
    const r = reader(Buffer.concat([pktLine('a'), pktLine('b')]));
    const first = (await r.read())!;
    r.unread(first);
    assert.equal(packetText((await r.read())!), 'a');
    assert.equal(packetText((await r.read())!), 'b');
  });

  // Regression: the buffer was joined with each new chunk, so a packet arriving in many small
  // chunks was copied over and over (2 GB of copying for one 65520-byte packet in 1-byte chunks).
  it('copies a packet that arrives in 1-byte chunks about once', async () => {
    const packet = pktLine(Buffer.alloc(MAX_PKT_PAYLOAD, 7));
    const copied = await bytesJoinedDuring(async () => {
      const read = await reader(packet, 1).read();
      assert.equal(read?.type === 'data' && read.data.length, MAX_PKT_PAYLOAD);
    });
    assert.ok(copied < 2 * packet.length, `${copied} bytes copied for a ${packet.length}-byte packet`);
  });

  it('copies only the packets that straddle chunks, not the rest of the chunk that completes them', async () => {
    // A listing of 2,000 short lines in chunks of 4,096 bytes: nearly every chunk ends inside a
    // line, and joining the whole next chunk to finish it copied the listing once more.
    const lines = Array.from({ length: 2000 }, (_, i) => pktLine(`${String(i).padStart(40, '0')} refs/heads/topic/${i}\n`));
    const bytes = Buffer.concat([...lines, FLUSH_PKT]);
    const seen: string[] = [];
    const copied = await bytesJoinedDuring(async () => {
      const listing = reader(bytes, 4096);
      for (;;) {
        listing.visitBufferedData((buffer, start, end) => seen.push(buffer.toString('latin1', start, end)));
        const packet = await listing.readRequired('the listing');
        if (packet.type === 'flush') break;
        if (packet.type === 'data') seen.push(packet.data.toString('latin1'));
      }
    });
    assert.deepEqual(seen, lines.map((line) => line.toString('latin1', 4)));
    const straddling = Math.ceil(bytes.length / 4096);
    assert.ok(copied <= straddling * 80, `${copied} bytes copied for ${straddling} chunk boundaries in ${bytes.length} bytes`);
  });
});
