import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { before, describe, it } from 'node:test';
import { AbortedError, PackFormatError, PackTooLargeError } from '../../src/errors.js';
import { PackReader, readPack, type PackObject, type PackReaderOptions, type PackSummary } from '../../src/pack/pack-reader.js';
import { emptyPack } from '../../src/pack/pack-writer.js';
import type { ObjectType } from '../../src/types.js';
import { createRepo, openRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { git, gitRaw, makeTempDir, runGit } from '../helpers/git.js';
import { randomSource } from '../helpers/random.js';
import { buildPack, editPack, entryHeader, insertDelta, objectId, withTrailer, type RawEntry } from './pack-builder.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Yields `data` in chunks of `size` bytes (1 exercises every boundary). */
async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, Math.min(at + size, data.length));
}

/** Chunks of random sizes, from 1 byte to `max`, half of them tiny. */
async function* randomChunks(data: Buffer, seed: number, max: number): AsyncGenerator<Buffer> {
  const next = randomSource(seed);
  for (let at = 0; at < data.length;) {
    const size = next() < 0.5 ? 1 + Math.floor(next() * 16) : 1 + Math.floor(next() * max);
    yield data.subarray(at, Math.min(at + size, data.length));
    at += size;
  }
}

/** Reads a pack and records every entry the reader reports. */
async function readAll(source: AsyncIterable<Buffer>, options: PackReaderOptions = {}): Promise<{ summary: PackSummary; objects: PackObject[] }> {
  const objects: PackObject[] = [];
  const summary = await readPack(source, { ...options, onObject: (object) => objects.push(object) });
  return { summary, objects };
}

interface GitEntry {
  id: string;
  type: ObjectType;
  /** Header plus compressed data, as git measures it. */
  packedSize: number;
  delta: boolean;
}

/** What git itself says about a pack: `index-pack` for the checksum, `verify-pack -v` per entry. */
interface GitPackFacts {
  checksum: string;
  objects: PackSummary['objects'];
  deltas: number;
  byOffset: Map<number, GitEntry>;
  /** Object id -> type, as a caller that knows the ids answers `refBaseType`. */
  types: Map<string, ObjectType>;
}

/** `refBaseType` answered from what git says the pack holds. */
function typesFrom(facts: GitPackFacts): PackReaderOptions['refBaseType'] {
  return (id) => facts.types.get(id.toString('hex'));
}

async function gitFacts(repo: FixtureRepo, pack: Buffer): Promise<GitPackFacts> {
  const dir = makeTempDir('gitsync-pack-');
  try {
    const packPath = join(dir.path, 'p.pack');
    const idxPath = join(dir.path, 'p.idx');
    await writeFile(packPath, pack);
    const checksum = await git(['index-pack', '-o', idxPath, packPath], { cwd: repo.path });
    const lines = (await git(['verify-pack', '-v', idxPath], { cwd: repo.path })).split('\n');
    const objects = { commit: 0, tree: 0, blob: 0, tag: 0, total: 0 };
    const byOffset = new Map<number, GitEntry>();
    let deltas = 0;
    for (const line of lines) {
      const m = /^([0-9a-f]{40,64}) (commit|tree|blob|tag) +\d+ (\d+) (\d+)(?: (\d+) [0-9a-f]+)?$/.exec(line);
      if (m === null) continue;
      const type = m[2] as ObjectType;
      objects[type]++;
      objects.total++;
      if (m[5] !== undefined) deltas++;
      byOffset.set(Number(m[4]), { id: m[1]!, type, packedSize: Number(m[3]), delta: m[5] !== undefined });
    }
    return { checksum, objects, deltas, byOffset, types: new Map([...byOffset.values()].map((entry) => [entry.id, entry.type])) };
  } finally {
    await dir.remove();
  }
}

/** Objects by type as `git rev-list --objects --all` and `git cat-file --batch-check` count them. */
async function revListCounts(repo: FixtureRepo): Promise<PackSummary['objects']> {
  const ids = (await git(['rev-list', '--objects', '--all'], { cwd: repo.path })).split('\n').map((line) => line.split(' ')[0]).join('\n');
  const types = await git(['cat-file', '--batch-check=%(objecttype)'], { cwd: repo.path, input: `${ids}\n` });
  const counts = { commit: 0, tree: 0, blob: 0, tag: 0, total: 0 };
  for (const type of types.split('\n')) {
    counts[type as ObjectType]++;
    counts.total++;
  }
  return counts;
}

