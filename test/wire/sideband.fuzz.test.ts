/**
 * Fuzz properties of the sideband demultiplexer (docs/testing.md, "Fuzzing"): band 1 comes out
 * byte for byte, band 2 as the messages its text splits into, band 3 as a RemoteError, and the
 * packets after the closing flush stay unread; any other input fails with a typed error, the
 * same at any chunking.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RemoteError } from '../../src/errors.js';
import { FLUSH_PKT, PktLineReader, packetText, pktLine } from '../../src/wire/pktline.js';
import { demuxSideband } from '../../src/wire/sideband.js';
import { chunkSizes, cut, describeOutcome, fuzzParameters, mutations, mutate, settle, streamOf } from '../helpers/fuzz.js';

type Item = { band: 1 | 2; payload: Buffer };

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b): Item => ({ band: 1, payload: Buffer.from(b) })) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom('\r', '\n', 'Counting objects: ', '100% (3/3)', 'remote: ', 'é', '\u{1F600}'), fc.string({ maxLength: 12 })), { maxLength: 6 })
      .map((parts): Item => ({ band: 2, payload: Buffer.from(parts.join('')) })),
  },
);

function band(n: number, payload: Buffer): Buffer {
  return pktLine(Buffer.concat([Buffer.from([n]), payload]));
}

/** The messages band 2's text makes: split at `\r` (in place) and `\n`, empty parts dropped. */
function expectedProgress(items: readonly Item[]): string[] {
  const text = items.filter((i) => i.band === 2).map((i) => i.payload.toString('utf8')).join('');
  const out: string[] = [];
  let start = 0;
  for (const end of text.matchAll(/[\r\n]/g)) {
    const part = text.slice(start, end.index);
    if (part.length > 0) out.push(`${part}${end[0] === '\r' ? ' (in place)' : ''}`);
    start = end.index + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

async function demux(chunks: readonly Buffer[]): Promise<{ data: string; progress: string[]; end: unknown; next: string | null }> {
  const reader = new PktLineReader(streamOf(chunks));
  const progress: string[] = [];
  const parts: Buffer[] = [];
  const outcome = await settle(['PKT_LINE', 'PROTOCOL', 'REMOTE_ERROR'], async () => {
    for await (const chunk of demuxSideband(reader, { onProgress: (m, transient) => progress.push(`${m}${transient ? ' (in place)' : ''}`) })) parts.push(chunk);
  });
  let next: string | null = null;
  if (outcome.ok) {
    const after = await settle(['PKT_LINE'], () => reader.read());
    next = after.ok ? (after.value === null ? 'eof' : after.value.type === 'data' ? packetText(after.value) : after.value.type) : `error ${after.error.code}`;
  }
  return { data: Buffer.concat(parts).toString('hex'), progress, end: describeOutcome(outcome), next };
}

describe('sideband demultiplexer (fuzz)', () => {
  it('passes band 1 on byte for byte and band 2 as messages, stopping at the flush, at any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(itemArb, { maxLength: 12 }), fc.option(fc.string({ maxLength: 30 }), { nil: undefined }), chunkSizes, async (items, fatal, sizes) => {
        const framed = [...items.map((i) => band(i.band, i.payload))];
        if (fatal !== undefined) framed.push(band(3, Buffer.from(fatal)));
        framed.push(FLUSH_PKT, pktLine('after\n'));
        const result = await demux(cut(Buffer.concat(framed), sizes));
        assert.equal(result.data, Buffer.concat(items.filter((i) => i.band === 1).map((i) => i.payload)).toString('hex'));
        assert.deepEqual(result.progress, expectedProgress(items));
        if (fatal === undefined) {
          assert.deepEqual(result.end, { ok: undefined });
          assert.equal(result.next, 'after', 'the packet after the flush is left for the caller');
        } else {
          assert.deepEqual(result.end, { error: 'REMOTE_ERROR', message: new RemoteError(Buffer.from(fatal).toString('utf8').trim()).message });
        }
      }),
      fuzzParameters(600),
    );
  });

  it('fails any other input with PKT_LINE, PROTOCOL or REMOTE_ERROR only, the same at any chunking', async () => {
    const packet = fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 })).map(([b, p]) => band(b, Buffer.from(p))),
      fc.constantFrom(FLUSH_PKT, Buffer.from('0001'), Buffer.from('0002'), Buffer.from('0004'), Buffer.from('0003'), Buffer.from('zzzz')),
      itemArb.map((i) => band(i.band, i.payload)),
    );
    const input = fc.tuple(fc.array(packet, { maxLength: 10 }), fc.option(mutations, { nil: undefined })).map(([packets, edits]) => {
      const bytes = Buffer.concat(packets);
      return edits === undefined ? bytes : mutate(bytes, edits);
    });
    await fc.assert(
      fc.asyncProperty(input, chunkSizes, async (bytes, sizes) => {
        assert.deepEqual(await demux(cut(bytes, sizes)), await demux([bytes]));
      }),
      fuzzParameters(1500),
    );
  });
});
