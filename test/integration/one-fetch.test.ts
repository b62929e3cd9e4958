/**
 * One fetch for an incremental sync (docs/architecture.md, "One fetch for an incremental sync"):
 * fast-forwards planned without asking the source, proven by the relay's own pack before the
 * target takes it; and every way that proof can fail ending with nothing applied and an exact
 * plan made the ordinary way. Real git http-backend, v1 and v2.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sync, type SyncOptions } from '../../src/api/sync.js';
import { RefBlockedError } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/observe/progress.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';

for (const protocol of ['v2', 'v1'] as const) {
  describe(`one fetch for an incremental sync (source ${protocol})`, { timeout: 120_000 }, () => {
    let server: GitHttpServer;
    let source: FixtureRepo;
    let target: FixtureRepo | null = null;
    let base: string;

    before(async () => {
      server = await startGitHttpServer({ config: { 'uploadpack.allowFilter': 'true' } });
      source = await createRepo({ parentDir: server.root, name: 'source' });
      await source.commit('main', { files: { 'a.txt': 'a\n' } });
      base = await source.commit('main', { files: { 'b.txt': 'b\n' } });
      await source.commit('main', { files: { 'c.txt': 'c\n' } });
      await source.commit('dev', { parents: [base], files: { 'dev.txt': 'dev\n' } });
    });
    after(async () => server?.close());
    beforeEach(async () => {
      if (target !== null) await rm(target.path, { recursive: true, force: true });
      target = null;
    });

    /** A target holding `refs` (name -> commit of the source). */
    async function targetWith(refs: Record<string, string>): Promise<FixtureRepo> {
      target = await createRepo({ parentDir: server.root, name: 'target' });
      for (const [name, commit] of Object.entries(refs)) await git(['push', '--quiet', target.path, `${commit}:${name}`], { cwd: source.path });
      return target;
    }

    function run(extra: Partial<SyncOptions> = {}): { options: SyncOptions; decisions: string[] } {
      const decisions: string[] = [];
      const options: SyncOptions = {
        source: { url: server.url('source') },
        target: { url: server.url('target') },
        protocol,
        stats: true,
        onProgress: (event: ProgressEvent) => {
          if (event.kind === 'decision') decisions.push(event.message);
        },
        ...extra,
      };
      return { options, decisions };
    }

    const uploadPackPosts = (): number =>
      server.requests.filter((entry) => entry.method === 'POST' && entry.kind.repo === 'source.git' && entry.kind.service === 'git-upload-pack').length;

    it('fast-forwards two branches with one fetch and one push, proven by the relay pack', async () => {
      const main = await source.revParse('main');
      const dev = await source.revParse('dev');
      await targetWith({ 'refs/heads/main': `${main}~1`, 'refs/heads/dev': `${dev}~1` });
      server.clearLog();
      const { options, decisions } = run();
      const result = await sync(options);
      assert.deepEqual(result.plans.map((plan) => [plan.action, plan.targetRef, plan.forced]), [
        ['update', 'refs/heads/dev', false],
        ['update', 'refs/heads/main', false],
      ]);
      assert.ok(decisions.some((d) => d.includes("left to the relay's pack")), decisions.join('\n'));
      assert.equal(result.stats?.phases['source fetch']?.requests, 1, 'the relay is the only fetch');
      assert.equal(result.stats?.phases['target push']?.requests, 1);
      // v2 lists with ls-refs (a POST) then fetches; v1 only fetches.
      assert.equal(uploadPackPosts(), protocol === 'v2' ? 2 : 1);
      assert.deepEqual(await forEachRef(target!.path), await forEachRef(source.path));
      await fsck(target!.path);
    });

    it('a diverged branch: the pack proves nothing, nothing lands, and the plan made the ordinary way blocks it', async () => {
      const main = await source.revParse('main');
      const dev = await source.revParse('dev');
      const t = await targetWith({ 'refs/heads/dev': `${dev}~1` });
      // main on the target: a commit the source never had, on top of main~1.
      await git(['push', '--quiet', t.path, `${main}~1:refs/heads/main`], { cwd: source.path });
      await t.commit('main', { files: { 'diverged.txt': 'x\n' } });
      const before_ = await forEachRef(t.path);
      const { options, decisions } = run();
      const error = await sync(options).then(
        () => assert.fail('the diverged branch was pushed'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof RefBlockedError, String(error));
      assert.deepEqual(error.refs, ['refs/heads/main']);
      assert.ok(decisions.some((d) => d.includes('did not prove refs/heads/main') && d.includes('nothing was applied')), decisions.join('\n'));
      assert.deepEqual(await forEachRef(t.path), before_, 'not even the fast-forward of dev landed');
      await fsck(t.path);
    });

    it('a fast-forward the pack cannot show (the path runs through another target ref): the source is asked, then it is pushed', async () => {
      const main = await source.revParse('main');
      // The target's main is two behind; a branch only the target has sits one behind, so the
      // relay's pack (main down to what the target has) holds main's tip alone.
      await targetWith({ 'refs/heads/main': `${main}~2`, 'refs/heads/mid': `${main}~1`, 'refs/heads/dev': await source.revParse('dev') });
      const { options, decisions } = run();
      const result = await sync(options);
      assert.deepEqual(result.plans.filter((plan) => plan.action !== 'skip').map((plan) => [plan.action, plan.targetRef, plan.forced]), [['update', 'refs/heads/main', false]]);
      assert.ok(decisions.some((d) => d.includes('did not prove refs/heads/main')), decisions.join('\n'));
      assert.ok(decisions.some((d) => d.startsWith('ancestry: 1 question(s), one fetch')), decisions.join('\n'));
      assert.equal((await forEachRef(target!.path)).get('refs/heads/main'), main);
      await fsck(target!.path);
    });
  });
}

describe('one fetch for an incremental sync: a source without filters is asked first', { timeout: 60_000 }, () => {
  it('plans with a commits-read fetch, then relays (a bitmap walk may send commits as deltas no reader can open)', async () => {
    const server = await startGitHttpServer();
    try {
      const source = await createRepo({ parentDir: server.root, name: 'source' });
      await source.commit('main', { files: { 'a.txt': 'a\n' } });
      const tip = await source.commit('main', { files: { 'b.txt': 'b\n' } });
      const target = await createRepo({ parentDir: server.root, name: 'target' });
      await git(['push', '--quiet', target.path, `${tip}~1:refs/heads/main`], { cwd: source.path });
      const decisions: string[] = [];
      const result = await sync({
        source: { url: server.url('source') },
        target: { url: server.url('target') },
        stats: true,
        onProgress: (event: ProgressEvent) => {
          if (event.kind === 'decision') decisions.push(event.message);
        },
      });
      assert.ok(decisions.some((d) => d.startsWith('ancestry: 1 question(s), one fetch')), decisions.join('\n'));
      assert.ok(!decisions.some((d) => d.includes("left to the relay's pack")), decisions.join('\n'));
      assert.equal(result.stats?.phases['source fetch']?.requests, 2);
      assert.equal((await forEachRef(target.path)).get('refs/heads/main'), tip);
      await fsck(target.path);
    } finally {
      await server.close();
    }
  });
});

