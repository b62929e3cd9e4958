import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { plan } from '../../src/api/plan.js';
import { sync } from '../../src/api/sync.js';
import { createRepo, openRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { installTestRemoteHelpers } from '../helpers/remote-helper.js';
import { SSHD_BINARY, startSshServer, type SshServer } from '../helpers/sshd.js';
import { missingSystemTool, startAll } from '../helpers/system.js';
import { runCli } from '../cli/run-cli.js';
import { sampleRepo } from '../helpers/sample-repo.js';

/**
 * Every transport as a source and as a target: a first sync (bootstrap) and, after the source
 * moves on, a second, incremental one. Targets are checked with for-each-ref and fsck --full.
 */
describe('sync across transports', { skip: missingSystemTool(SSHD_BINARY, 'openssh-server') }, () => {
  let dir: TempDir;
  let http: GitHttpServer;
  let ssh: SshServer;
  let daemon: GitDaemon;
  const saved = { PATH: process.env['PATH'], GIT_SSH_COMMAND: process.env['GIT_SSH_COMMAND'] };

  before(async () => {
    dir = makeTempDir('gitsync-matrix-');
    const helpers = await installTestRemoteHelpers();
    [http, ssh, daemon] = await startAll(() => startGitHttpServer(), () => startSshServer(), () => startGitDaemon());
    process.env['PATH'] = `${helpers.binDir}:${saved.PATH ?? ''}`;
    process.env['GIT_SSH_COMMAND'] = ssh.sshCommand;
  });
  after(async () => {
    process.env['PATH'] = saved.PATH;
    if (saved.GIT_SSH_COMMAND === undefined) delete process.env['GIT_SSH_COMMAND'];
    else process.env['GIT_SSH_COMMAND'] = saved.GIT_SSH_COMMAND;
    await Promise.all([http?.close(), ssh?.close(), daemon?.close()]);
    await dir?.remove();
  });

  async function twoSyncs(name: string, source: FixtureRepo, sourceUrl: string, targetPath: string, targetUrl: string, protocol: 'auto' | 'v1' = 'auto'): Promise<void> {
    const scope = { tags: true, protocol };
    const first = await sync({ source: { url: sourceUrl }, target: { url: targetUrl }, ...scope });
    assert.equal(first.relayMode, 'bootstrap', `${name}: first sync bootstraps`);
    const refs = ['refs/heads/', 'refs/tags/'];
    assert.deepEqual(await forEachRef(targetPath, refs), await forEachRef(source.path, refs), `${name}: first sync`);
    await fsck(targetPath);

    await source.commit('main', { files: { [`${name}.txt`]: `more from ${name}\n` } });
    await source.commit('dev', { files: { 'dev2.txt': 'x' } });
    const second = await sync({ source: { url: sourceUrl }, target: { url: targetUrl }, ...scope, stats: true });
    assert.equal(second.relayMode, 'incremental', `${name}: second sync is incremental`);
    assert.equal(second.pushed, 2);
    assert.ok((second.stats?.source.bytesReceived ?? 0) > 0 && (second.stats?.target.bytesSent ?? 0) > 0, `${name}: bytes counted on both sides`);
    assert.deepEqual(await forEachRef(targetPath, refs), await forEachRef(source.path, refs), `${name}: second sync`);
    await fsck(targetPath);
  }

  it('HTTP to SSH', async () => {
    const { repo } = await sampleRepo(http.root, 'h2s-source');
    const target = await createRepo({ parentDir: dir.path, name: 'h2s-target' });
    await twoSyncs('http-ssh', repo, http.url('h2s-source'), target.path, ssh.url(target.path));
  });

  it('SSH (scp-like alias) to a local path', async () => {
    const { repo } = await sampleRepo(dir.path, 's2l-source');
    const target = path.join(dir.path, 's2l-target.git');
    await twoSyncs('ssh-local', repo, `${ssh.alias}:${repo.path}`, target, target);
  });

  it('SSH over protocol v1 (one fetch per connection: ancestry and relay reconnect) to a local path', async () => {
    const { repo } = await sampleRepo(dir.path, 's2l1-source');
    const target = path.join(dir.path, 's2l1-target.git');
    await twoSyncs('ssh-v1-local', repo, ssh.url(repo.path), target, target, 'v1');
  });

  it('local path to HTTP', async () => {
    const { repo } = await sampleRepo(dir.path, 'l2h-source');
    const target = await createRepo({ parentDir: http.root, name: 'l2h-target' });
    await twoSyncs('local-http', repo, repo.path, target.path, http.url('l2h-target'));
  });

  it('git:// to a local path (file://)', async () => {
    const { repo } = await sampleRepo(daemon.root, 'd2l-source');
    const target = path.join(dir.path, 'd2l-target.git');
    await twoSyncs('daemon-local', repo, daemon.url('d2l-source'), target, `file://${target}`);
  });

  it('a remote-helper source to a local path', async () => {
    const { repo } = await sampleRepo(dir.path, 'r2l-source');
    const target = path.join(dir.path, 'r2l-target.git');
    await twoSyncs('helper-local', repo, `teststateless://${repo.path}`, target, target);
  });

  it('plans against a local target that does not exist yet without creating it', async () => {
    const { repo } = await sampleRepo(dir.path, 'p2l-source');
    const target = path.join(dir.path, 'not-yet.git');
    const result = await plan({ source: { url: repo.path }, target: { url: target } });
    assert.equal(result.bootstrapSuggested, true);
    assert.equal(result.relayMode, 'bootstrap');
    assert.equal(existsSync(target), false, 'plan creates nothing');
  });

  it('`git-sync sync <https source> ./backup.git` creates and fills a local mirror in one command', async () => {
    const { repo } = await sampleRepo(http.root, 'backup-source');
    const cwd = makeTempDir('gitsync-backup-');
    try {
      const run = await runCli(['sync', '--tags', http.url('backup-source'), './backup.git'], {}, cwd.path);
      assert.equal(run.code, 0, run.stderr);
      const backup = await openRepo(path.join(cwd.path, 'backup.git'));
      assert.equal(await git(['rev-parse', '--is-bare-repository'], { cwd: backup.path }), 'true');
      const refs = ['refs/heads/', 'refs/tags/'];
      assert.deepEqual(await forEachRef(backup.path, refs), await forEachRef(repo.path, refs));
      await fsck(backup.path);
    } finally {
      await cwd.remove();
    }
  });
});
