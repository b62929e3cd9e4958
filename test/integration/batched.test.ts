import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { bootstrap, replicate, sync, type SyncOptions } from '../../src/api/sync.js';
import type { SyncResult } from '../../src/api/plan.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';

const MiB = 1024 * 1024;
const LIMIT = 2 * MiB;

/** main: 12 commits adding 1 MiB of incompressible data each; dev: 5 more from main~6; docs: small. */
async function largeRepo(parentDir: string, name: string): Promise<FixtureRepo> {
  const repo = await createRepo({ parentDir, name, config: { 'uploadpack.allowFilter': true } });
  for (let i = 0; i < 12; i++) await repo.commit('main', { files: { [`data/main-${i}.bin`]: pseudoRandomBytes(MiB, `main${i}`) } });
  await repo.commit('dev', { parents: ['main~6'], files: { 'dev-0.bin': pseudoRandomBytes(MiB, 'dev0') } });
  for (let i = 1; i < 5; i++) await repo.commit('dev', { files: { [`dev-${i}.bin`]: pseudoRandomBytes(MiB, `dev${i}`) } });
  await repo.commit('docs', { parents: ['main~11'], files: { 'README.md': 'docs\n' } });
  await repo.annotatedTag('v1', 'main~3', { message: 'v1' });
  await repo.lightweightTag('light', 'dev');
  return repo;
}

const MANAGED = ['refs/heads/', 'refs/tags/'];

async function assertDone(source: FixtureRepo, targetPath: string, result: SyncResult): Promise<void> {
  assert.deepEqual(await forEachRef(targetPath, MANAGED), await forEachRef(source.path, MANAGED));
  assert.deepEqual(await forEachRef(targetPath, ['refs/gitsync/']), new Map(), 'no refs/gitsync/* left behind');
  await fsck(targetPath);
  assert.equal(result.batching, true);
  assert.ok(result.batchCount >= 2, `${result.batchCount} batches`);
}

/**
 * A batched sync of `source` into a fresh target `name` under LIMIT, with the decisions it
 * explained; checks the target ends equal to the source, fsck-clean, with no temp refs.
 */
async function batchedIntoFreshTarget(server: GitHttpServer, source: FixtureRepo, name: string): Promise<{ result: SyncResult; decisions: string[] }> {
  await createRepo({ parentDir: server.root, name });
  const decisions: string[] = [];
  const result = await sync({
    source: { url: server.url('source') },
    target: { url: server.url(name) },
    targetMaxPackBytes: LIMIT,
    onProgress: (event) => {
      if (event.kind === 'decision') decisions.push(event.message);
    },
  });
  const target = path.join(server.root, `${name}.git`);
  assert.deepEqual(await forEachRef(target, ['refs/heads/']), await forEachRef(source.path, ['refs/heads/']));
  assert.deepEqual(await forEachRef(target, ['refs/gitsync/']), new Map());
  await fsck(target);
  assert.equal(server.requests.filter((r) => r.status === 413).length, 0, 'sized from evidence: the target never had to refuse a body');
  return { result, decisions };
}

