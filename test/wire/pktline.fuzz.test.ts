/**
 * Fuzz properties of the pkt-line reader (docs/testing.md, "Fuzzing"): what pktLine() and the
 * control packets frame reads back at any chunking; any bytes at all give the same packets and
 * the same PKT_LINE error however they are cut, never another error, never a hang.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DELIM_PKT, FLUSH_PKT, MAX_PKT_LENGTH, MAX_PKT_PAYLOAD, PktLineReader, RESPONSE_END_PKT, pktLine, type Packet } from '../../src/wire/pktline.js';
import { chunkSizes, cut, describeOutcome, fuzzParameters, mutations, mutate, settle, streamOf } from '../helpers/fuzz.js';
import { collect } from '../helpers/streams.js';

/** A packet as plain data: data packets as hex. */
type Seen = string;

function show(packet: Packet): Seen {
  return packet.type === 'data' ? `data:${packet.data.toString('hex')}` : packet.type;
}

function frame(packet: Packet): Buffer {
  switch (packet.type) {
    case 'data':
      return pktLine(packet.data);
    case 'flush':
      return FLUSH_PKT;
    case 'delim':
      return DELIM_PKT;
    case 'response-end':
      return RESPONSE_END_PKT;
  }
}

const packetArb: fc.Arbitrary<Packet> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 120 }).map((d): Packet => ({ type: 'data', data: Buffer.from(d) })) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_PKT_PAYLOAD - 300, max: MAX_PKT_PAYLOAD }).map((n): Packet => ({ type: 'data', data: Buffer.alloc(n, n & 0xff) })) },
  { weight: 3, arbitrary: fc.constantFrom<Packet>({ type: 'flush' }, { type: 'delim' }, { type: 'response-end' }) },
);

/** Four characters where a length header goes: edge lengths, any length, non-hex look-alikes. */
const headerArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.constantFrom('0000', '0001', '0002', '0003', '0004', '0005', 'fff0', 'FFF0', 'fff1', 'ffff', '00g4', '+004', ' 004', '0x04', '-001', '\u00004ab'),
    fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16).padStart(4, '0')),
    fc.integer({ min: 4, max: 80 }).map((n) => n.toString(16).padStart(4, '0')),
  )
  .map((text) => Buffer.from(text, 'latin1'));

/** Headers, random bytes and valid packets run together: truncations, oversize and garbage. */
const soupArb: fc.Arbitrary<Buffer> = fc
  .array(fc.oneof(headerArb, fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)), packetArb.map(frame)), { maxLength: 12 })
  .map((pieces) => Buffer.concat(pieces));

const anyBytesArb: fc.Arbitrary<Buffer> = fc.oneof(
  soupArb,
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.array(packetArb, { maxLength: 8 }), mutations).map(([packets, edits]) => mutate(Buffer.concat(packets.map(frame)), edits)),
);

/** Reads to the end of the stream or the first error: the packets seen and how it ended. */
async function readAll(chunks: readonly Buffer[], plain = false): Promise<{ seen: Seen[]; bytesRead: number; end: unknown }> {
  const reader = new PktLineReader(streamOf(chunks, plain));
  const seen: Seen[] = [];
  const outcome = await settle(['PKT_LINE'], async () => {
    for (let packet = await reader.read(); packet !== null; packet = await reader.read()) seen.push(show(packet));
  });
  return { seen, bytesRead: reader.bytesRead, end: describeOutcome(outcome) };
}

describe('pkt-line reader (fuzz)', () => {
  it('reads back every packet pktLine() and the control packets frame, whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(packetArb, { maxLength: 10 }), chunkSizes, fc.boolean(), async (packets, sizes, plain) => {
        const bytes = Buffer.concat(packets.map(frame));
        const { seen, bytesRead, end } = await readAll(cut(bytes, sizes), plain);
        assert.deepEqual(seen, packets.map(show));
        assert.deepEqual(end, { ok: undefined });
        assert.equal(bytesRead, bytes.length);
      }),
      fuzzParameters(600),
    );
  });

  it('gives any bytes the same packets and the same PKT_LINE error (or none) at any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(anyBytesArb, chunkSizes, async (bytes, sizes) => {
        const whole = await readAll([bytes]);
        const pieces = await readAll(cut(bytes, sizes));
        assert.deepEqual(pieces, whole);
        // What was read is exactly framed packets: the bytes read never pass the input.
        assert.ok(whole.bytesRead <= bytes.length);
      }),
      fuzzParameters(2000),
    );
  });

  it('refuses a length that claims more than the stream holds as truncated, without waiting or allocating it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 5, max: MAX_PKT_LENGTH }), fc.nat(), chunkSizes, async (length, have, sizes) => {
        const payload = Buffer.alloc(have % (length - 4), 0x61);
        const bytes = Buffer.concat([Buffer.from(length.toString(16).padStart(4, '0')), payload]);
        const { seen, end } = await readAll(cut(bytes, sizes));
        assert.deepEqual(seen, []);
        assert.match(String((end as { message?: string }).message), /truncated pkt-line: expected/);
      }),
      fuzzParameters(300),
    );
  });

  it('refuses every length above 65520 and the reserved 0003', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.integer({ min: MAX_PKT_LENGTH + 1, max: 0xffff }), fc.constant(3)), async (length) => {
        const { end } = await readAll([Buffer.from(length.toString(16).padStart(4, '0') + 'x'.repeat(8))]);
        assert.equal((end as { error?: string }).error, 'PKT_LINE');
      }),
      fuzzParameters(200),
    );
  });

  it('hands over exactly the bytes after the packets read through rest(), whatever the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(packetArb, { maxLength: 6 }), fc.uint8Array({ maxLength: 200 }), chunkSizes, async (packets, tail, sizes) => {
        const framed = Buffer.concat(packets.map(frame));
        const reader = new PktLineReader(streamOf(cut(Buffer.concat([framed, tail]), sizes)));
        for (const packet of packets) assert.equal(show((await reader.read())!), show(packet));
        assert.equal(reader.bytesRead, framed.length);
        const peeked = await reader.peek(4);
        assert.deepEqual(peeked, Buffer.from(tail.subarray(0, 4)));
        assert.deepEqual(await collect(reader.rest()), Buffer.from(tail));
      }),
      fuzzParameters(400),
    );
  });
});
