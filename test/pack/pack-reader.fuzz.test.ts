/**
 * Fuzz properties of the pack reader and the relay's light pack check (docs/testing.md,
 * "Fuzzing"): packs built from random objects and deltas (OFS and REF, every zlib level, entries
 * small, past the 64 KiB eager bound and past the 512 KiB streaming bound, SHA-1 and SHA-256)
 * read back as built at any chunking, and PackStreamCheck agrees; mutated packs, and packs whose
 * header, sizes or offsets claim huge values, fail only with PACK_FORMAT, the same at any
 * chunking, without allocating what they claim.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { PackReader, type PackObject, type PackReaderOptions } from '../../src/pack/pack-reader.js';
import { PackStreamCheck } from '../../src/pack/pack-stream-check.js';
import type { ObjectType } from '../../src/types.js';
import { chunkSizes, cut, fuzzParameters, verdictOf, mutations, mutate, settle, streamOf, type Outcome } from '../helpers/fuzz.js';
import { buildPack, encodeDelta, entryHeader, objectId, ofsDistance, withTrailer, type RawEntry } from './pack-builder.js';

type Format = 'sha1' | 'sha256';
const TYPES: readonly ObjectType[] = ['commit', 'tree', 'blob', 'tag'];

interface ObjectSpec {
  /** How the entry is stored; a delta's base is `base % index` (the first entry is whole). */
  storage: 'whole' | 'ofs' | 'ref' | 'ref-unknown';
  type: number;
  content: Buffer;
  base: number;
  level: number;
}

/** Object contents: mostly small, some past the 64 KiB eager bound, a few past 512 KiB (they stream). */
const contentArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 60 * 1024, max: 90 * 1024 }), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([n, p]) => Buffer.alloc(n, Buffer.from(p))) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 500 * 1024, max: 700 * 1024 }), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([n, p]) => Buffer.alloc(n, Buffer.from(p))) },
);

const smallContentArb: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));

function objectsArb(content: fc.Arbitrary<Buffer>, maxLength: number): fc.Arbitrary<ObjectSpec[]> {
  return fc.array(
    fc.record({
      storage: fc.constantFrom('whole' as const, 'whole' as const, 'ofs' as const, 'ref' as const, 'ref-unknown' as const),
      type: fc.integer({ min: 1, max: 4 }),
      content,
      base: fc.nat(),
      level: fc.integer({ min: 0, max: 9 }),
    }),
    { maxLength },
  );
}

interface Built {
  pack: Buffer;
  format: Format;
  /** What the reader should report for each entry. */
  objects: PackObject[];
  /** Each entry's inflated data (a delta: its instructions). */
  data: Buffer[];
  /** id -> type of every object, for `refBaseType`. */
  types: Map<string, ObjectType>;
  summary: { commit: number; tree: number; blob: number; tag: number; ofs: number; ref: number; unresolved: number };
}

