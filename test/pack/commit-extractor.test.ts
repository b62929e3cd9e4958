import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { extractCommits, extractLeadingCommits } from '../../src/pack/commit-extractor.js';
import { CommitGraphBuilder } from '../../src/pack/commit-graph.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { git, gitRaw } from '../helpers/git.js';
import { buildPack, objectId } from './pack-builder.js';

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