describe('batched relay into a target with a body limit', () => {
  let server: GitHttpServer;
  let source: FixtureRepo;
  let freshBatches = 0;

  before(async () => {
    server = await startGitHttpServer({ maxRequestBytes: LIMIT });
    source = await largeRepo(server.root, 'source');
  });
  after(async () => server.close());

  async function freshTarget(name: string): Promise<string> {
    const target = path.join(server.root, `${name}.git`);
    await rm(target, { recursive: true, force: true });
    await createRepo({ parentDir: server.root, name });
    return target;
  }

  const options = (target: string, extra: Partial<SyncOptions> = {}): SyncOptions => ({
    source: { url: server.url('source') },
    target: { url: server.url(target) },
    tags: true,
    stats: true,
    ...extra,
  });

  it('bootstraps a 20 MB multi-branch repository through a 2 MB limit in several batches', async () => {
    const target = await freshTarget('t-flag');
    const result = await sync(options('t-flag', { targetMaxPackBytes: LIMIT }));
    assert.equal(result.relayMode, 'bootstrap-batch');
    assert.equal(result.relayReason, 'target-body-limit');
    await assertDone(source, target, result);
    assert.ok(result.plannedBatchCount >= result.batchCount);
    assert.ok(result.tempRefs.includes('refs/gitsync/bootstrap/heads/main'));
    freshBatches = result.batchCount;
    // One record per landed batch, each pack under the limit, the split adding up to its total.
    assert.equal(result.batches.length, result.batchCount);
    assert.deepEqual(result.batches.map((batch) => batch.index), result.batches.map((_, i) => i + 1));
    for (const batch of result.batches) {
      assert.ok(batch.packBytes > 0 && batch.packBytes <= LIMIT, `batch ${batch.index}: ${batch.packBytes} bytes`);
      assert.ok(batch.commits > 0 && batch.objects > 0 && batch.attempts >= 1);
      const split = batch.sourceWaitMillis + batch.transferMillis + batch.targetWaitMillis + batch.otherMillis;
      assert.ok(Math.abs(split - batch.totalMillis) <= 3, JSON.stringify(batch));
    }
    const packBytes = result.batches.reduce((sum, batch) => sum + batch.packBytes, 0);
    assert.ok(packBytes <= result.stats!.phases['target push']!.requestBytes, 'the packs are inside what the pushes sent');
    const refused = server.requests.filter((r) => r.status === 413).length;
    assert.equal(refused, 0, 'sized from evidence: the target never had to refuse a body');
  });

  it('asks the source for each next batch while the target indexes the one before', async () => {
    server.clearLog();
    const { result, decisions } = await batchedIntoFreshTarget(server, source, 't-ahead');
    const asked = decisions.filter((message) => / asking the source for it while the target indexes batch /.test(message));
    // Every batch after the first was asked for ahead (the ranges fit, so no ask was dropped).
    assert.equal(asked.length, result.batchCount - 1, decisions.join('\n'));
    // On the source's side: each batch's fetch after the first began before the push of the
    // batch before it had its answer (request order and completion, from the server's log).
    const rpc = server.requests.filter((entry) => entry.kind.phase === 'rpc');
    const fetches = rpc.filter((entry) => entry.kind.repo === 'source.git' && entry.kind.service === 'git-upload-pack');
    const pushes = rpc.filter((entry) => entry.kind.repo === 't-ahead.git' && entry.kind.service === 'git-receive-pack');
    let overlapped = 0;
    for (const push of pushes) {
      const end = push.startedAt + (push.durationMs ?? 0);
      if (fetches.some((fetch) => fetch.id > push.id && fetch.startedAt < end)) overlapped += 1;
    }
    assert.ok(overlapped >= result.batchCount - 1, `${overlapped} of ${pushes.length} pushes overlapped a fetch`);
    assert.equal(result.batches.length, result.batchCount);
  });

  it('switches to batches by itself after the target answers 413', async () => {
    const target = await freshTarget('t-413');
    const result = await sync(options('t-413'));
    assert.equal(result.relayMode, 'bootstrap-batch');
    assert.equal(result.relayReason, 'target-body-limit');
    await assertDone(source, target, result);
  });

  it('reads a 413 the target sends while the body is still being sent, then hangs up (nginx), and batches', async () => {
    // The client's writes fail (EPIPE, reset) after the answer is already on the wire.
    const nginx = await startGitHttpServer({ root: server.root, maxRequestBytes: LIMIT, limitHangUp: true });
    try {
      for (const [name, run] of [['t-early-sync', sync], ['t-early-replicate', replicate]] as const) {
        const target = await freshTarget(name);
        const result = await run({ ...options(name), target: { url: nginx.url(name) } });
        assert.equal(result.relayReason, 'target-body-limit', name);
        assert.equal(result.relayMode, name.endsWith('sync') ? 'bootstrap-batch' : 'replicate-batch');
        await assertDone(source, target, result);
        assert.ok(nginx.requests.some((r) => r.status === 413), 'the target did refuse a body');
      }
    } finally {
      await nginx.close();
    }
  });

  it('replicates in batches under --target-max-pack-bytes, then overwrites and prunes', async () => {
    const target = await freshTarget('t-replicate');
    // A target that diverged (a rewritten main, a stale branch) and lacks most of the history.
    await git(['push', '--quiet', target, 'main~11:refs/heads/main', 'main~11:refs/heads/stale'], { cwd: source.path });
    const tree = await git(['rev-parse', 'refs/heads/main^{tree}'], { cwd: target });
    await git(['update-ref', 'refs/heads/main', await git(['commit-tree', tree, '-p', 'refs/heads/main', '-m', 'only on the mirror'], { cwd: target })], { cwd: target });
    server.clearLog();
    const result = await replicate(options('t-replicate', { targetMaxPackBytes: LIMIT, prune: true }));
    assert.equal(result.relayMode, 'replicate-batch');
    assert.ok(result.plans.some((p) => p.targetRef === 'refs/heads/main' && p.action === 'update' && p.forced));
    assert.ok(result.plans.some((p) => p.targetRef === 'refs/heads/stale' && p.action === 'delete'));
    await assertDone(source, target, result);
    assert.equal(server.requests.filter((r) => r.status === 413).length, 0);
  });

  it('switches to batches after a 408 from a proxy deadline', async () => {
    // A proxy that gives up on slow uploads: 408 a moment after the body passes 2 MiB.
    const proxy = await startGitHttpServer({ root: server.root, maxRequestBytes: LIMIT, limitStatus: 408, limitDelayMs: 100 });
    try {
      const target = await freshTarget('t-408');
      const result = await sync({ ...options('t-408'), target: { url: proxy.url('t-408') } });
      assert.equal(result.relayReason, 'target-body-limit');
      await assertDone(source, target, result);
      assert.ok(proxy.requests.some((r) => r.status === 408));
    } finally {
      await proxy.close();
    }
  });

  it('resumes an interrupted run from its checkpoints, pushing fewer batches', async () => {
    const target = await freshTarget('t-resume');
    const controller = new AbortController();
    let batches = 0;
    await assert.rejects(
      sync(
        options('t-resume', {
          targetMaxPackBytes: LIMIT,
          signal: controller.signal,
          onProgress: (event) => {
            if (event.kind === 'decision' && /^batch \d+: \d+ bytes for/.test(event.message)) {
              batches += 1;
              if (batches === 2) controller.abort();
            }
          },
        }),
      ),
      { code: 'ABORTED' },
    );
    const checkpoints = await forEachRef(target, ['refs/gitsync/']);
    assert.ok(checkpoints.has('refs/gitsync/bootstrap/heads/main'), 'the interrupted run left its checkpoint');
    assert.deepEqual(await forEachRef(target, MANAGED), new Map(), 'no real ref moved yet');

    const resumed = await bootstrap(options('t-resume', { targetMaxPackBytes: LIMIT }));
    assert.equal(resumed.relayReason, 'resume-checkpoints');
    await assertDone(source, target, resumed);
    assert.ok(resumed.batchCount < freshBatches, `resumed in ${resumed.batchCount} batches, fresh took ${freshBatches}`);
  });

  it('batches between local paths too (a stateful channel reconnects after an aborted batch)', async () => {
    const target = path.join(server.root, 't-local.git');
    await rm(target, { recursive: true, force: true });
    const result = await sync({ source: { url: source.path }, target: { url: target }, tags: true, targetMaxPackBytes: LIMIT });
    await assertDone(source, target, result);
  });

  it('says clearly when batching is impossible: protocol v1 refuses wants of non-tip commits', async () => {
    await freshTarget('t-v1');
    await assert.rejects(sync(options('t-v1', { protocol: 'v1', targetMaxPackBytes: LIMIT })), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'UNSUPPORTED');
      assert.match(error.message, /--protocol v2.*uploadpack\.allowReachableSHA1InWant/);
      return true;
    });
  });

  it('replaces a stale checkpoint that is not in the history', async () => {
    const target = await freshTarget('t-stale');
    const stranger = await createRepo({ parentDir: server.root, name: 'stranger' });
    const unrelated = await stranger.commit('main', { files: { 'x.txt': 'unrelated' } });
    await git(['push', '--quiet', target, `${unrelated}:refs/gitsync/bootstrap/heads/main`], { cwd: stranger.path });
    const result = await sync(options('t-stale', { targetMaxPackBytes: LIMIT }));
    await assertDone(source, target, result);
  });

  it('fast-forwards a large range into the limited target in checkpoints (incremental-batch)', async () => {
    const target = await freshTarget('t-ff');
    await git(['push', '--quiet', target, 'main~10:refs/heads/main'], { cwd: source.path });
    const result = await sync(options('t-ff', { branches: ['main'], tags: false, targetMaxPackBytes: LIMIT }));
    assert.equal(result.relayMode, 'incremental-batch');
    assert.deepEqual(result.plans.map((p) => [p.action, p.targetRef]), [['update', 'refs/heads/main']]);
    assert.equal((await forEachRef(target)).get('refs/heads/main'), await source.revParse('main'));
    assert.deepEqual(await forEachRef(target, ['refs/gitsync/']), new Map());
    await fsck(target);
    assert.ok(result.batchCount >= 2);
  });
});