function build(specs: readonly ObjectSpec[], format: Format): Built {
  const entries: RawEntry[] = [];
  const realTypes: (number | undefined)[] = [];
  const data: Buffer[] = [];
  const types = new Map<string, ObjectType>();
  const ids: Buffer[] = [];
  const summary = { commit: 0, tree: 0, blob: 0, tag: 0, ofs: 0, ref: 0, unresolved: 0 };
  specs.forEach((spec, k) => {
    const storage = k === 0 && spec.storage !== 'ref-unknown' ? 'whole' : spec.storage;
    const base = k === 0 ? 0 : spec.base % k;
    let entry: RawEntry;
    let realType: number | undefined;
    if (storage === 'whole') {
      entry = { type: spec.type, data: spec.content };
      realType = spec.type;
    } else if (storage === 'ref-unknown') {
      // A base the reader cannot know: a thin pack's, or one only the caller could name.
      entry = { type: 7, data: encodeDelta(Buffer.alloc(3), spec.content), baseId: Buffer.alloc(format === 'sha1' ? 20 : 32, 0xee) };
      realType = undefined;
    } else {
      const baseContent = specs[base]!.content;
      const instructions = encodeDelta(baseContent, spec.content);
      entry = storage === 'ofs' ? { type: 6, data: instructions, baseEntry: base } : { type: 7, data: instructions, baseId: ids[base]! };
      realType = realTypes[base];
    }
    entry.compressed = deflateSync(entry.data, { level: spec.level });
    entries.push(entry);
    realTypes.push(realType);
    data.push(entry.data);
    // The id of what the entry stands for; one no other object has when its type is unknown.
    const id = realType === undefined ? objectId('blob', Buffer.from(`no such object ${k}`), format) : objectId(TYPES[realType - 1]!, spec.content, format);
    ids.push(id);
    if (realType !== undefined) types.set(id.toString('hex'), TYPES[realType - 1]!);
    if (entry.type === 6) summary.ofs++;
    if (entry.type === 7) summary.ref++;
    if (realType === undefined) summary.unresolved++;
    else summary[TYPES[realType - 1] as 'commit']++;
  });
  const built = buildPack(entries, { objectFormat: format });
  const objects = entries.map((entry, k): PackObject => ({
    index: k,
    offset: built.offsets[k]!,
    type: entry.type === 6 ? 'ofs-delta' : entry.type === 7 ? 'ref-delta' : TYPES[entry.type - 1]!,
    size: entry.data.length,
    baseOffset: entry.type === 6 ? built.offsets[entry.baseEntry!] : undefined,
    baseId: entry.type === 7 ? (entry.baseId!.toString('hex') as PackObject['baseId']) : undefined,
    objectType: realTypes[k] === undefined ? undefined : TYPES[realTypes[k]! - 1],
    endOffset: built.data[k]!.end,
  }));
  return { pack: built.pack, format, objects, data, types, summary };
}

async function readWith(chunks: readonly Buffer[], options: PackReaderOptions, plain = false): Promise<Outcome<unknown>> {
  return settle(['PACK_FORMAT'], async () => {
    const reader = new PackReader(options);
    for await (const chunk of streamOf(chunks, plain)) await reader.write(chunk);
    return reader.end();
  });
}

function check(chunks: readonly Buffer[], format: Format): Promise<Outcome<unknown>> {
  return settle(['PACK_FORMAT'], () => {
    const checker = new PackStreamCheck({ objectFormat: format });
    for (const chunk of chunks) checker.write(chunk);
    return checker.end();
  });
}

const formatArb = fc.constantFrom<Format>('sha1', 'sha256');

