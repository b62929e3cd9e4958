import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { extractCommits, extractLeadingCommits } from '../../src/pack/commit-extractor.js';
import fc from 'fast-check';
import { PackFormatError } from '../../src/errors.js';
import { CommitGraphBuilder, type CommitGraph } from '../../src/pack/commit-graph.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { git, gitRaw } from '../helpers/git.js';
import { buildPack, encodeDelta, objectId, type RawEntry } from './pack-builder.js';

const CHUNK = 16 * 1024;

/** Serves `pack` in chunks, counting those taken and noting whether the reader closed it early. */
function chunked(pack: Buffer): { stream: AsyncGenerator<Buffer>; taken: () => number; total: number; closedEarly: () => boolean } {
  let taken = 0;
  let finished = false;
  let closed = false;
  const total = Math.ceil(pack.length / CHUNK);
  const stream = (async function* (): AsyncGenerator<Buffer> {
    try {
      for (let at = 0; at < pack.length; at += CHUNK) {
        taken += 1;
        yield pack.subarray(at, at + CHUNK);
      }
      finished = true;
    } finally {
      closed = !finished;
    }
  })();
  return { stream, taken: () => taken, total, closedEarly: () => closed };
}

function commitBody(parents: readonly Buffer[], message: string): Buffer {
  const tree = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
  const lines = [`tree ${tree}`, ...parents.map((p) => `parent ${p.toString('hex')}`), 'author A <a@example.com> 1700000000 +0000', 'committer A <a@example.com> 1700000000 +0000', '', message, ''];
  return Buffer.from(lines.join('\n'));
}

describe('reading only the commits of an ordinary pack', () => {
  let repo: FixtureRepo;
  let tip: string;
  let commits: string[];
  let pack: Buffer;

  before(async () => {
    repo = await createRepo();
    for (let i = 0; i < 6; i++) await repo.commit('main', { files: { [`blob-${i}.bin`]: pseudoRandomBytes(200 * 1024, `b${i}`), 'notes.txt': `note ${i}\n` } });
    tip = await repo.revParse('main');
    commits = (await git(['rev-list', 'main'], { cwd: repo.path })).split('\n').filter(Boolean);
    // An ordinary pack as git writes one (and as a source without a commit filter sends it).
    pack = await gitRaw(['pack-objects', '--revs', '--stdout', '-q'], { cwd: repo.path, input: 'main\n' });
  });

  it('stops at the first tree once every commit is in, leaving the rest unread', async () => {
    const source = chunked(pack);
    const { graph, summary } = await extractLeadingCommits(source.stream, (sofar) => sofar.coversFetch([tip], new Set()));
    assert.equal(summary, null, 'the read ended early');
    assert.equal(graph.size, commits.length);
    for (const id of commits) assert.ok(graph.indexOf(id) >= 0, `${id} is in the graph`);
    assert.ok(source.taken() < source.total / 4, `took ${source.taken()} of ${source.total} chunks`);
    assert.equal(source.closedEarly(), true, 'the stream was closed');
  });

  it('reads to the end when the commits so far do not cover the fetch', async () => {
    const source = chunked(pack);
    // A want the pack does not hold: the commits never cover it, so the whole pack is read.
    const { graph, summary } = await extractLeadingCommits(source.stream, (sofar) => sofar.coversFetch(['f'.repeat(40)], new Set()));
    assert.notEqual(summary, null);
    assert.equal(source.taken(), source.total);
    assert.equal(graph.size, commits.length);
    assert.equal(summary!.objects.commit, commits.length);
  });

  it('reads on past a tree when a commit comes after it (a pack not in git order)', async () => {
    // root <- child, written child, blob, root: at the blob the child's parent is missing.
    const root = commitBody([], 'root');
    const rootId = objectId('commit', root);
    const child = commitBody([rootId], 'child');
    const childId = objectId('commit', child);
    const built = buildPack([
      { type: 1, data: child },
      { type: 3, data: pseudoRandomBytes(2 * 1024 * 1024, 'blob') },
      { type: 1, data: root },
    ]);
    const answers: boolean[] = [];
    const { graph, summary } = await extractLeadingCommits(chunked(built.pack).stream, (sofar) => {
      answers.push(sofar.coversFetch([childId.toString('hex')], new Set()));
      return answers.at(-1)!;
    });
    assert.deepEqual(answers, [false], 'asked once, at the blob, when the root was still missing');
    assert.notEqual(summary, null, 'read to the end');
    assert.equal(graph.size, 2);
    assert.deepEqual(graph.parentIndicesOf(graph.indexOf(childId.toString('hex'))), [graph.indexOf(rootId.toString('hex'))]);
  });

  it('asks again when more commits follow the trees (as git writes some packs), and stops at the next tree or blob', async () => {
    // git 2.39 wrote 17,232 commits, the trees, then the other 13,368 commits (deltas) before
    // the blobs, for a history repacked with --window=250: the commits cover the fetch only then.
    let parents: Buffer[] = [];
    const bodies: Buffer[] = [];
    for (let i = 0; i < 30; i++) {
      const body = commitBody(parents, `c${i}`);
      bodies.push(body);
      parents = [objectId('commit', body)];
    }
    const tip = parents[0]!.toString('hex');
    const newestFirst = [...bodies].reverse();
    const entries: RawEntry[] = [
      ...newestFirst.slice(0, 20).map((body) => ({ type: 1, data: body })),
      ...Array.from({ length: 5 }, (_, i) => ({ type: 2, data: pseudoRandomBytes(20 * 1024, `tree-${i}`) })),
      ...newestFirst.slice(20).map((body, k) => ({ type: 6, baseEntry: k, data: encodeDelta(newestFirst[k]!, body) })),
      ...Array.from({ length: 40 }, (_, i) => ({ type: 3, data: pseudoRandomBytes(64 * 1024, `late-blob-${i}`) })),
    ];
    const source = chunked(buildPack(entries).pack);
    const answers: boolean[] = [];
    const { graph, summary } = await extractLeadingCommits(source.stream, (sofar) => {
      answers.push(sofar.coversFetch([tip], new Set()));
      return answers.at(-1)!;
    });
    assert.deepEqual(answers, [false, true], 'asked at the first tree (commits missing), then at the first blob');
    assert.equal(summary, null, 'the read ended early');
    assert.equal(graph.size, 30);
    assert.ok(source.taken() < source.total / 2, `took ${source.taken()} of ${source.total} chunks`);
  });

  it('counts a parent the target holds as covered, and one it lacks as not', async () => {
    const { graph } = await extractCommits(chunked(await gitRaw(['pack-objects', '--revs', '--stdout', '-q'], { cwd: repo.path, input: `main\n^main~2\n` })).stream);
    const base = commits[2]!;
    assert.equal(graph.coversFetch([tip], new Set([base])), true);
    assert.equal(graph.coversFetch([tip], new Set()), false);
    assert.deepEqual([...graph.outsideParents()], [base]);
  });

  it('a graph built early stays valid while commits are added and the graph built again', () => {
    const builder = new CommitGraphBuilder();
    const bodies: Buffer[] = [];
    let parent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const body = commitBody(parent, `c${i}`);
      bodies.push(body);
      parent = [objectId('commit', body)];
    }
    for (const body of bodies.slice(0, 100)) builder.addCommit(body);
    const early = builder.build();
    for (const body of bodies.slice(100)) builder.addCommit(body);
    const late = builder.build();
    assert.equal(early.size, 100);
    assert.equal(late.size, 200);
    for (let i = 0; i < 100; i++) assert.deepEqual(early.parentsOf(i), late.parentsOf(i));
    assert.deepEqual(early.parentIndicesOf(99), [98]);
    assert.deepEqual(late.parentIndicesOf(100), [99]);
    assert.deepEqual([...early.outsideParents()], []);
  });
});

