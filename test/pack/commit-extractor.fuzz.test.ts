/**
 * Fuzz properties of the commit extractor (docs/testing.md, "Fuzzing"): packs of random commits
 * (SHA-1 and SHA-256, any number of parents, whole or as OFS/REF deltas against earlier commits)
 * among trees, blobs and tags give the graph of exactly those commits, read to the end or, when
 * asked, stopped early; mutated packs and packs claiming huge sizes (a commit past
 * MAX_COMMIT_BYTES, a delta result of gigabytes, 2^32 - 1 objects) fail only with PACK_FORMAT,
 * the same at any chunking, without allocating what they claim.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { extractCommits, extractLeadingCommits } from '../../src/pack/commit-extractor.js';
import { MAX_COMMIT_BYTES } from '../../src/pack/pack-format.js';
import { chunkSizes, cut, fuzzParameters, mutations, mutate, oidOf, settle, streamOf, verdictOf } from '../helpers/fuzz.js';
import { buildPack, encodeDelta, entryHeader, objectId, ofsDistance, withTrailer, type RawEntry } from './pack-builder.js';

type Format = 'sha1' | 'sha256';

interface CommitSpec {
  /** Parents: an earlier commit of the pack (a number) or an id from outside it. */
  parents: (number | string)[];
  message: string;
  /** Stored whole, or as a delta against `base % index` (an earlier commit). */
  storage: 'whole' | 'ofs' | 'ref';
  base: number;
  /** Trees, blobs and tags written before this commit. */
  others: number;
}

function specsArb(format: Format): fc.Arbitrary<CommitSpec[]> {
  return fc.array(
    fc.record({
      parents: fc.array(fc.oneof(fc.nat(), oidOf(format)), { maxLength: 3 }),
      message: fc.string({ maxLength: 200 }),
      storage: fc.constantFrom('whole' as const, 'ofs' as const, 'ref' as const),
      base: fc.nat(),
      others: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) }),
    }),
    { minLength: 1, maxLength: 12 },
  );
}

interface BuiltCommits {
  pack: Buffer;
  ids: string[];
  parents: string[][];
}

function buildCommits(specs: readonly CommitSpec[], format: Format): BuiltCommits {
  const hexLength = format === 'sha1' ? 40 : 64;
  const tree = '4b'.repeat(hexLength / 2);
  const entries: RawEntry[] = [];
  const commitEntry: number[] = [];
  const bodies: Buffer[] = [];
  const ids: Buffer[] = [];
  const parents: string[][] = [];
  specs.forEach((spec, k) => {
    const parentIds = spec.parents.map((p) => (typeof p === 'number' ? (k === 0 ? null : ids[p % k]!.toString('hex')) : p)).filter((p): p is string => p !== null);
    const body = Buffer.from([`tree ${tree}`, ...parentIds.map((p) => `parent ${p}`), 'author A <a@example.com> 1700000000 +0000', 'committer A <a@example.com> 1700000000 +0000', '', spec.message, ''].join('\n'));
    for (let i = 0; i < spec.others; i++) {
      entries.push({ type: 2 + ((k + i) % 3), data: Buffer.from(`other ${k} ${i} ${spec.message}`) });
    }
    const base = k === 0 ? -1 : spec.base % k;
    commitEntry.push(entries.length);
    if (base < 0 || spec.storage === 'whole') entries.push({ type: 1, data: body });
    else if (spec.storage === 'ofs') entries.push({ type: 6, data: encodeDelta(bodies[base]!, body), baseEntry: commitEntry[base]! });
    else entries.push({ type: 7, data: encodeDelta(bodies[base]!, body), baseId: ids[base]! });
    bodies.push(body);
    ids.push(objectId('commit', body, format));
    parents.push(parentIds);
  });
  return { pack: buildPack(entries, { objectFormat: format }).pack, ids: ids.map((id) => id.toString('hex')), parents };
}

const storeArb = fc.option(fc.record({ cacheBytes: fc.integer({ min: 0, max: 4096 }), memoryBytes: fc.integer({ min: 0, max: 2048 }), chunkBytes: fc.integer({ min: 16, max: 512 }) }), { nil: undefined });