describe('batched relay: first-parent against topo on a merge-heavy history', () => {
  let server: GitHttpServer;
  let source: FixtureRepo;

  before(async () => {
    server = await startGitHttpServer({ maxRequestBytes: LIMIT });
    source = await createRepo({ parentDir: server.root, name: 'source', config: { 'uploadpack.allowFilter': true } });
    await source.commit('main', { files: { 'base.txt': 'base' } });
    // A side branch of 4 MiB merged in one go: first-parent checkpoints cannot split it.
    for (let i = 0; i < 4; i++) await source.commit('side', { parents: i === 0 ? ['main'] : undefined, files: { [`side-${i}.bin`]: pseudoRandomBytes(MiB, `side${i}`) } });
    await source.commit('main', { files: { 'main.txt': 'on main' } });
    await source.merge('main', 'side', { message: 'merge side' });
    await source.deleteRef('refs/heads/side');
  });
  after(async () => server.close());

  it('first-parent cannot fit the merge and says to use topo; topo splits the side branch', async () => {
    await createRepo({ parentDir: server.root, name: 'fp' });
    await assert.rejects(
      sync({ source: { url: server.url('source') }, target: { url: server.url('fp') }, targetMaxPackBytes: LIMIT }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'UNSUPPORTED');
        assert.match(error.message, /--bootstrap-strategy topo/);
        return true;
      },
    );
    assert.deepEqual(await forEachRef(path.join(server.root, 'fp.git'), ['refs/heads/']), new Map(), 'no real ref moved');

    await createRepo({ parentDir: server.root, name: 'topo' });
    const result = await sync({ source: { url: server.url('source') }, target: { url: server.url('topo') }, targetMaxPackBytes: LIMIT, bootstrapStrategy: 'topo' });
    const target = path.join(server.root, 'topo.git');
    assert.deepEqual(await forEachRef(target, ['refs/heads/']), await forEachRef(source.path, ['refs/heads/']));
    assert.deepEqual(await forEachRef(target, ['refs/gitsync/']), new Map());
    await fsck(target);
    assert.ok(result.batchCount >= 3, `${result.batchCount} batches`);
  });
});

