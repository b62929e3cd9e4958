/**
 * Fuzz properties of upload-pack's fetch responses (docs/testing.md, "Fuzzing"): v2 responses
 * (acknowledgments, shallow-info, wanted-refs and packfile-uris sections in any order, then the
 * sideband packfile) and v1 responses (ACK/NAK and shallow lines, then the pack raw or in
 * sideband) read back as built at any chunking, the pack byte for byte; anything else, the
 * pack read to its end included, fails only with PKT_LINE, PROTOCOL or REMOTE_ERROR, the same
 * however the bytes are cut.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readFetchResponseV1, readFetchResponseV2 } from '../../src/protocol/upload-pack.js';
import { DELIM_PKT, FLUSH_PKT, PktLineReader, pktLine } from '../../src/wire/pktline.js';
import { chunkSizes, cut, describeOutcome, fuzzParameters, mutations, mutate, oidArb, refNameArb, settle, streamOf } from '../helpers/fuzz.js';
import { collect, transcript } from '../helpers/streams.js';

const ERRORS = ['PKT_LINE', 'PROTOCOL', 'REMOTE_ERROR'] as const;

type Section =
  | { name: 'acknowledgments'; lines: ({ ack: string; suffix: string } | 'NAK' | 'ready')[] }
  | { name: 'shallow-info'; lines: { keyword: 'shallow' | 'unshallow'; oid: string }[] }
  | { name: 'wanted-refs'; lines: { oid: string; ref: string }[] }
  | { name: 'packfile-uris'; lines: string[] };

const sectionArb: fc.Arbitrary<Section> = fc.oneof(
  fc.record({
    name: fc.constant('acknowledgments' as const),
    lines: fc.array(fc.oneof(fc.record({ ack: oidArb, suffix: fc.constantFrom('', ' common', ' ready', ' continue') }), fc.constantFrom('NAK' as const, 'ready' as const)), { maxLength: 5 }),
  }),
  fc.record({ name: fc.constant('shallow-info' as const), lines: fc.array(fc.record({ keyword: fc.constantFrom('shallow' as const, 'unshallow' as const), oid: oidArb }), { maxLength: 4 }) }),
  fc.record({ name: fc.constant('wanted-refs' as const), lines: fc.array(fc.record({ oid: oidArb, ref: refNameArb }), { maxLength: 3 }) }),
  fc.record({ name: fc.constant('packfile-uris' as const), lines: fc.array(fc.stringMatching(/^[0-9a-f]{40} https:\/\/[a-z]{1,8}\/[a-z]{1,8}$/), { maxLength: 2 }) }),
);

function lineText(section: Section, line: Section['lines'][number]): string {
  switch (section.name) {
    case 'acknowledgments': {
      const ack = line as Extract<Section, { name: 'acknowledgments' }>['lines'][number];
      return typeof ack === 'string' ? ack : `ACK ${ack.ack}${ack.suffix}`;
    }
    case 'shallow-info': {
      const s = line as { keyword: string; oid: string };
      return `${s.keyword} ${s.oid}`;
    }
    case 'wanted-refs': {
      const w = line as { oid: string; ref: string };
      return `${w.oid} ${w.ref}`;
    }
    case 'packfile-uris':
      return line as string;
  }
}

/** What comes out of a pack response: band 1 (the pack), band 2 (progress). */
const packItemsArb = fc.array(
  fc.oneof({ weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => ({ band: 1, payload: Buffer.from(b) })) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((t) => ({ band: 2, payload: Buffer.from(t) })) }),
  { maxLength: 8 },
);

function band(n: number, payload: Buffer): Buffer {
  return pktLine(Buffer.concat([Buffer.from([n]), payload]));
}

function sideband(items: readonly { band: number; payload: Buffer }[]): Buffer {
  return Buffer.concat([...items.map((i) => band(i.band, i.payload)), FLUSH_PKT]);
}

function packOf(items: readonly { band: number; payload: Buffer }[]): Buffer {
  return Buffer.concat(items.filter((i) => i.band === 1).map((i) => i.payload));
}

/** Reads the response and its whole pack: the acknowledgments, the pack, or a typed error. */
async function readV2(chunks: readonly Buffer[]): Promise<unknown> {
  return describeOutcome(
    await settle(ERRORS, async () => {
      const response = await readFetchResponseV2(new PktLineReader(streamOf(chunks)));
      return { ...response, pack: (await collect(response.pack)).toString('hex') };
    }),
  );
}

async function readV1(chunks: readonly Buffer[], withSideband: boolean): Promise<unknown> {
  return describeOutcome(
    await settle(ERRORS, async () => {
      const response = await readFetchResponseV1(new PktLineReader(streamOf(chunks)), withSideband);
      return { ...response, pack: (await collect(response.pack)).toString('hex') };
    }),
  );
}

