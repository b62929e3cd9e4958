import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PackFormatError } from '../../src/errors.js';
import { CommitGraphBuilder, ancestryFromGraph, commitId, type CommitGraph } from '../../src/pack/commit-graph.js';
import { applyDelta } from '../../src/pack/delta.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { git, gitRaw } from '../helpers/git.js';

/** Builds a graph from the commits `git rev-list` lists, as a commits-only fetch would deliver. */
async function graphOf(repo: FixtureRepo, revs: string[]): Promise<CommitGraph> {
  const builder = new CommitGraphBuilder();
  const ids = (await git(['rev-list', ...revs], { cwd: repo.path })).split('\n').filter(Boolean);
  for (const id of ids) {
    const body = await gitRaw(['cat-file', 'commit', id], { cwd: repo.path });
    assert.equal(commitId(body).toString('hex'), id, 'commit ids are computed as git does');
    builder.addCommit(body);
  }
  return builder.build();
}

describe('commit graph', () => {
  let repo: FixtureRepo;
  const c: Record<string, string> = {};

  before(async () => {
    // base - a - b (main)      side branches from a; merge m joins main and side.
    repo = await createRepo();
    c.base = await repo.commit('main');
    c.a = await repo.commit('main');
    c.side1 = await repo.commit('side', { parents: [c.a] });
    c.b = await repo.commit('main');
    c.m = await repo.merge('main', 'side');
    c.other = await repo.commit('other', { parents: [c.base] });
    c.orphan = await repo.commit('orphan', { parents: [], emptyTree: true });
  });

  it('stores ids and parents and finds commits by id', async () => {
    const graph = await graphOf(repo, ['--all']);
    assert.equal(graph.size, 7);
    const m = graph.indexOf(c.m!);
    assert.ok(m >= 0);
    assert.equal(graph.idOf(m), c.m);
    assert.deepEqual(graph.parentsOf(m), [c.b, c.side1]);
    assert.equal(graph.indexOf('0'.repeat(40)), -1);
  });

  it('answers ancestry from a pack fetched with one have (want S, have T)', async () => {
    // Fast-forward: pack = b, m, side1 (want m, have a): m reaches a through edges.
    assert.equal(ancestryFromGraph(await graphOf(repo, [c.m!, `^${c.a}`]), c.a!, c.m!, true), 'ancestor');
    // Diverged: want m, have other: the pack stops at base, never at other.
    assert.equal(ancestryFromGraph(await graphOf(repo, [c.m!, `^${c.other}`]), c.other!, c.m!, true), 'not-ancestor');
    // Target ahead: want a, have m: the pack is empty, a is not in it.
    assert.equal(ancestryFromGraph(await graphOf(repo, [c.a!, `^${c.m}`]), c.m!, c.a!, true), 'not-ancestor');
    // Unknown target: the source never heard of T, so the whole history of S is in the pack.
    assert.equal(ancestryFromGraph(await graphOf(repo, [c.m!]), 'f'.repeat(40), c.m!, true), 'not-ancestor');
    // Unrelated histories.
    assert.equal(ancestryFromGraph(await graphOf(repo, [c.orphan!, `^${c.m}`]), c.m!, c.orphan!, true), 'not-ancestor');
  });

  it('is unambiguous only where the shared pack allows it (several haves)', async () => {
    // want m and other, have a and base: m reaches a directly -> ancestor.
    const graph = await graphOf(repo, [c.m!, c.other!, `^${c.a}`, `^${c.base}`]);
    assert.equal(ancestryFromGraph(graph, c.a!, c.m!, false), 'ancestor');
    // other's history leaves the pack at base, not at a: that boundary is some other have's.
    assert.equal(ancestryFromGraph(graph, c.a!, c.other!, false), 'ambiguous');
    // base is the parent of other -> ancestor even with several haves.
    assert.equal(ancestryFromGraph(graph, c.base!, c.other!, false), 'ancestor');
  });

  it('refuses a commit body without a tree line', () => {
    assert.throws(() => new CommitGraphBuilder().addCommit(Buffer.from('author x\n')), PackFormatError);
  });
});

describe('delta', () => {
  it('applies copy and insert instructions', () => {
    const base = Buffer.from('0123456789abcdef');
    // base size 16, result size 9; copy offset 2 size 4; insert "xyz"; copy offset 14 size 2.
    const delta = Buffer.from([16, 9, 0x91, 2, 4, 3, 0x78, 0x79, 0x7a, 0x91, 14, 2]);
    assert.equal(applyDelta(base, delta).toString(), '2345xyzef');
  });

  it('rejects a wrong base size, out-of-range copies, the reserved opcode and a short result', () => {
    const base = Buffer.from('0123456789');
    assert.throws(() => applyDelta(base, Buffer.from([11, 1, 1, 0x41])), PackFormatError);
    assert.throws(() => applyDelta(base, Buffer.from([10, 4, 0x91, 8, 4])), PackFormatError);
    assert.throws(() => applyDelta(base, Buffer.from([10, 1, 0])), PackFormatError);
    assert.throws(() => applyDelta(base, Buffer.from([10, 5, 1, 0x41])), PackFormatError);
  });

  // Regressions: the result size a delta declares was allocated as declared.
  it('refuses a declared result of 4 GiB without allocating it (it allocated 4 GiB, then failed)', () => {
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => applyDelta(Buffer.alloc(0), Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0x0f])), /declares a result of 4294967295 bytes/);
    assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024);
  });

  it('refuses a declared result past 2^32 with PACK_FORMAT (it was a RangeError from Buffer.allocUnsafe)', () => {
    const delta = Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert.throws(() => applyDelta(Buffer.alloc(0), delta), (error) => error instanceof PackFormatError);
  });

  it('refuses a result larger than its instructions can make, and one past the limit it is given', () => {
    const base = Buffer.from('0123456789');
    // 300 bytes declared, then two bytes of instructions: no two bytes make more than 254.
    assert.throws(() => applyDelta(base, Buffer.from([10, 0xac, 0x02, 0x90, 10])), /more than its 2 bytes of instructions can make/);
    assert.equal(applyDelta(base, Buffer.from([10, 4, 0x91, 2, 4]), 4).toString(), '2345');
    assert.throws(() => applyDelta(base, Buffer.from([10, 4, 0x91, 2, 4]), 3), /more than the 3 git-sync rebuilds/);
  });
});
