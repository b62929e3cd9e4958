import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probe } from '../../src/index.js';
import { ListeningObserver } from '../../src/observe/observer.js';
import { ReceivePackSession } from '../../src/protocol/receive-pack-session.js';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { LocalTransport, type LocalEndpoint } from '../../src/transport/local.js';
import { createRepo } from '../helpers/fixtures.js';
import { forEachRef, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { processesMatching, waitUntilEmpty, zombieChildren } from '../helpers/processes.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { itProbesAndFetches } from './conformance.js';

function localEndpoint(path: string): LocalEndpoint {
  const endpoint = parseEndpoint(path);
  assert.ok(endpoint.kind === 'local');
  return endpoint;
}

describe('local transport (git upload-pack / receive-pack as child processes)', () => {
  let dir: TempDir;
  let repoPath: string;

  before(async () => {
    dir = makeTempDir('gitsync-local-');
    repoPath = (await sampleRepo(dir.path)).repo.path;
  });
  after(async () => {
    assert.deepEqual(await zombieChildren(), []);
    await dir.remove();
  });

  itProbesAndFetches('absolute path', () => ({ url: repoPath, repoPath }));
  itProbesAndFetches('file:// URL', () => ({ url: `file://${repoPath}`, repoPath }), ['v2']);

  it('resolves a relative path against cwd', async () => {
    const result = await probe({ source: { url: `./${relative(dir.path, repoPath)}` }, cwd: dir.path });
    assert.ok(result.refs.some((ref) => ref.name === 'refs/heads/main'));
  });

  it("serves a path with spaces, quotes and shell syntax as a plain argument", async () => {
    const parent = join(dir.path, `a b'c "d" $(touch PWNED); e`);
    await mkdir(parent);
    const repo = await createRepo({ parentDir: parent, name: 'weird' });
    const main = await repo.commit('main');
    for (const url of [repo.path, `file://${repo.path.split('/').map(encodeURIComponent).join('/')}`]) {
      const result = await probe({ source: { url } });
      assert.deepEqual(result.refs.map((ref) => [ref.name, ref.hash]), [['refs/heads/main', main]]);
    }
    assert.equal(existsSync(join(dir.path, 'PWNED')), false);
    assert.equal(existsSync('PWNED'), false);
  });

  it('refuses a source that does not exist: no such repository', async () => {
    await assert.rejects(probe({ source: { url: join(dir.path, 'missing.git') } }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'USAGE');
      assert.match(error.message, /no such repository/);
      return true;
    });
    assert.equal(existsSync(join(dir.path, 'missing.git')), false);
  });

  it("reports git's own words when the path is not a repository", async () => {
    const plain = join(dir.path, 'plain-dir');
    await mkdir(plain);
    await assert.rejects(probe({ source: { url: plain } }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'REMOTE_ERROR');
      assert.match(error.message, /does not appear to be a git repository/);
      return true;
    });
  });

  it('creates a missing target as an empty bare repository for receive-pack, but not when only looking', async () => {
    const target = join(dir.path, 'new', 'mirror.git');
    const looked = await probe({ source: { url: repoPath }, target: { url: target } });
    assert.deepEqual(looked.target?.capabilities, [], 'a target that does not exist yet reads as empty');
    assert.equal(existsSync(target), false, 'probe creates nothing');

    const observer = new ListeningObserver({ stats: true });
    const session = await ReceivePackSession.open(new LocalTransport(localEndpoint(target), { observer }));
    await session.close();
    assert.ok(session.discovery.features.reportStatus);
    assert.equal(await git(['rev-parse', '--is-bare-repository'], { cwd: target }), 'true');
    assert.equal((await forEachRef(target)).size, 0);
    const stats = observer.stop();
    assert.equal(stats?.phases['target info-refs']?.requests, 1);
    assert.ok((stats?.phases['target info-refs']?.responseBytes ?? 0) > 0);
  });

  it('abort kills the upload-pack child and leaves no process behind', async (t) => {
    const transport = new LocalTransport(localEndpoint(repoPath));
    const controller = new AbortController();
    const connection = await transport.connect('git-upload-pack', { protocol: 'v1', phase: 'source info-refs', signal: controller.signal });
    t.after(() => connection.close());
    // Read the whole advertisement; upload-pack then waits for wants that never come.
    for (;;) {
      const packet = await connection.advertisement.read();
      if (packet === null || packet.type === 'flush') break;
    }
    assert.equal((await processesMatching(repoPath)).length, 1);
    const pending = connection.advertisement.read();
    controller.abort();
    await assert.rejects(pending, { code: 'ABORTED' });
    await connection.close();
    assert.deepEqual(await waitUntilEmpty(() => processesMatching(repoPath)), []);
    assert.deepEqual(await zombieChildren(), []);
  });

  it('close ends the session politely: upload-pack exits by itself', { timeout: 30_000 }, async () => {
    // Were upload-pack not to exit on its own, close would wait the whole (ten-minute) grace
    // before killing it, and the test's timeout would fail it.
    const transport = new LocalTransport(localEndpoint(repoPath), { exitGraceMillis: 600_000 });
    for (const protocol of ['v1', 'v2'] as const) {
      const connection = await transport.connect('git-upload-pack', { protocol, phase: 'source info-refs' });
      await connection.advertisement.read();
      await connection.close();
      assert.deepEqual(await processesMatching(repoPath), []);
    }
  });
});