describe('upload-pack fetch responses (fuzz)', () => {
  it('v2: reads back the sections and the pack as built, at any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sectionArb, { maxLength: 4 }), packItemsArb, chunkSizes, async (sections, items, sizes) => {
        const parts: Buffer[] = [];
        for (const section of sections) {
          parts.push(pktLine(`${section.name}\n`), ...section.lines.map((l) => pktLine(`${lineText(section, l)}\n`)), DELIM_PKT);
        }
        parts.push(pktLine('packfile\n'), sideband(items));
        const read = await readV2(cut(Buffer.concat(parts), sizes));
        const acks = sections.flatMap((s) => (s.name === 'acknowledgments' ? s.lines.flatMap((l) => (typeof l === 'string' ? [] : [l.ack])) : []));
        const shallowInfo = sections.flatMap((s) => (s.name === 'shallow-info' ? s.lines : []));
        assert.deepEqual(read, {
          ok: {
            acks,
            shallow: shallowInfo.filter((l) => l.keyword === 'shallow').map((l) => l.oid),
            unshallow: shallowInfo.filter((l) => l.keyword === 'unshallow').map((l) => l.oid),
            pack: packOf(items).toString('hex'),
          },
        });
      }),
      fuzzParameters(500),
    );
  });

  it('v1: reads back ACK/NAK and shallow lines and the pack, raw or in sideband, at any chunking', async () => {
    const lineArb = fc.oneof(
      fc.constant('NAK'),
      fc.tuple(oidArb, fc.constantFrom('', ' continue', ' common', ' ready')).map(([oid, s]) => `ACK ${oid}${s}`),
      fc.tuple(fc.constantFrom('shallow', 'unshallow'), oidArb).map(([k, oid]) => `${k} ${oid}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(lineArb, fc.constant(null)), { maxLength: 6 }), fc.boolean(), packItemsArb, fc.uint8Array({ maxLength: 300 }), chunkSizes, async (lines, withSideband, items, raw, sizes) => {
        const head = lines.map((l) => (l === null ? FLUSH_PKT : pktLine(`${l}\n`)));
        // A raw pack starts with its signature; a sideband one needs a first packet.
        const rawPack = Buffer.concat([Buffer.from('PACK'), raw]);
        const sidebandItems = items.length === 0 ? [{ band: 1, payload: Buffer.from('PACK') }] : items;
        const bytes = Buffer.concat([...head, withSideband ? sideband(sidebandItems) : rawPack]);
        const texts = lines.filter((l): l is string => l !== null);
        assert.deepEqual(await readV1(cut(bytes, sizes), withSideband), {
          ok: {
            acks: texts.filter((t) => t.startsWith('ACK ')).map((t) => t.split(' ')[1]),
            shallow: texts.filter((t) => t.startsWith('shallow ')).map((t) => t.split(' ')[1]),
            unshallow: texts.filter((t) => t.startsWith('unshallow ')).map((t) => t.split(' ')[1]),
            pack: (withSideband ? packOf(sidebandItems) : rawPack).toString('hex'),
          },
        });
      }),
      fuzzParameters(500),
    );
  });

  it('fails anything else with PKT_LINE, PROTOCOL or REMOTE_ERROR, the same at any chunking (v1 and v2, pack included)', async () => {
    const lineArb = fc.oneof(
      fc.constantFrom('acknowledgments', 'shallow-info', 'wanted-refs', 'packfile-uris', 'packfile', 'NAK', 'ready', 'ACK', 'ACK zz', 'shallow', 'unshallow x', 'ERR upload-pack: not our ref', 'bogus').map((t) => pktLine(`${t}\n`)),
      oidArb.map((oid) => pktLine(`ACK ${oid}\n`)),
      fc.tuple(fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 30 })).map(([b, p]) => band(b, Buffer.from(p))),
      fc.constantFrom(FLUSH_PKT, DELIM_PKT, Buffer.from('0002'), Buffer.from('PACK'), Buffer.from('0003')),
    );
    const captured = ['v1-fetch.bin', 'v1-fetch-no-sideband.bin', 'v2-fetch.bin'].map((name) => transcript(name));
    const input = fc.oneof(
      fc.tuple(fc.array(lineArb, { maxLength: 8 }), fc.option(mutations, { nil: undefined })).map(([parts, edits]) => (edits === undefined ? Buffer.concat(parts) : mutate(Buffer.concat(parts), edits))),
      fc.tuple(fc.constantFrom(...captured), mutations).map(([bytes, edits]) => mutate(bytes, edits)),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.constantFrom('v1', 'v1-sideband', 'v2'), chunkSizes, async (bytes, how, sizes) => {
        const read = (chunks: readonly Buffer[]): Promise<unknown> => (how === 'v2' ? readV2(chunks) : readV1(chunks, how === 'v1-sideband'));
        assert.deepEqual(await read(cut(bytes, sizes)), await read([bytes]));
      }),
      fuzzParameters(1500),
    );
  });
});