/** A commit's body and id, and the ids of its parents. */
interface BuiltCommit {
  body: Buffer;
  id: Buffer;
  parents: Buffer[];
}

/** Long, similar messages, as git's repack deltifies them; `family` picks one of a few texts. */
function similarMessage(i: number, family: number): string {
  const words = ['mirror', 'relay', 'pack', 'delta', 'commit', 'branch', 'history', 'stream', 'target', 'source'];
  const text: string[] = [];
  for (let k = 0; k < 220; k++) text.push(words[(k * (family + 3) + family) % words.length]!);
  return `change ${i}\n\n${text.join(' ')}\n\nSigned-off-by: Dev ${i % 7} <dev${i % 7}@example.com>`;
}

/** A linear history with a merge every `mergeEvery` commits; oldest first. */
function buildHistory(n: number, mergeEvery = 0, families = 4): BuiltCommit[] {
  const commits: BuiltCommit[] = [];
  for (let i = 0; i < n; i++) {
    const parents = i === 0 ? [] : [commits[i - 1]!.id];
    if (mergeEvery > 0 && i >= 3 && i % mergeEvery === 0) parents.push(commits[i - 3]!.id);
    const body = commitBody(parents, similarMessage(i, i % families));
    commits.push({ body, id: objectId('commit', body), parents });
  }
  return commits;
}

/** How each entry of a built pack is stored. */
type Storage = { kind: 'whole' } | { kind: 'ofs' | 'ref'; base: number };