async function packObjects(repo: FixtureRepo, args: readonly string[]): Promise<Buffer> {
  return gitRaw(['pack-objects', '--all', '--stdout', '--quiet', ...args], { cwd: repo.path });
}

/** The first and last `edge` bytes one at a time, the middle in 4 KiB chunks. */
async function* bytewiseAtTheEnds(data: Buffer, edge = 64): AsyncGenerator<Buffer> {
  const middleEnd = Math.max(edge, data.length - edge);
  for (let at = 0; at < Math.min(edge, data.length); at++) yield data.subarray(at, at + 1);
  yield* chunked(data.subarray(edge, middleEnd), 4096);
  for (let at = middleEnd; at < data.length; at++) yield data.subarray(at, at + 1);
}

/**
 * Ways to cut `pack` into chunks. Byte by byte everywhere only for small packs: a streamed
 * entry fed one byte at a time costs a zlib thread-pool round trip per byte.
 */
function chunkings(pack: Buffer): [string, () => AsyncIterable<Buffer>][] {
  const ways: [string, () => AsyncIterable<Buffer>][] = [
    ['one chunk', () => chunked(pack, Math.max(pack.length, 1))],
    ['4 KiB chunks', () => chunked(pack, 4096)],
    ['bytewise at both ends', () => bytewiseAtTheEnds(pack)],
  ];
  if (pack.length <= 16384) ways.push(['1-byte chunks', () => chunked(pack, 1)], ['7-byte chunks', () => chunked(pack, 7)]);
  return ways;
}

/** Asserts that reading `pack` fails with PackFormatError whose message matches, whatever the chunking. */
async function assertRejects(pack: Buffer, message: RegExp, options: PackReaderOptions = {}): Promise<void> {
  for (const [how, source] of chunkings(pack)) {
    await assert.rejects(readPack(source(), options), (error: unknown) => {
      assert.ok(error instanceof PackFormatError, `${how}: expected PackFormatError, got ${String(error)}`);
      assert.match(error.message, message, how);
      return true;
    });
  }
}

