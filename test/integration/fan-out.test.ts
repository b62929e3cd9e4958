/**
 * One source, many targets (docs/architecture.md, "One source, many targets"): the source listed
 * once, one shared fetch for targets that need the same pack, each target planned and reported on
 * its own; a blocked or failing target does not stop the others. Real servers: git http-backend,
 * local paths, sshd.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fanOut } from '../../src/api/fan-out.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { isRpc, once, respond, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { SSHD_BINARY, startSshServer, type SshServer } from '../helpers/sshd.js';
import { missingSystemTool, startAll } from '../helpers/system.js';

describe('fan-out: one source, many targets', { skip: missingSystemTool(SSHD_BINARY, 'openssh-server'), timeout: 180_000 }, () => {
  let dir: TempDir;
  let http: GitHttpServer;
  let ssh: SshServer;
  let source: FixtureRepo;
  let next = 0;
  const saved = process.env['GIT_SSH_COMMAND'];

  before(async () => {
    dir = makeTempDir('gitsync-fanout-');
    [http, ssh] = await startAll(() => startGitHttpServer(), () => startSshServer());
    process.env['GIT_SSH_COMMAND'] = ssh.sshCommand;
    source = await createRepo({ parentDir: http.root, name: 'source' });
    for (let i = 0; i < 4; i++) await source.commit('main', { files: { [`f${i}.bin`]: pseudoRandomBytes(200_000, `fan${i}`) } });
    await source.commit('dev', { parents: ['main~1'], files: { 'dev.txt': 'dev\n' } });
    await source.annotatedTag('v1', 'main', { message: 'v1' });
  });
  after(async () => {
    if (saved === undefined) delete process.env['GIT_SSH_COMMAND'];
    else process.env['GIT_SSH_COMMAND'] = saved;
    await Promise.all([http?.close(), ssh?.close()]);
    await dir?.remove();
  });

  const sourceFetches = (): number =>
    http.requests.filter((entry) => entry.method === 'POST' && entry.kind.repo === 'source.git' && entry.kind.service === 'git-upload-pack').length;

  /** Three empty targets: over HTTP, a local path, and SSH. */
  async function emptyTargets(): Promise<{ urls: string[]; paths: string[] }> {
    next += 1;
    const httpTarget = await createRepo({ parentDir: http.root, name: `http-${next}` });
    const localPath = join(dir.path, `local-${next}.git`);
    const sshTarget = await createRepo({ parentDir: dir.path, name: `ssh-${next}` });
    return { urls: [http.url(`http-${next}`), localPath, ssh.url(sshTarget.path)], paths: [httpTarget.path, localPath, sshTarget.path] };
  }

  it('seeds three empty targets (HTTP, local, SSH) with one fetch from the source', async () => {
    const { urls, paths } = await emptyTargets();
    http.clearLog();
    const decisions: string[] = [];
    const result = await fanOut({
      operation: 'sync',
      source: { url: http.url('source') },
      targets: urls.map((url) => ({ url })),
      tags: true,
      protocol: 'v1',
      stats: true,
      onProgress: (event) => {
        if (event.kind === 'decision') decisions.push(event.message);
      },
    });
    assert.equal(result.sharedFetches, 1);
    // v1 lists with a GET: every POST to the source's upload-pack is a fetch.
    assert.equal(sourceFetches(), 1, decisions.join('\n'));
    assert.ok(decisions.some((d) => d.startsWith('fan-out: one fetch for 3 targets')), decisions.join('\n'));
    assert.deepEqual(result.targets.map((t) => [t.error?.code ?? null, t.result.relayMode, t.result.pushed]), [
      [null, 'bootstrap', 3],
      [null, 'bootstrap', 3],
      [null, 'bootstrap', 3],
    ]);
    const expected = await forEachRef(source.path, ['refs/heads/', 'refs/tags/']);
    for (const path of paths) {
      assert.deepEqual(await forEachRef(path, ['refs/heads/', 'refs/tags/']), expected, path);
      await fsck(path);
    }
    // Each target's own decisions are named.
    assert.ok(decisions.some((d) => d.startsWith(`[${urls[1]}] plan:`)), decisions.join('\n'));
  });

  it('a diverged target is blocked while the others are updated', async () => {
    const { urls, paths } = await emptyTargets();
    await fanOut({ operation: 'sync', source: { url: http.url('source') }, targets: urls.map((url) => ({ url })), tags: true });
    await source.commit('main', { files: { 'more.txt': 'more\n' } });
    // The local target's main moves away from the source's history.
    await git(['update-ref', 'refs/heads/main', (await forEachRef(paths[1]!)).get('refs/heads/dev')!], { cwd: paths[1]! });
    const before_ = await forEachRef(paths[1]!);
    const result = await fanOut({ operation: 'sync', source: { url: http.url('source') }, targets: urls.map((url) => ({ url })), tags: true });
    assert.deepEqual(result.targets.map((t) => t.error?.code ?? null), [null, 'REF_BLOCKED', null]);
    assert.deepEqual(result.targets[1]!.result.plans.find((p) => p.targetRef === 'refs/heads/main')?.action, 'block');
    assert.deepEqual(await forEachRef(paths[1]!), before_, 'the blocked target is untouched');
    const expected = await forEachRef(source.path, ['refs/heads/', 'refs/tags/']);
    for (const i of [0, 2]) {
      assert.deepEqual(await forEachRef(paths[i]!, ['refs/heads/', 'refs/tags/']), expected);
      await fsck(paths[i]!);
    }
  });

  it('a target that fails mid-stream is cut off; the others complete', async () => {
    const { urls, paths } = await emptyTargets();
    const broken = `http-${next}.git`;
    // The HTTP target's receive-pack request dies after 100 KB of its body.
    const server = await startGitHttpServer({
      root: http.root,
      onRequest: (req, _res, next_) => {
        if (req.url?.includes(`/${broken}/git-receive-pack`) && req.method === 'POST') {
          let seen = 0;
          req.on('data', (chunk: Buffer) => {
            seen += chunk.length;
            if (seen > 100_000) req.socket.destroy();
          });
        }
        next_();
      },
    });
    try {
      const targets = [server.url(`http-${next}`), urls[1]!, urls[2]!];
      const result = await fanOut({ operation: 'sync', source: { url: server.url('source') }, targets: targets.map((url) => ({ url })), tags: true, retries: 0 });
      assert.equal(result.sharedFetches, 1);
      assert.ok(result.targets[0]!.error !== null, 'the broken target failed');
      assert.equal(result.targets[0]!.error!.side, 'target');
      assert.deepEqual(result.targets.slice(1).map((t) => t.error?.code ?? null), [null, null]);
      assert.deepEqual((await forEachRef(paths[0]!)).size, 0, 'nothing landed on the broken target');
      const expected = await forEachRef(source.path, ['refs/heads/', 'refs/tags/']);
      for (const i of [1, 2]) {
        assert.deepEqual(await forEachRef(paths[i]!, ['refs/heads/', 'refs/tags/']), expected);
        await fsck(paths[i]!);
      }
    } finally {
      await server.close();
    }
  });

  it('a target whose push got a transient 503 is tried again alone after the group; all land', async () => {
    const { urls, paths } = await emptyTargets();
    const flaky = `http-${next}.git`;
    const server = await startGitHttpServer({
      root: http.root,
      onRequest: when((req) => req.url?.includes(`/${flaky}/`) === true && isRpc('git-receive-pack')(req), once(respond(503, 'busy'))),
    });
    try {
      const decisions: string[] = [];
      const targets = [server.url(`http-${next}`), urls[1]!, urls[2]!];
      const result = await fanOut({
        operation: 'sync',
        source: { url: server.url('source') },
        targets: targets.map((url) => ({ url })),
        tags: true,
        retryDelayMillis: 10,
        onProgress: (event) => {
          if (event.kind === 'decision') decisions.push(event.message);
        },
      });
      assert.deepEqual(result.targets.map((t) => t.error?.code ?? null), [null, null, null]);
      assert.ok(decisions.some((d) => d.includes('trying it again alone')), decisions.join('\n'));
      const expected = await forEachRef(source.path, ['refs/heads/', 'refs/tags/']);
      for (const path of paths) {
        assert.deepEqual(await forEachRef(path, ['refs/heads/', 'refs/tags/']), expected, path);
        await fsck(path);
      }
    } finally {
      await server.close();
    }
  });

  it('plans every target, pushing nothing', async () => {
    const { urls, paths } = await emptyTargets();
    const result = await fanOut({ operation: 'plan', source: { url: http.url('source') }, targets: urls.map((url) => ({ url })), tags: true });
    assert.deepEqual(result.targets.map((t) => [t.error, t.result.dryRun, t.result.relayMode]), [
      [null, true, 'bootstrap'],
      [null, true, 'bootstrap'],
      [null, true, 'bootstrap'],
    ]);
    assert.equal((await forEachRef(paths[0]!)).size, 0);
  });

  it('refuses the same target twice, and a target that is the source', async () => {
    const { urls } = await emptyTargets();
    await assert.rejects(fanOut({ operation: 'sync', source: { url: http.url('source') }, targets: [{ url: urls[1]! }, { url: urls[1]! }] }), /same target repository/);
    await assert.rejects(fanOut({ operation: 'sync', source: { url: source.path }, targets: [{ url: urls[1]! }, { url: source.path }] }), /same repository/);
  });
});