/** Pack entries for `objects` (in pack order) stored as `storage` says (bases are earlier entries). */
function entriesFor(objects: readonly { type: number; body: Buffer }[], storage: readonly Storage[]): RawEntry[] {
  return objects.map((object, k): RawEntry => {
    const how = storage[k]!;
    if (how.kind === 'whole') return { type: object.type, data: object.body };
    const base = objects[how.base]!;
    const data = encodeDelta(base.body, object.body);
    return how.kind === 'ofs' ? { type: 6, baseEntry: how.base, data } : { type: 7, baseId: objectId(base.type === 1 ? 'commit' : 'tag', base.body), data };
  });
}

function assertGraphHolds(graph: CommitGraph, commits: readonly BuiltCommit[]): void {
  assert.equal(graph.size, commits.length);
  for (const commit of commits) {
    const index = graph.indexOf(commit.id.toString('hex'));
    assert.ok(index >= 0, `${commit.id.toString('hex')} is in the graph`);
    assert.deepEqual(graph.parentsOf(index), commit.parents.map((p) => p.toString('hex')));
  }
}

describe('commits stored as deltas (as git repack stores them)', () => {
  it('rebuilds commits whose bases lie megabytes of commits back, with the default store and with tiny bounds', async () => {
    // 2,400 commits of ~2 KiB, newest first as git writes them; from the 1,500th entry on, each
    // is a delta against the entry 1,500 before it (3 MiB of commits back: past the cache), and
    // those bases are deltas themselves (chains).
    const commits = buildHistory(2400, 10);
    const newestFirst = [...commits].reverse().map((commit) => ({ type: 1, body: commit.body }));
    const storage = newestFirst.map((_, k): Storage => (k >= 1500 ? { kind: 'ofs', base: k - 1500 } : k > 0 && k % 3 !== 0 ? { kind: 'ofs', base: k - 1 } : { kind: 'whole' }));
    const { pack } = buildPack(entriesFor(newestFirst, storage));
    for (const store of [undefined, { cacheBytes: 4096, memoryBytes: 8192, chunkBytes: 1024 }, { cacheBytes: 0, memoryBytes: 0, chunkBytes: 64 }]) {
      const { graph, summary } = await extractCommits(chunked(pack).stream, store === undefined ? {} : { store });
      assertGraphHolds(graph, commits);
      assert.equal(summary.objects.commit, commits.length);
      assert.equal(summary.deltas.ofs, storage.filter((s) => s.kind === 'ofs').length);
    }
  });

  it('rebuilds REF_DELTA commits (servers without ofs-delta) and counts them as commits', async () => {
    const commits = buildHistory(300, 7);
    const objects = commits.map((commit) => ({ type: 1, body: commit.body }));
    const storage = objects.map((_, k): Storage => (k === 0 ? { kind: 'whole' } : { kind: 'ref', base: k % 4 === 0 ? 0 : k - 1 }));
    const { pack } = buildPack(entriesFor(objects, storage));
    // The first REF_DELTA builds the id index from the commits stored so far; later ones use it.
    const { graph, summary } = await extractCommits(chunked(pack).stream, { store: { cacheBytes: 0, memoryBytes: 1024, chunkBytes: 256 } });
    assertGraphHolds(graph, commits);
    assert.deepEqual(summary.deltas, { ofs: 0, ref: 299, unresolved: 0 });
    assert.equal(summary.objects.commit, 300);
  });

  it('reads past deltified annotated tags, blobs and trees among the commits', async () => {
    const commits = buildHistory(40, 5);
    const objects: { type: number; body: Buffer }[] = [];
    const storage: Storage[] = [];
    commits.forEach((commit, i) => {
      objects.push({ type: 1, body: commit.body });
      storage.push(i === 0 ? { kind: 'whole' } : { kind: 'ofs', base: objects.length - 3 >= 0 && objects[objects.length - 3]!.type === 1 ? objects.length - 3 : 0 });
      if (i % 4 === 0) {
        const tag = Buffer.from(`object ${commit.id.toString('hex')}\ntype commit\ntag v${i}\ntagger T <t@example.com> 1700000000 +0000\n\n${similarMessage(i, 1)}\n`);
        const previousTag = objects.map((o) => o.type).lastIndexOf(4);
        objects.push({ type: 4, body: tag });
        storage.push(previousTag < 0 ? { kind: 'whole' } : { kind: i % 8 === 0 ? 'ofs' : 'ref', base: previousTag });
        objects.push({ type: 3, body: pseudoRandomBytes(3000, `blob${i}`) });
        storage.push({ kind: 'whole' });
      }
    });
    const { pack } = buildPack(entriesFor(objects, storage));
    const repo = await createRepo();
    await gitRaw(['index-pack', '--stdin'], { cwd: repo.path, input: pack });
    const { graph, summary } = await extractCommits(chunked(pack).stream, { store: { cacheBytes: 512, memoryBytes: 512, chunkBytes: 128 } });
    assertGraphHolds(graph, commits);
    assert.equal(summary.objects.commit, 40);
  });

  it('git accepts the packs these tests build (index-pack), so the deltas are real ones', async () => {
    const commits = buildHistory(200, 9);
    const newestFirst = [...commits].reverse().map((commit) => ({ type: 1, body: commit.body }));
    const storage = newestFirst.map((_, k): Storage => (k >= 120 ? { kind: 'ofs', base: k - 120 } : k % 2 === 1 ? { kind: 'ref', base: k - 1 } : { kind: 'whole' }));
    const { pack } = buildPack(entriesFor(newestFirst, storage));
    const repo = await createRepo();
    await gitRaw(['index-pack', '--stdin', '--strict'], { cwd: repo.path, input: pack });
    const listed = (await git(['cat-file', '--batch-check', '--batch-all-objects'], { cwd: repo.path })).split('\n').filter((line) => line.includes(' commit '));
    assert.equal(listed.length, 200);
  });

  it('names the entry when a commit delta does not apply to its base, and when its base is not a commit of the pack', async () => {
    const commits = buildHistory(3);
    const wrongSize = encodeDelta(Buffer.concat([commits[0]!.body, Buffer.from('x')]), commits[1]!.body);
    const bad = buildPack([{ type: 1, data: commits[0]!.body }, { type: 6, baseEntry: 0, data: wrongSize }]);
    await assert.rejects(extractCommits(chunked(bad.pack).stream), (error: unknown) => {
      assert.ok(error instanceof PackFormatError);
      assert.match(error.message, new RegExp(`commit delta at offset ${bad.offsets[1]} does not apply to its base at offset ${bad.offsets[0]}: delta expects a base of`));
      return true;
    });
  });

  it('rebuilds every commit of random histories, whatever the pack order, storage and store bounds (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
        fc.record({ cacheBytes: fc.integer({ min: 0, max: 8192 }), memoryBytes: fc.integer({ min: 0, max: 4096 }), chunkBytes: fc.integer({ min: 16, max: 1024 }) }),
        fc.boolean(),
        async (n, mergeEvery, choices, store, newestFirst) => {
          const commits = buildHistory(n, mergeEvery, 3);
          const ordered = (newestFirst ? [...commits].reverse() : commits).map((commit) => ({ type: 1, body: commit.body }));
          const storage = ordered.map((_, k): Storage => {
            const choice = choices[k]!;
            if (k === 0 || choice % 4 === 0) return { kind: 'whole' };
            return { kind: choice % 4 === 3 ? 'ref' : 'ofs', base: choice % k };
          });
          const { pack } = buildPack(entriesFor(ordered, storage));
          const { graph } = await extractCommits(chunked(pack).stream, { store });
          assertGraphHolds(graph, commits);
        },
      ),
      { numRuns: 120, seed: 11 },
    );
  });
});