/** Text with many lines, a few of them changed per version: deltas compress it well. */
function bigText(version: number): string {
  const lines: string[] = [];
  for (let i = 0; i < 4000; i++) {
    lines.push(i % 500 === version * 7 % 500 ? `line ${i} changed in version ${version}` : `line ${i}: ${'lorem ipsum '.repeat(1 + (i % 5))}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------

describe('pack reader on packs git writes', () => {
  /** Small and large files, text edited over several commits (deltas), tags of every kind. */
  let repo: FixtureRepo;
  let ofsPack: Buffer;
  let refPack: Buffer;
  let ofsFacts: GitPackFacts;
  let refFacts: GitPackFacts;
  /** A few small objects only: cheap enough to feed one byte at a time and to cut everywhere. */
  let small: FixtureRepo;
  let smallPack: Buffer;

  before(async () => {
    repo = await createRepo();
    await repo.commit('main', {
      files: {
        'README.md': 'hello\n',
        'src/a.txt': 'a\n',
        'big.txt': bigText(0),
        'random.bin': pseudoRandomBytes(200_000, 'random'),
        'random-big.bin': pseudoRandomBytes(3 << 20, 'random-big'),
        'zeros.bin': Buffer.alloc(3 << 20),
      },
    });
    for (let version = 1; version <= 6; version++) {
      await repo.commit('main', { files: { 'big.txt': bigText(version), [`src/f${version}.txt`]: `file ${version}\n` } });
    }
    await repo.commit('main', { files: { 'random.bin': Buffer.concat([pseudoRandomBytes(200_000, 'random'), Buffer.from('tail')]) } });
    await repo.commit('side', { parents: ['main~3'], files: { 'side.txt': 'side\n' } });
    await repo.annotatedTag('v1', 'main');
    await repo.annotatedTag('readme-tag', await repo.git(['rev-parse', 'main:README.md']));
    await repo.lightweightTag('light', 'side');
    ofsPack = await packObjects(repo, ['--delta-base-offset']);
    refPack = await packObjects(repo, []);
    ofsFacts = await gitFacts(repo, ofsPack);
    refFacts = await gitFacts(repo, refPack);

    small = await createRepo();
    await small.commit('main', { files: { 'a.txt': 'alpha\n', 'dir/b.txt': 'beta\n' } });
    await small.commit('main', { files: { 'a.txt': 'alpha two\n' } });
    await small.annotatedTag('v1', 'main');
    smallPack = await packObjects(small, ['--delta-base-offset']);
  });

  it('counts objects by type as verify-pack and rev-list do, and checks the trailer (ofs-delta pack)', async () => {
    assert.ok(ofsFacts.deltas >= 6, `the fixture should produce deltas (got ${ofsFacts.deltas})`);
    const summary = await readPack(chunked(ofsPack, 65536));
    assert.deepEqual(summary, {
      version: 2,
      objectCount: ofsFacts.objects.total,
      objects: ofsFacts.objects,
      deltas: { ofs: ofsFacts.deltas, ref: 0, unresolved: 0 },
      bytes: ofsPack.length,
      checksum: ofsFacts.checksum,
    });
    assert.equal(summary.checksum, ofsPack.subarray(-20).toString('hex'));
    assert.deepEqual(summary.objects, await revListCounts(repo));
  });

  it('finds every entry at the offset and with the packed length git reports', async () => {
    for (const [pack, facts] of [[ofsPack, ofsFacts], [refPack, refFacts]] as const) {
      const { objects } = await readAll(chunked(pack, 65536));
      assert.equal(objects.length, facts.byOffset.size);
      objects.forEach((object, index) => {
        const expected = facts.byOffset.get(object.offset);
        assert.ok(expected, `git knows an entry at offset ${object.offset}`);
        assert.equal(object.index, index);
        assert.equal(object.endOffset - object.offset, expected.packedSize, `length of the entry at ${object.offset}`);
        assert.equal(object.type.endsWith('-delta'), expected.delta);
        if (!expected.delta) assert.equal(object.type, expected.type);
        if (object.type === 'ofs-delta') assert.ok(facts.byOffset.has(object.baseOffset!));
      });
    }
  });

  it('takes REF_DELTA types from refBaseType, and counts them unresolved without', async () => {
    assert.ok(refFacts.deltas >= 6);
    const resolved = await readPack(chunked(refPack, 65536), { refBaseType: typesFrom(refFacts) });
    assert.deepEqual(resolved.objects, refFacts.objects);
    assert.deepEqual(resolved.deltas, { ofs: 0, ref: refFacts.deltas, unresolved: 0 });
    assert.equal(resolved.checksum, refFacts.checksum);

    const counted = await readPack(chunked(refPack, 65536));
    assert.deepEqual(counted.deltas, { ofs: 0, ref: refFacts.deltas, unresolved: refFacts.deltas });
    assert.equal(counted.objects.total, refFacts.objects.total - refFacts.deltas);
    assert.equal(counted.objectCount, refFacts.objects.total);
  });

  it('reports each delta with the type of its base chain, as soon as the base is known', async () => {
    const { objects } = await readAll(chunked(ofsPack, 65536));
    for (const object of objects) {
      assert.equal(object.objectType, ofsFacts.byOffset.get(object.offset)!.type, `entry at ${object.offset}`);
    }
  });

  it('hands over the data of wanted entries only: commit bodies as git stores them, delta instructions', async () => {
    const data = new Map<number, Buffer>();
    const asked: string[] = [];
    const compressedOf = new Map<number, Buffer>();
    const { objects } = await readAll(chunked(ofsPack, 65536), {
      wantData: (type, entry) => {
        asked.push(type);
        return type === 'commit' || (type === 'ofs-delta' && entry.objectType === 'commit') || (type === 'ofs-delta' && entry.size < 4096);
      },
      onData: (object, body, compressed) => {
        data.set(object.offset, body);
        if (compressed !== undefined) compressedOf.set(object.offset, Buffer.from(compressed));
      },
    });
    assert.equal(asked.length, objects.length, 'wantData is asked once per entry');
    for (const object of objects) {
      const body = data.get(object.offset);
      if (body !== undefined) {
        // Small entries come with their zlib data, exactly as the pack carries it.
        const compressed = compressedOf.get(object.offset);
        assert.ok(compressed !== undefined, `zlib data of the entry at ${object.offset}`);
        assert.deepEqual(inflateSync(compressed), body);
        assert.deepEqual(compressed, ofsPack.subarray(object.endOffset - compressed.length, object.endOffset));
      }
      if (object.type === 'commit') {
        assert.deepEqual(body, await gitRaw(['cat-file', 'commit', ofsFacts.byOffset.get(object.offset)!.id], { cwd: repo.path }));
      } else if (object.type === 'blob' || object.type === 'tree' || object.type === 'tag') {
        assert.equal(body, undefined);
      } else if (body !== undefined) {
        assert.equal(body.length, object.size, 'a delta is handed over as its instruction stream');
      }
    }
  });

  it('does not care where the chunk boundaries fall', async () => {
    const whole = await readAll(chunked(smallPack, smallPack.length));
    const bytewise = await readAll(chunked(smallPack, 1));
    assert.deepEqual(bytewise, whole);
    assert.deepEqual(whole.summary.objects, await revListCounts(small));

    const reference = await readAll(chunked(ofsPack, ofsPack.length));
    for (const seed of [1, 2, 3]) {
      assert.deepEqual(await readAll(randomChunks(ofsPack, seed, 100_000)), reference, `random chunks, seed ${seed}`);
    }
    const refTypes = { refBaseType: typesFrom(refFacts) };
    assert.deepEqual(await readAll(randomChunks(refPack, 4, 50_000), refTypes), await readAll(chunked(refPack, refPack.length), refTypes));
  });

  it('can observe a relay: the caller keeps the stream and shows the reader each chunk', async () => {
    const reader = new PackReader({ maxBytes: ofsPack.length });
    const forwarded: Buffer[] = [];
    for await (const chunk of chunked(ofsPack, 16384)) {
      await reader.write(chunk);
      forwarded.push(chunk);
    }
    const summary = await reader.end();
    assert.equal(Buffer.concat(forwarded).length, ofsPack.length);
    assert.equal(summary.checksum, ofsFacts.checksum);
    assert.equal(reader.bytesRead, ofsPack.length);
    assert.equal(reader.objectsRead, ofsFacts.objects.total);
  });

  it('reads a SHA-256 repository pack with objectFormat sha256', async () => {
    const dir = makeTempDir('gitsync-sha256-');
    const path = join(dir.path, 'repo.git');
    await git(['init', '--quiet', '--bare', '--object-format=sha256', path]);
    const sha256 = await openRepo(path);
    await sha256.commit('main', { files: { 'a.txt': bigText(1), 'b.txt': 'b\n' } });
    await sha256.commit('main', { files: { 'a.txt': bigText(2) } });
    await sha256.annotatedTag('v1', 'main');
    for (const args of [['--delta-base-offset'], []]) {
      const pack = await packObjects(sha256, args);
      const facts = await gitFacts(sha256, pack);
      const { summary, objects } = await readAll(chunked(pack, 4096), { objectFormat: 'sha256', refBaseType: typesFrom(facts) });
      assert.deepEqual(summary.objects, facts.objects);
      assert.equal(summary.deltas.unresolved, 0);
      assert.equal(summary.checksum, facts.checksum);
      for (const object of objects) assert.equal(object.endOffset - object.offset, facts.byOffset.get(object.offset)!.packedSize);
    }
    await dir.remove();
  });

  it('rejects every truncation of a pack', async () => {
    for (let length = 0; length < smallPack.length; length++) {
      await assert.rejects(readPack(chunked(smallPack.subarray(0, length), 64)), PackFormatError, `cut at ${length}`);
    }
    // Cuts inside a medium and a large (streamed) blob, inside and before the trailer.
    for (const [offset, entry] of ofsFacts.byOffset) {
      if (entry.packedSize < 100_000) continue;
      await assertRejects(ofsPack.subarray(0, offset + 50_000), new RegExp(`truncated inside entry \\d+ of \\d+ at offset ${offset}`));
    }
    await assertRejects(ofsPack.subarray(0, ofsPack.length - 20), /trailer is missing/);
    await assertRejects(ofsPack.subarray(0, ofsPack.length - 5), /inside its trailer \(15 of 20 bytes\)/);
  });

  it('rejects every single-byte corruption of a pack', async () => {
    const next = randomSource(7);
    for (let i = 0; i < 300; i++) {
      const at = Math.floor(next() * smallPack.length);
      const corrupt = Buffer.from(smallPack);
      corrupt[at] = corrupt[at]! ^ (1 + Math.floor(next() * 255));
      await assert.rejects(readPack(chunked(corrupt, 1 + Math.floor(next() * 64))), PackFormatError, `byte ${at}`);
    }
  });
});

describe('pack reader on malformed packs', () => {
  const blob = Buffer.from('a small blob\n');
  /** Inflated in one call once buffered (64-512 KiB). */
  const medium = pseudoRandomBytes(300_000, 'medium');
  /** Streamed (over 512 KiB). */
  const large = pseudoRandomBytes(600_000, 'large');
  /** blob, a delta of it, a large (streamed) blob, a medium one. */
  const valid: RawEntry[] = [
    { type: 3, data: blob },
    { type: 6, baseEntry: 0, data: insertDelta(blob.length, Buffer.from('derived\n')) },
    { type: 3, data: large },
    { type: 3, data: medium },
  ];

  it('builds packs git accepts (so the cases below differ from a valid pack in one way only)', async () => {
    const repo = await createRepo();
    const { pack } = buildPack(valid);
    await runGit(['index-pack', '--stdin', '--fix-thin'], { cwd: repo.path, input: pack });
    const summary = await readPack(chunked(pack, 1000));
    assert.deepEqual(summary.objects, { commit: 0, tree: 0, blob: 4, tag: 0, total: 4 });
    assert.deepEqual(summary.deltas, { ofs: 1, ref: 0, unresolved: 0 });
  });

  it('rejects a stream that is not a pack, on its first bytes', async () => {
    await assertRejects(buildPack(valid, { signature: 'PACX' }).pack, /not a pack/);
    async function* htmlThenNothing(): AsyncGenerator<Buffer> {
      yield Buffer.from('<html>');
      await new Promise(() => undefined);
    }
    await assert.rejects(readPack(htmlThenNothing()), /not a pack: stream starts with "<htm"/);
    await assertRejects(Buffer.alloc(0), /empty input/);
    await assertRejects(Buffer.from('PACK\0\0'), /truncated inside its 12-byte header/);
  });

  it('rejects versions other than 2 and 3, and accepts 3', async () => {
    await assertRejects(buildPack(valid, { version: 1 }).pack, /unsupported pack version 1/);
    await assertRejects(buildPack(valid, { version: 4 }).pack, /unsupported pack version 4/);
    assert.equal((await readPack(chunked(buildPack(valid, { version: 3 }).pack, 100))).version, 3);
  });

  it('rejects the invalid type 0 and the reserved type 5', async () => {
    for (const type of [0, 5]) {
      await assertRejects(buildPack([valid[0]!, { type, data: blob }, valid[2]!]).pack, new RegExp(`invalid object type ${type} in the entry at offset`));
    }
  });

  it('rejects an entry whose data inflates to another size than its header declares', async () => {
    await assertRejects(buildPack([{ type: 3, data: blob, size: blob.length + 1 }, valid[2]!]).pack, /inflates to 13 bytes but its header declares 14/);
    await assertRejects(buildPack([{ type: 3, data: blob, size: blob.length - 1 }, valid[2]!]).pack, /inflates to more than the 12 bytes/);
    for (const data of [medium, large]) {
      const n = data.length;
      await assertRejects(buildPack([valid[0]!, { type: 3, data, size: n + 1 }, valid[0]!]).pack, new RegExp(`inflates to ${n} bytes but its header declares ${n + 1}`));
      await assertRejects(buildPack([valid[0]!, { type: 3, data, size: n - 1 }, valid[0]!]).pack, new RegExp(`inflates to more than the ${n - 1} bytes`));
    }
  });

  it('rejects corrupt zlib data, small and large', async () => {
    const { pack, data } = buildPack(valid);
    await assertRejects(editPack(pack, (body) => { body[data[0]!.start] = 0x00; }), /corrupt zlib data in entry 1 of 4/);
    await assertRejects(editPack(pack, (body) => { body[data[0]!.end - 1]! ^= 0xff; }), /corrupt zlib data in entry 1 of 4 .*incorrect data check/);
    for (const entry of [2, 3]) {
      const name = `corrupt zlib data in entry ${entry + 1} of 4`;
      await assertRejects(editPack(pack, (body) => { body[data[entry]!.start + 100_000]! ^= 0xff; }), new RegExp(name));
      await assertRejects(editPack(pack, (body) => { body[data[entry]!.end - 2]! ^= 0xff; }), new RegExp(`${name} .*incorrect data check`));
    }
  });

  it('rejects a bad checksum, and bytes after the trailer', async () => {
    const { pack } = buildPack(valid);
    const bad = Buffer.from(pack);
    bad[bad.length - 1]! ^= 1;
    await assertRejects(bad, /pack checksum mismatch/);
    await assertRejects(Buffer.concat([pack, Buffer.from('x')]), /1 unexpected bytes after the pack trailer/);
    await assertRejects(Buffer.concat([pack, pack]), /unexpected bytes after the pack trailer/);
  });

  it('rejects a header object count that does not match the entries', async () => {
    await assertRejects(buildPack(valid, { count: 5 }).pack, /declares 5 objects but the pack ends after 4/);
    await assertRejects(buildPack(valid.slice(0, 2), { count: 3 }).pack, /declares 3 objects but the pack ends after 2/);
    await assertRejects(buildPack(valid.slice(0, 3), { count: 4 }).pack, /declares 4 objects but the pack ends after 3/);
    await assertRejects(buildPack(valid, { count: 2 }).pack, /unexpected bytes after the pack trailer \(the header declares 2 objects/);
  });

  it('rejects an ofs-delta whose base offset is not an entry', async () => {
    const blobDelta = insertDelta(blob.length, Buffer.from('x'));
    await assertRejects(buildPack([valid[0]!, { type: 6, baseDistance: 3, data: blobDelta }]).pack, /names base offset \d+, where no entry starts/);
    await assertRejects(buildPack([valid[0]!, { type: 6, baseDistance: 1000, data: blobDelta }]).pack, /outside the pack/);
    await assertRejects(buildPack([valid[0]!, { type: 6, baseDistance: 0, data: blobDelta }]).pack, /outside the pack/);
  });

  it('rejects an absurd size field', async () => {
    const { pack } = buildPack([valid[0]!]);
    const body = Buffer.concat([pack.subarray(0, 12), Buffer.alloc(11, 0xff), Buffer.from([0x01]), Buffer.alloc(40)]);
    await assertRejects(withTrailer(body), /size field too long|size out of range/);
  });

  it('finds the end of a large entry that ends exactly where a piece of input ends', async () => {
    const big = pseudoRandomBytes(1_500_000, 'exact');
    const { pack, data } = buildPack([{ type: 3, data: big }, { type: 3, data: big }, { type: 3, data: blob }]);
    const first = data[0]!;
    const second = data[1]!;
    async function* pieces(): AsyncGenerator<Buffer> {
      yield pack.subarray(0, first.start);
      yield pack.subarray(first.start, first.end);
      yield pack.subarray(first.end, second.start);
      yield pack.subarray(second.start, second.end);
      yield pack.subarray(second.end);
    }
    const { summary, objects } = await readAll(pieces());
    assert.deepEqual(summary.objects, { commit: 0, tree: 0, blob: 3, tag: 0, total: 3 });
    assert.deepEqual(objects.map((object) => object.endOffset), [first.end, second.end, pack.length - 20]);
  });

  it('hands over a large wanted entry whole (its data streamed: no zlib data with it)', async () => {
    const received: [Buffer, boolean][] = [];
    await readAll(chunked(buildPack(valid).pack, 4096), {
      wantData: (type, entry) => type === 'blob' && entry.size > 1000,
      onData: (_object, data, compressed) => received.push([data, compressed !== undefined]),
    });
    assert.deepEqual(received, [[large, false], [medium, true]]);
  });

  it('types a REF_DELTA by what refBaseType names, whether its base comes later or is outside (thin)', async () => {
    const result = Buffer.from('derived\n');
    const blobId = objectId('blob', blob);
    const forward = buildPack([
      { type: 7, baseId: blobId, data: insertDelta(blob.length, result) },
      { type: 3, data: blob },
    ]).pack;
    const repo = await createRepo();
    await runGit(['index-pack', '--stdin'], { cwd: repo.path, input: forward });
    const asked: string[] = [];
    const named = await readAll(chunked(forward, 5), { refBaseType: (id) => (asked.push(id.toString('hex')), id.equals(blobId) ? 'blob' : undefined) });
    assert.deepEqual(new Set(asked), new Set([blobId.toString('hex')]), 'asked with the base id (again when the entry is retried on more input)');
    assert.deepEqual(named.summary.objects, { commit: 0, tree: 0, blob: 2, tag: 0, total: 2 });
    assert.deepEqual(named.summary.deltas, { ofs: 0, ref: 1, unresolved: 0 });
    assert.equal(named.objects[0]!.objectType, 'blob');
    assert.equal(named.objects[0]!.baseId, blobId.toString('hex'));
    assert.equal((await readPack(chunked(forward, 5))).deltas.unresolved, 1);

    const thin = buildPack([
      valid[0]!,
      { type: 7, baseId: Buffer.alloc(20, 0xab), data: insertDelta(10, Buffer.from('thin')) },
      { type: 6, baseEntry: 1, data: insertDelta(4, Buffer.from('chained')) },
    ]).pack;
    const thinSummary = await readPack(chunked(thin, 9), { refBaseType: () => undefined });
    assert.deepEqual(thinSummary.objects, { commit: 0, tree: 0, blob: 1, tag: 0, total: 1 });
    assert.deepEqual(thinSummary.deltas, { ofs: 1, ref: 1, unresolved: 2 });
  });
});

describe('pack reader limits and lifecycle', () => {
  const { pack } = buildPack([
    { type: 3, data: Buffer.from('one\n') },
    { type: 3, data: pseudoRandomBytes(700_000, 'limits') },
  ]);

  it('throws PackTooLargeError as soon as more than maxBytes were written', async () => {
    const reader = new PackReader({ maxBytes: 1000 });
    await reader.write(pack.subarray(0, 1000));
    await assert.rejects(reader.write(pack.subarray(1000, 1001)), PackTooLargeError);
    await assert.rejects(reader.end(), PackTooLargeError, 'the reader stays failed');
    assert.equal((await readPack(chunked(pack, 4096), { maxBytes: pack.length })).bytes, pack.length);
  });

  it('stops when its signal aborts', async () => {
    const controller = new AbortController();
    const reader = new PackReader({ signal: controller.signal });
    await reader.write(pack.subarray(0, 50));
    controller.abort();
    await assert.rejects(reader.write(pack.subarray(50)), AbortedError);
    await assert.rejects(readPack(chunked(pack, 10), { signal: AbortSignal.abort() }), AbortedError);
  });

  it('queues writes that are not awaited, and refuses writes after end', async () => {
    const reader = new PackReader();
    for (let at = 0; at < pack.length; at += 333) void reader.write(pack.subarray(at, at + 333));
    assert.equal((await reader.end()).objects.blob, 2);
    await assert.rejects(reader.write(Buffer.from('x')), /write\(\) after end\(\)/);
  });

  it('can be destroyed while a large entry streams: pending and later calls reject', async () => {
    const reader = new PackReader();
    await reader.write(pack.subarray(0, 100));
    const pending = reader.write(pack.subarray(100, pack.length - 30));
    reader.destroy(new Error('relay failed'));
    await assert.rejects(pending, /relay failed/);
    await assert.rejects(reader.end(), /relay failed/);
  });

  it('reports a failed unawaited write at end()', async () => {
    const reader = new PackReader();
    void reader.write(Buffer.from('nope, not a pack'));
    await assert.rejects(reader.end(), /not a pack/);
  });
});

describe('empty pack', () => {
  it('is what a ref-only push sends, and git index-pack accepts it', async () => {
    const pack = emptyPack();
    assert.equal(pack.length, 32);
    const repo = await createRepo();
    const { stdout } = await runGit(['index-pack', '--stdin'], { cwd: repo.path, input: pack });
    const summary = await readPack(chunked(pack, 1));
    assert.equal(stdout.toString().trim(), `pack\t${summary.checksum}`);
    assert.deepEqual(summary, {
      version: 2,
      objectCount: 0,
      objects: { commit: 0, tree: 0, blob: 0, tag: 0, total: 0 },
      deltas: { ofs: 0, ref: 0, unresolved: 0 },
      bytes: 32,
      checksum: pack.subarray(12).toString('hex'),
    });
    assert.equal((await readPack(chunked(emptyPack('sha256'), 5), { objectFormat: 'sha256' })).bytes, 44);
  });

  it('has the header layout of gitformat-pack', () => {
    assert.deepEqual(emptyPack().subarray(0, 12), Buffer.concat([Buffer.from('PACK'), Buffer.from([0, 0, 0, 2, 0, 0, 0, 0])]));
    assert.deepEqual(entryHeader(3, 13), Buffer.from([0x3d]));
  });
});