describe('commit extractor (fuzz)', () => {
  it('gives the graph of exactly the commits of a pack, both formats, whole or deltified, at any chunking', async () => {
    const input = fc.constantFrom<Format>('sha1', 'sha256').chain((format) => fc.tuple(fc.constant(format), specsArb(format)));
    await fc.assert(
      fc.asyncProperty(input, storeArb, chunkSizes, async ([format, specs], store, sizes) => {
        const built = buildCommits(specs, format);
        const outcome = await settle(['PACK_FORMAT'], () => extractCommits(streamOf(cut(built.pack, sizes)), { objectFormat: format, store }));
        assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
        const { graph, summary } = outcome.value;
        assert.equal(summary.objects.commit, specs.length);
        assert.equal(graph.size, specs.length);
        built.ids.forEach((id, k) => {
          const index = graph.indexOf(id);
          assert.ok(index >= 0, `commit ${k} is in the graph`);
          assert.deepEqual(graph.parentsOf(index), built.parents[k]);
        });
      }),
      fuzzParameters(300),
    );
  });

  it('stops where it is told to, with the commits read so far, or reads to the end', async () => {
    await fc.assert(
      fc.asyncProperty(specsArb('sha1'), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), chunkSizes, async (specs, answers, sizes) => {
        const built = buildCommits(specs, 'sha1');
        let asked = 0;
        const outcome = await settle(['PACK_FORMAT'], () => extractLeadingCommits(streamOf(cut(built.pack, sizes)), () => answers[asked++ % answers.length]!));
        assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
        const { graph, summary } = outcome.value;
        if (summary !== null) assert.equal(graph.size, specs.length);
        for (let index = 0; index < graph.size; index++) assert.ok(built.ids.includes(graph.idOf(index)));
      }),
      fuzzParameters(300),
    );
  });

  it('fails mutated commit packs with PACK_FORMAT only, accepting or refusing alike at any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(specsArb('sha1'), mutations, fc.boolean(), storeArb, chunkSizes, async (specs, edits, fixTrailer, store, sizes) => {
        const { pack } = buildCommits(specs, 'sha1');
        const bytes = fixTrailer ? withTrailer(mutate(pack.subarray(0, pack.length - 20), edits)) : mutate(pack, edits);
        const read = async (chunks: readonly Buffer[]): Promise<unknown> =>
          verdictOf(await settle(['PACK_FORMAT'], () => extractCommits(streamOf(chunks), { store })), (v) => v.graph.size);
        assert.deepEqual(await read(cut(bytes, sizes)), await read([bytes]));
      }),
      fuzzParameters(1000),
    );
  });

  it('refuses commits, commit deltas and object counts that claim huge sizes, without allocating them', async () => {
    const claimArb = fc.record({
      count: fc.oneof(fc.constant(null), fc.constantFrom(0xffffffff, 0x80000000, 3)),
      /** The second entry: a commit, or a delta against the first. */
      type: fc.constantFrom(1, 6, 7),
      size: fc.oneof(fc.constantFrom(MAX_COMMIT_BYTES + 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 48), fc.integer({ min: MAX_COMMIT_BYTES + 1, max: Number.MAX_SAFE_INTEGER })),
      /** For a delta: the result size its header claims (its one instruction copies 16 bytes). */
      result: fc.oneof(fc.constantFrom(MAX_COMMIT_BYTES + 1, 2 ** 32 - 1, 2 ** 40), fc.integer({ min: MAX_COMMIT_BYTES + 1, max: 2 ** 50 }), fc.integer({ min: 0, max: MAX_COMMIT_BYTES }).filter((n) => n !== 16)),
      /** What the entry really inflates to: the claim is refused before any of it is inflated. */
      inflates: fc.integer({ min: 0, max: 64 * 1024 }),
      deltaClaims: fc.boolean(),
    });
    const varint = (n: number): Buffer => {
      const out: number[] = [];
      for (; n >= 128; n = Math.floor(n / 128)) out.push(0x80 | (n % 128));
      out.push(n);
      return Buffer.from(out);
    };
    await fc.assert(
      fc.asyncProperty(claimArb, chunkSizes, async (claim, sizes) => {
        const base = Buffer.from('tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a> 1 +0000\ncommitter A <a> 1 +0000\n\nbase\n');
        const header = Buffer.alloc(12);
        header.write('PACK', 0, 'latin1');
        header.writeUInt32BE(2, 4);
        header.writeUInt32BE(claim.count ?? 2, 8);
        const first = Buffer.concat([entryHeader(1, base.length), deflateSync(base)]);
        let second: Buffer;
        if (claim.deltaClaims && claim.type !== 1) {
          // An honest entry size; the delta's own header claims the huge result.
          const instructions = Buffer.concat([varint(base.length), varint(claim.result), Buffer.from([0x90, 0x10])]);
          const where = claim.type === 6 ? ofsDistance(first.length) : objectId('commit', base);
          second = Buffer.concat([entryHeader(claim.type, instructions.length), where, deflateSync(instructions)]);
        } else {
          const where = claim.type === 6 ? ofsDistance(first.length) : claim.type === 7 ? objectId('commit', base) : Buffer.alloc(0);
          second = Buffer.concat([entryHeader(claim.type, claim.size), where, deflateSync(Buffer.alloc(claim.inflates, 0x61))]);
        }
        const pack = withTrailer(Buffer.concat([header, first, second]));
        const outcome = await settle(['PACK_FORMAT'], () => extractCommits(streamOf(cut(pack, sizes))));
        assert.equal(outcome.ok, false, 'a pack claiming what it does not hold is refused');
      }),
      fuzzParameters(200),
    );
  });
});