describe('sizes a pack declares are not allocated as declared', () => {
  it('a header claiming 4294967295 objects fails as PACK_FORMAT (it threw a RangeError reserving 85 GiB of graph arrays)', async () => {
    const [commit] = buildHistory(1);
    const { pack } = buildPack([{ type: 1, data: commit!.body }], { count: 0xffffffff });
    await assert.rejects(extractCommits(chunked(pack).stream), (error: unknown) => {
      assert.ok(error instanceof PackFormatError, String(error));
      assert.match(error.message, /declares 4294967295 objects but the pack ends after 1/);
      return true;
    });
  });

  it('a 16 MiB commit is refused before it is inflated (it was held whole, as it inflated)', async () => {
    // A real commit header, then 16 MiB of message: zlib makes 16 KiB of it.
    const body = Buffer.concat([commitBody([], 'big'), Buffer.alloc(16 * 1024 * 1024, 0x61)]);
    const { pack } = buildPack([{ type: 1, data: body }]);
    await assert.rejects(extractCommits(chunked(pack).stream), /commit at offset 12 declares 16777354 bytes, more than the 8388608 git-sync reads/);
  });

  it('a commit delta whose header declares 4 GiB is refused (it allocated 4 GiB)', async () => {
    const [commit] = buildHistory(1);
    const size = commit!.body.length;
    const varint = (n: number): number[] => { const out: number[] = []; for (; n >= 128; n = Math.floor(n / 128)) out.push(0x80 | (n % 128)); out.push(n); return out; };
    const delta = Buffer.from([...varint(size), 0xff, 0xff, 0xff, 0xff, 0x0f, 0x90, 0x10]);
    const { pack } = buildPack([{ type: 1, data: commit!.body }, { type: 6, baseEntry: 0, data: delta }]);
    await assert.rejects(extractCommits(chunked(pack).stream), (error: unknown) => {
      assert.ok(error instanceof PackFormatError, String(error));
      assert.match(error.message, /does not apply to its base .*declares a result of 4294967295 bytes/);
      return true;
    });
  });
});