describe('pack reader (fuzz)', () => {
  it('reads back packs of random objects and deltas as built, both formats, at any chunking; PackStreamCheck agrees', async () => {
    await fc.assert(
      fc.asyncProperty(objectsArb(contentArb, 8), formatArb, chunkSizes, fc.boolean(), async (specs, format, sizes, plain) => {
        const built = build(specs, format);
        const seen: PackObject[] = [];
        const data: Buffer[] = [];
        const chunks = cut(built.pack, sizes);
        const outcome = await readWith(
          chunks,
          {
            objectFormat: format,
            refBaseType: (id) => built.types.get(id.toString('hex')),
            wantData: () => true,
            onData: (_object, bytes) => data.push(Buffer.from(bytes)),
            onObject: (object) => seen.push({ ...object }),
          },
          plain,
        );
        assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
        const { commit, tree, blob, tag, ofs, ref, unresolved } = built.summary;
        const trailer = built.pack.subarray(built.pack.length - (format === 'sha1' ? 20 : 32)).toString('hex');
        assert.deepEqual(outcome.value, {
          version: 2,
          objectCount: specs.length,
          objects: { commit, tree, blob, tag, total: commit + tree + blob + tag },
          deltas: { ofs, ref, unresolved },
          bytes: built.pack.length,
          checksum: trailer,
        });
        assert.deepEqual(seen, built.objects);
        assert.equal(data.length, built.data.length);
        data.forEach((bytes, k) => assert.ok(bytes.equals(built.data[k]!), `data of entry ${k}`));
        const light = await check(chunks, format);
        assert.deepEqual(light, { ok: true, value: { bytes: built.pack.length, objectCount: specs.length, checksum: trailer } });
      }),
      fuzzParameters(300),
    );
  });

  it('fails mutated packs with PACK_FORMAT only, the same at any chunking (trailer recomputed or not)', async () => {
    await fc.assert(
      fc.asyncProperty(objectsArb(smallContentArb, 6), formatArb, mutations, fc.boolean(), chunkSizes, async (specs, format, edits, fixTrailer, sizes) => {
        const { pack } = build(specs, format);
        const hashLength = format === 'sha1' ? 20 : 32;
        const bytes = fixTrailer ? withTrailer(mutate(pack.subarray(0, pack.length - hashLength), edits), format) : mutate(pack, edits);
        const options: PackReaderOptions = { objectFormat: format };
        // Accepted or refused alike; the message may say how far the reader had got.
        const whole = verdictOf(await readWith([bytes], options));
        assert.deepEqual(verdictOf(await readWith(cut(bytes, sizes), options)), whole);
        // The light check: typed errors only, and it accepts what ends in a valid trailer.
        const light = await check(cut(bytes, sizes), format);
        if ('ok' in (whole as object)) assert.ok(light.ok, 'what the reader accepts, the light check accepts');
      }),
      fuzzParameters(1500),
    );
  });

  it('fails mutated packs with entries past the eager and streaming bounds with PACK_FORMAT or PACK_TOO_LARGE only, alike at any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(objectsArb(contentArb, 3), formatArb, mutations, fc.boolean(), fc.option(fc.integer({ min: 0, max: 800 * 1024 }), { nil: undefined }), chunkSizes, async (specs, format, edits, fixTrailer, maxBytes, sizes) => {
        const { pack } = build(specs, format);
        const hashLength = format === 'sha1' ? 20 : 32;
        const bytes = fixTrailer ? withTrailer(mutate(pack.subarray(0, pack.length - hashLength), edits), format) : mutate(pack, edits);
        const read = async (chunks: readonly Buffer[]): Promise<unknown> =>
          verdictOf(
            await settle(['PACK_FORMAT', 'PACK_TOO_LARGE'], async () => {
              const reader = new PackReader({ objectFormat: format, maxBytes, wantData: () => true, onData: () => undefined });
              for (const chunk of chunks) await reader.write(chunk);
              return reader.end();
            }),
          );
        const whole = await read([bytes]);
        // Past maxBytes a pack is refused whatever else is wrong with it; otherwise alike.
        if (maxBytes === undefined || bytes.length <= maxBytes) assert.deepEqual(await read(cut(bytes, sizes)), whole);
        else assert.deepEqual(whole, { error: 'PACK_TOO_LARGE' });
      }),
      fuzzParameters(150),
    );
  });

  it('fails headers, sizes and offsets that claim huge values with PACK_FORMAT, without allocating them', async () => {
    const count = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff));
    const size = fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.constantFrom(64 * 1024, 64 * 1024 + 1, 512 * 1024, 512 * 1024 + 1, 0x7fffffff, 0xffffffff, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    );
    const entry = fc.record({
      type: fc.integer({ min: 0, max: 7 }),
      size,
      distance: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
      body: fc.oneof(
        fc.uint8Array({ maxLength: 40 }).map((b) => deflateSync(b)),
        fc.integer({ min: 0, max: 1024 * 1024 }).map((n) => deflateSync(Buffer.alloc(n))),
        fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      ),
    });
    await fc.assert(
      fc.asyncProperty(count, fc.array(entry, { maxLength: 3 }), formatArb, fc.boolean(), chunkSizes, async (declared, entries, format, trailer, sizes) => {
        const header = Buffer.alloc(12);
        header.write('PACK', 0, 'latin1');
        header.writeUInt32BE(2, 4);
        header.writeUInt32BE(declared, 8);
        const parts: Buffer[] = [header];
        for (const e of entries) {
          parts.push(entryHeader(e.type, e.size));
          if (e.type === 6) parts.push(ofsDistance(e.distance));
          if (e.type === 7) parts.push(Buffer.alloc(format === 'sha1' ? 20 : 32, 0xab));
          parts.push(e.body);
        }
        const body = Buffer.concat(parts);
        const bytes = trailer ? withTrailer(body, format) : body;
        const outcome = await readWith(cut(bytes, sizes), { objectFormat: format, wantData: () => true, onData: () => undefined });
        if (outcome.ok) assert.ok(entries.length === declared, 'only a pack that holds what it declares is accepted');
        await check([bytes], format);
      }),
      fuzzParameters(400),
    );
  });
});
