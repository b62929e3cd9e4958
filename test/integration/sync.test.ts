import assert from 'node:assert/strict';
import { rm, writeFile, chmod, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { bootstrap, replicate, sync, type SyncOptions } from '../../src/api/sync.js';
import type { SyncResult } from '../../src/api/plan.js';
import { RefBlockedError } from '../../src/errors.js';
import { cloneRepo, createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git } from '../helpers/git.js';
import { isRpc, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer, type Middleware } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';

type Row = [action: string, targetRef: string];
const rows = (result: SyncResult): Row[] => result.plans.map((p) => [p.action, p.targetRef]);

/** Records the ref commands a push carried, in order, with a pre-receive hook on the target. */
async function recordPushes(repo: FixtureRepo): Promise<() => Promise<string[][]>> {
  const log = path.join(repo.path, 'pushes.log');
  const hook = path.join(repo.path, 'hooks', 'pre-receive');
  await writeFile(hook, `#!/bin/sh\n{ cat; echo --; } >> '${log}'\n`);
  await chmod(hook, 0o755);
  return async () => {
    const text = await readFile(log, 'utf8').catch(() => '');
    return text
      .split('--\n')
      .filter(Boolean)
      .map((block) => block.trim().split('\n').map((line) => line.split(' ')[2]!));
  };
}

for (const protocol of ['v2', 'v1'] as const) {
  describe(`sync against git http-backend (source ${protocol})`, () => {
    let server: GitHttpServer;
    let sample: SampleRepo;
    let target: FixtureRepo;
    let middleware: Middleware | null = null;

    before(async () => {
      server = await startGitHttpServer({ onRequest: (req, res, next) => (middleware ? middleware(req, res, next) : next()) });
      sample = await sampleRepo(server.root, 'source');
    });
    after(async () => server.close());
    beforeEach(async () => {
      middleware = null;
      if (target) await rm(target.path, { recursive: true, force: true });
    });

    const options = (extra: Partial<SyncOptions> = {}): SyncOptions => ({
      source: { url: server.url('source') },
      target: { url: server.url('target') },
      protocol,
      stats: true,
      ...extra,
    });

    async function emptyTarget(): Promise<FixtureRepo> {
      target = await createRepo({ parentDir: server.root, name: 'target' });
      return target;
    }
    async function mirrorTarget(): Promise<FixtureRepo> {
      target = await cloneRepo(sample.repo, { parentDir: server.root, name: 'target' });
      return target;
    }
    async function assertMirrors(refs: string[]): Promise<void> {
      const source = await forEachRef(sample.repo.path, refs);
      assert.deepEqual(await forEachRef(target.path, refs), source);
      await fsck(target.path);
    }

    it('bootstraps an empty target with branches and tags, the HEAD branch first', async () => {
      await emptyTarget();
      const pushes = await recordPushes(target);
      const result = await sync(options({ tags: true }));
      assert.equal(result.relayMode, 'bootstrap');
      assert.equal(result.pushed, 5);
      assert.equal(result.dryRun, false);
      await assertMirrors(['refs/heads/', 'refs/tags/']);
      const [commands] = await pushes();
      assert.equal(commands![0], 'refs/heads/main');
      assert.equal(commands!.length, 5);
      assert.equal(result.stats?.phases['target push']?.commands, 5);
      assert.equal(result.stats?.phases['target push']?.requests, 1);
      assert.ok((result.stats?.phases['target push']?.requestBytes ?? 0) > 1000);
    });

    it('fast-forwards several branches in one relay and creates a tag', async () => {
      await mirrorTarget();
      for (const ref of ['refs/custom/x', 'refs/notes/commits', 'refs/pull/1/head', 'refs/tags/light', 'refs/tags/v1.0']) await target.deleteRef(ref);
      await target.setRef('refs/heads/main', `${sample.main}~1`);
      await target.setRef('refs/heads/dev', `${sample.dev}~1`);
      // Drop the objects the deleted refs kept alive, so the target really lacks them.
      await git(['reflog', 'expire', '--expire=now', '--all'], { cwd: target.path });
      await git(['gc', '--quiet', '--prune=now'], { cwd: target.path });
      const result = await sync(options({ tags: true }));
      assert.deepEqual(rows(result).filter(([a]) => a !== 'skip'), [
        ['update', 'refs/heads/dev'],
        ['update', 'refs/heads/main'],
        ['create', 'refs/tags/light'],
        ['create', 'refs/tags/v1.0'],
      ]);
      assert.equal(result.relayMode, 'incremental');
      assert.equal(result.stats?.phases['target push']?.requests, 1);
      await assertMirrors(['refs/heads/', 'refs/tags/']);
    });

    it('pushes a mapped branch', async () => {
      await emptyTarget();
      const result = await sync(options({ maps: ['dev:next'] }));
      assert.deepEqual(rows(result), [['create', 'refs/heads/next']]);
      assert.deepEqual(await forEachRef(target.path), new Map([['refs/heads/next', sample.dev]]));
      await fsck(target.path);
    });

    it('refuses a diverged branch with exit code 3 semantics and leaves the target untouched', async () => {
      await mirrorTarget();
      await target.commit('main', { parents: [`${sample.main}~1`], files: { 'diverged.txt': 'x' } });
      await target.setRef('refs/heads/dev', `${sample.dev}~1`);
      const before_ = await forEachRef(target.path);
      await assert.rejects(sync(options()), (error: unknown) => {
        assert.ok(error instanceof RefBlockedError);
        assert.deepEqual(error.refs, ['refs/heads/main']);
        assert.equal((error.result as SyncResult).blocked, 1);
        return true;
      });
      assert.deepEqual(await forEachRef(target.path), before_, 'nothing pushed, not even the fast-forward of dev');
    });

    it('overwrites a diverged branch with --force-with-lease', async () => {
      await mirrorTarget();
      await target.commit('main', { parents: [`${sample.main}~1`], files: { 'diverged.txt': 'x' } });
      const result = await sync(options({ forceWithLease: true }));
      assert.equal(result.plans.find((p) => p.targetRef === 'refs/heads/main')?.forced, true);
      await assertMirrors(['refs/heads/']);
    });

    it('rejects a lease race without clobbering the other writer', async () => {
      await mirrorTarget();
      const diverged = await target.commit('main', { parents: [`${sample.main}~1`], files: { 'diverged.txt': 'x' } });
      const racer = await target.commit('racer', { parents: [`${sample.main}~2`], files: { 'race.txt': 'x' } });
      await target.deleteRef('refs/heads/racer');
      // Another writer moves main after git-sync read the target, right before the push lands.
      middleware = when(isRpc('git-receive-pack'), async (_req, _res, next) => {
        await git(['update-ref', 'refs/heads/main', racer], { cwd: target.path });
        next();
      });
      await assert.rejects(sync(options({ forceWithLease: true })), (error: Error & { code?: string; ref?: string }) => {
        assert.equal(error.code, 'TARGET_REF_MOVED');
        assert.equal(error.ref, 'refs/heads/main');
        return true;
      });
      assert.equal((await forEachRef(target.path)).get('refs/heads/main'), racer, "the other writer's value survives");
      assert.notEqual(racer, diverged);
    });

    it('overwrites a ref that moved since planning with --force-blind (stock git)', async () => {
      await mirrorTarget();
      await target.commit('main', { parents: [`${sample.main}~1`], files: { 'diverged.txt': 'x' } });
      const racer = await target.commit('racer', { parents: [`${sample.main}~2`], files: { 'race.txt': 'x' } });
      await target.deleteRef('refs/heads/racer');
      let moved = false;
      middleware = when(isRpc('git-receive-pack'), async (_req, _res, next) => {
        if (!moved) await git(['update-ref', 'refs/heads/main', racer], { cwd: target.path });
        moved = true;
        next();
      });
      const result = await sync(options({ forceBlind: true }));
      assert.equal(result.pushed, 1);
      await assertMirrors(['refs/heads/']);
      assert.ok((result.stats?.phases['target push']?.requests ?? 0) >= 2, 'retried after re-reading the target');
    });

    it('retargets a tag only with a force flag', async () => {
      await mirrorTarget();
      await target.lightweightTag('v1.0', 'dev', { force: true });
      await assert.rejects(sync(options({ tags: true })), { code: 'REF_BLOCKED' });
      const result = await sync(options({ tags: true, forceWithLease: true }));
      assert.deepEqual(rows(result).filter(([a]) => a !== 'skip'), [['update', 'refs/tags/v1.0']]);
      await assertMirrors(['refs/tags/']);
    });

    it('prunes target-only branches with --prune, ref-only', async () => {
      await mirrorTarget();
      await target.commit('stale', { parents: ['main'] });
      const kept = await sync(options());
      assert.equal(kept.relayMode, 'none');
      assert.ok((await forEachRef(target.path)).has('refs/heads/stale'));
      const result = await sync(options({ prune: true }));
      assert.deepEqual(rows(result).filter(([a]) => a !== 'skip'), [['delete', 'refs/heads/stale']]);
      assert.equal(result.relayMode, 'ref-only');
      assert.equal(result.deleted, 1);
      await assertMirrors(['refs/heads/']);
    });

    it('replicate overwrites without a force flag and prunes', async () => {
      await mirrorTarget();
      await target.commit('main', { parents: [`${sample.main}~1`], files: { 'diverged.txt': 'x' } });
      await target.commit('extra', { parents: ['main'] });
      await target.lightweightTag('v1.0', 'dev', { force: true });
      const result = await replicate(options({ tags: true, prune: true }));
      assert.equal(result.operation, 'replicate');
      assert.equal(result.relayMode, 'replicate');
      await assertMirrors(['refs/heads/', 'refs/tags/']);
    });

    it('aborts at --max-pack-bytes and leaves the target untouched', async () => {
      await emptyTarget();
      await assert.rejects(sync(options({ maxPackBytes: 300 })), { code: 'PACK_TOO_LARGE' });
      await server.idle();
      assert.deepEqual(await forEachRef(target.path), new Map());
      await fsck(target.path);
    });

    it('bootstrap refuses a target with managed refs, and seeds an empty one', async () => {
      await mirrorTarget();
      await assert.rejects(bootstrap(options()), { code: 'REF_BLOCKED' });
      await rm(target.path, { recursive: true, force: true });
      await emptyTarget();
      const result = await bootstrap(options({ tags: true }));
      assert.equal(result.operation, 'bootstrap');
      await assertMirrors(['refs/heads/', 'refs/tags/']);
    });

    it('turns one rejected ref into a warning with --all-refs (best effort)', async () => {
      await emptyTarget();
      const hook = path.join(target.path, 'hooks', 'update');
      await writeFile(hook, '#!/bin/sh\ncase "$1" in refs/pull/*) echo "no pulls here" >&2; exit 1;; esac\nexit 0\n');
      await chmod(hook, 0o755);
      const result = await sync(options({ allRefs: true }));
      const pull = result.plans.find((p) => p.targetRef === 'refs/pull/1/head')!;
      assert.equal(pull.action, 'warn');
      assert.match(pull.reason, /^target rejected: /);
      assert.equal(result.warned, 1);
      const refs = await forEachRef(target.path);
      assert.ok(!refs.has('refs/pull/1/head'));
      assert.equal(refs.get('refs/heads/main'), sample.main);
      assert.ok(refs.has('refs/notes/commits'));
      await fsck(target.path);
    });

    it('splits ref commands into requests of --target-max-ref-updates', async () => {
      await emptyTarget();
      const pushes = await recordPushes(target);
      const result = await sync(options({ tags: true, targetMaxRefUpdates: 2 }));
      assert.equal(result.pushed, 5);
      const blocks = await pushes();
      assert.deepEqual(blocks.map((b) => b.length), [2, 2, 1]);
      assert.equal(blocks[0]![0], 'refs/heads/main');
      assert.equal(result.stats?.phases['target push']?.requests, 3);
      await assertMirrors(['refs/heads/', 'refs/tags/']);
    });
  });
}

describe('sync: a large relay keeps the target consistent', () => {
  it('relays a multi-megabyte history into an empty target and is then a no-op', async () => {
    const server = await startGitHttpServer();
    try {
      const source = await createRepo({ parentDir: server.root, name: 'source' });
      for (let i = 0; i < 4; i++) await source.commit('main', { files: { [`f${i}.bin`]: pseudoRandomBytes(1 << 20, i) } });
      await createRepo({ parentDir: server.root, name: 'target' });
      const first = await sync({ source: { url: server.url('source') }, target: { url: server.url('target') } });
      assert.equal(first.pushed, 1);
      assert.deepEqual(await forEachRef(path.join(server.root, 'target.git')), await forEachRef(source.path));
      await fsck(path.join(server.root, 'target.git'));
      const second = await sync({ source: { url: server.url('source') }, target: { url: server.url('target') } });
      assert.equal(second.relayMode, 'none');
      assert.equal(second.relayReason, 'nothing-to-push');
    } finally {
      await server.close();
    }
  });
});

describe('sync: ref-command chunking', () => {
  it('pushes 25 refs in requests of at most 7 commands, each with the objects it needs', async () => {
    const server = await startGitHttpServer();
    try {
      const source = await createRepo({ parentDir: server.root, name: 'source' });
      for (let i = 0; i < 25; i++) await source.commit(`b${String(i).padStart(2, '0')}`, { parents: i === 0 ? [] : ['b00'], files: { [`f${i}`]: `${i}` } });
      await source.setHead('b00');
      const target = await createRepo({ parentDir: server.root, name: 'target' });
      const pushes = await recordPushes(target);
      const result = await sync({ source: { url: server.url('source') }, target: { url: server.url('target') }, targetMaxRefUpdates: 7, stats: true });
      assert.equal(result.pushed, 25);
      assert.deepEqual((await pushes()).map((block) => block.length), [7, 7, 7, 4]);
      assert.equal(result.stats?.phases['target push']?.requests, 4);
      assert.equal(result.stats?.phases['target push']?.commands, 25);
      assert.deepEqual(await forEachRef(target.path), await forEachRef(source.path));
      await fsck(target.path);
    } finally {
      await server.close();
    }
  });
});