describe('batched relay: many small branches share pushes', () => {
  let server: GitHttpServer;
  let source: FixtureRepo;
  const BRANCHES = 12;

  before(async () => {
    server = await startGitHttpServer({ maxRequestBytes: LIMIT });
    source = await createRepo({ parentDir: server.root, name: 'source' });
    for (let i = 0; i < 4; i++) await source.commit('main', { files: { [`main-${i}.bin`]: pseudoRandomBytes(MiB, `main${i}`) } });
    for (let b = 0; b < BRANCHES; b++) {
      await source.commit(`feature/${b}`, { parents: ['main~1'], files: { [`f${b}.txt`]: `feature ${b}\n` } });
      await source.commit(`feature/${b}`, { files: { [`f${b}.txt`]: `feature ${b}, second\n` } });
    }
  });
  after(async () => server.close());

  it('sends the small branches after main together instead of one push per branch', async () => {
    const { result, decisions } = await batchedIntoFreshTarget(server, source, 'target');
    // Main's four 1 MiB commits need a batch each under a 2 MiB limit; the 12 branches (two tiny
    // commits each) then share one or two pushes instead of taking one push per branch.
    assert.ok(result.batchCount <= 6, `${result.batchCount} batches for main and ${BRANCHES} small branches:\n${decisions.join('\n')}`);
    const shared = decisions.filter((line) => /^batch \d+(\/\d+)?: /.test(line) && (line.match(/refs\/heads\/feature\//g) ?? []).length >= 3);
    assert.ok(shared.length > 0, `one batch carries several branches:\n${decisions.join('\n')}`);
  });
});

describe('batched relay: as many commits per batch as fit', () => {
  let server: GitHttpServer;
  let source: FixtureRepo;

  before(async () => {
    server = await startGitHttpServer({ maxRequestBytes: 500_000 });
    source = await createRepo({ parentDir: server.root, name: 'source', config: { 'uploadpack.allowFilter': true } });
    for (let i = 0; i < 15; i++) await source.commit('main', { files: { [`f${i}.bin`]: pseudoRandomBytes(200_000, `f${i}`) } });
  });
  after(async () => server.close());

  it('puts two 200 KB commits in each batch under a 500000-byte limit, and says why with the right figures', async () => {
    const { result, decisions } = await (async () => {
      await createRepo({ parentDir: server.root, name: 'target' });
      const said: string[] = [];
      const synced = await sync({
        source: { url: server.url('source') },
        target: { url: server.url('target') },
        targetMaxPackBytes: 500_000,
        onProgress: (event) => {
          if (event.kind === 'decision') said.push(event.message);
        },
      });
      return { result: synced, decisions: said };
    })();
    const target = path.join(server.root, 'target.git');
    assert.deepEqual(await forEachRef(target, ['refs/heads/']), await forEachRef(source.path, ['refs/heads/']));
    await fsck(target);
    assert.ok(result.batchCount <= 9, `${result.batchCount} batches for 15 commits of 200 KB:\n${decisions.join('\n')}`);
    const pushed = decisions.filter((line) => /^batch \d+: \d+ bytes for 2 commit\(s\)/.test(line));
    assert.ok(pushed.length >= 5, `batches of two commits:\n${decisions.join('\n')}`);
    for (const line of decisions.filter((l) => l.includes('do not fit'))) {
      const figures = /reached (\d+) bytes, past its (\d+)-byte budget \(the 500000-byte limit less (\d+) for the request\)/.exec(line);
      assert.ok(figures, line);
      assert.ok(Number(figures[1]) > Number(figures[2]), `the figures say why: ${line}`);
      assert.equal(Number(figures[2]) + Number(figures[3]), 500_000);
    }
  });
});

describe('batched relay: a measured range that still crosses the limit', () => {
  let server: GitHttpServer;
  let source: FixtureRepo;

  before(async () => {
    server = await startGitHttpServer({ maxRequestBytes: LIMIT });
    source = await createRepo({ parentDir: server.root, name: 'source', config: { 'uploadpack.allowFilter': true } });
    // Small commits first (they set the bytes per commit), then one of 1.5 MiB among them.
    for (let i = 0; i < 12; i++) await source.commit('main', { files: { [`small-${i}.bin`]: pseudoRandomBytes(96 * 1024, `s${i}`) } });
    await source.commit('main', { files: { 'big.bin': pseudoRandomBytes(1.5 * MiB, 'big') } });
    for (let i = 0; i < 6; i++) await source.commit('main', { files: { [`tail-${i}.bin`]: pseudoRandomBytes(96 * 1024, `t${i}`) } });
  });
  after(async () => server.close());

  it('stops it before the limit and splits it, the target never refusing a body', async () => {
    const { result, decisions } = await batchedIntoFreshTarget(server, source, 'target');
    const landed = decisions.findIndex((line) => /^batch \d+: \d+ bytes for/.test(line));
    assert.ok(landed >= 0, decisions.join('\n'));
    assert.ok(
      decisions.slice(landed).some((line) => /^batch \d+: \d+ commit\(s\) do not fit/.test(line)),
      `a range sized from a landed batch was split:\n${decisions.join('\n')}`,
    );
    assert.ok(result.batchCount >= 2);
  });
});
