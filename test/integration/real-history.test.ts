/**
 * Histories packed the way git packs real projects (test/helpers/deltified-history.ts): most
 * commits and tags stored as deltas, some bases more than a megabyte back in the stream the
 * server sends. Planning, syncing and batching a target thousands of commits behind, over HTTP
 * (with and without `uploadpack.allowFilter`), local paths and SSH; targets checked with
 * `git for-each-ref` and `git fsck`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { plan } from '../../src/api/plan.js';
import { sync } from '../../src/api/sync.js';
import { RefBlockedError } from '../../src/errors.js';
import { commitDeltaReach, createDeltifiedHistory, type DeltifiedHistory } from '../helpers/deltified-history.js';
import { forEachRef, fsck, git, makeTempDir, runGit, type TempDir } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { SSHD_BINARY, startSshServer, type SshServer } from '../helpers/sshd.js';
import { missingSystemTool, startAll } from '../helpers/system.js';
import { runCli } from '../cli/run-cli.js';

const COMMITS = 4000;
const BEHIND = 3000;
const MANAGED = ['refs/heads/', 'refs/tags/'];

describe('real-shaped histories: commits stored as deltas, bases far back', { skip: missingSystemTool(SSHD_BINARY, 'openssh-server') }, () => {
  let dir: TempDir;
  let history: DeltifiedHistory;
  /** Serves `dir` with `uploadpack.allowFilter`, and without it. */
  let filtered: GitHttpServer;
  let unfiltered: GitHttpServer;
  let ssh: SshServer;
  const savedSsh = process.env['GIT_SSH_COMMAND'];
  let targets = 0;

  before(async () => {
    dir = makeTempDir('gitsync-real-');
    [filtered, unfiltered, ssh] = await startAll(
      () => startGitHttpServer({ root: dir.path, config: { 'uploadpack.allowFilter': 'true' } }),
      () => startGitHttpServer({ root: dir.path }),
      () => startSshServer(),
    );
    process.env['GIT_SSH_COMMAND'] = ssh.sshCommand;
    history = await createDeltifiedHistory(join(dir.path, 'source.git'), { commits: COMMITS });
  });
  after(async () => {
    if (savedSsh === undefined) delete process.env['GIT_SSH_COMMAND'];
    else process.env['GIT_SSH_COMMAND'] = savedSsh;
    await Promise.all([filtered?.close(), unfiltered?.close(), ssh?.close()]);
    await dir?.remove();
  });

  /** A new bare target under `dir` holding the source's `main~behind` only (as a mirror that fell behind). */
  async function behindTarget(behind: number): Promise<string> {
    const path = join(dir.path, `target-${++targets}.git`);
    await runGit(['init', '--quiet', '--bare', '--initial-branch=main', path]);
    await runGit(['push', '--quiet', path, `main~${behind}:refs/heads/main`], { cwd: history.path });
    return path;
  }

  const sources: [string, () => string][] = [
    ['HTTP, source with uploadpack.allowFilter', () => filtered.url('source')],
    ['HTTP, source without filter (the ordinary pack read as far as its commits)', () => unfiltered.url('source')],
    ['a local path', () => history.path],
    ['SSH', () => ssh.url(history.path)],
  ];

  it('is packed as git packs real projects: commit and tag deltas, bases more than 1 MiB back in what the server sends', async () => {
    assert.ok(history.commitDeltas > 1000, `${history.commitDeltas} commits stored as deltas`);
    assert.ok(history.tagDeltas > 10, `${history.tagDeltas} of ${history.tags} tags stored as deltas`);
    for (const filter of [true, false]) {
      const reach = await commitDeltaReach(history.path, ['main', `^main~${BEHIND}`], { filter });
      // git-sync before this fixture kept 1 MiB of recent commits as delta bases: it failed here.
      assert.ok(reach.basesPastOneMiB > 100, `filter=${filter}: ${reach.basesPastOneMiB} commit deltas reach more than 1 MiB back (farthest ${reach.farthestBaseBytes})`);
    }
  });

  for (const [name, url] of sources) {
    it(`plans and syncs a target ${BEHIND} commits behind, from ${name}`, async () => {
      const target = await behindTarget(BEHIND);
      const before = await forEachRef(target);
      const planned = await plan({ source: { url: url() }, target: { url: target }, tags: true });
      const main = planned.plans.find((p) => p.targetRef === 'refs/heads/main');
      assert.equal(main?.action, 'update');
      assert.equal(main?.forced, false, 'a fast-forward');
      assert.equal(planned.relayMode, 'incremental');
      assert.deepEqual(await forEachRef(target), before, 'plan changes nothing');

      const result = await sync({ source: { url: url() }, target: { url: target }, tags: true });
      assert.equal(result.blocked, 0);
      assert.deepEqual(await forEachRef(target, MANAGED), await forEachRef(history.path, MANAGED));
      await fsck(target);
    });
  }

  it('blocks a diverged target and leaves it as it was', async () => {
    const target = await behindTarget(BEHIND);
    const base = await git(['rev-parse', 'main'], { cwd: target });
    const tree = await git(['rev-parse', 'main^{tree}'], { cwd: target });
    const diverged = await git(['commit-tree', tree, '-p', base, '-m', 'work only the mirror has'], { cwd: target });
    await git(['update-ref', 'refs/heads/main', diverged], { cwd: target });
    const before = await forEachRef(target);
    for (const source of [filtered.url('source'), unfiltered.url('source')]) {
      const planned = await plan({ source: { url: source }, target: { url: target } });
      assert.equal(planned.plans.find((p) => p.targetRef === 'refs/heads/main')?.action, 'block');
      await assert.rejects(sync({ source: { url: source }, target: { url: target } }), RefBlockedError);
      assert.deepEqual(await forEachRef(target), before, 'nothing pushed');
    }
    await fsck(target);
  });

  for (const [name, server] of [['with', () => filtered], ['without', () => unfiltered]] as const) {
    it(`bootstraps an empty target in batches under a body limit, source ${name} filter (CLI)`, async () => {
      const target = join(dir.path, `batched-${name}.git`);
      await runGit(['init', '--quiet', '--bare', target]);
      const run = await runCli(['sync', '--tags', '--json', '--target-max-pack-bytes', '1MiB', server().url('source'), server().url(`batched-${name}`)]);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { relayMode: string; batchCount: number };
      assert.equal(result.relayMode, 'bootstrap-batch');
      assert.ok(result.batchCount >= 3, `${result.batchCount} batches`);
      assert.deepEqual(await forEachRef(target, MANAGED), await forEachRef(history.path, MANAGED));
      assert.deepEqual(await forEachRef(target, ['refs/gitsync/']), new Map(), 'no temp refs left');
      await fsck(target);
    });
  }
});
