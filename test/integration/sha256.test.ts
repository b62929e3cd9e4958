/**
 * SHA-256 repositories end to end: 64-hex ids in advertisements and commands, pack trailers and
 * commit ids hashed with SHA-256, through git http-backend and between local paths.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { plan } from '../../src/api/plan.js';
import { sync } from '../../src/api/sync.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';

const MiB = 1024 * 1024;
const MANAGED = ['refs/heads/', 'refs/tags/'];

describe('SHA-256 repositories', () => {
  let server: GitHttpServer;
  let source: FixtureRepo;

  before(async () => {
    server = await startGitHttpServer();
    source = await createRepo({ parentDir: server.root, name: 'source', objectFormat: 'sha256' });
    for (let i = 0; i < 4; i++) await source.commit('main', { files: { [`data-${i}.bin`]: pseudoRandomBytes(MiB, `s${i}`), 'notes.txt': `${i}\n` } });
    await source.commit('dev', { parents: ['main~1'], files: { 'dev.txt': 'dev\n' } });
    await source.annotatedTag('v1', 'main~2', { message: 'v1' });
    assert.equal((await source.revParse('main')).length, 64);
  });
  after(async () => server.close());

  const targetPath = (name: string): string => path.join(server.root, `${name}.git`);

  for (const over of ['http', 'local paths'] as const) {
    it(`bootstraps, fast-forwards and blocks a rewrite (${over})`, async () => {
      const name = over === 'http' ? 'http-target' : 'local-target';
      await createRepo({ parentDir: server.root, name, objectFormat: 'sha256' });
      const urls = over === 'http' ? { source: server.url('source'), target: server.url(name) } : { source: source.path, target: targetPath(name) };
      const first = await sync({ source: { url: urls.source }, target: { url: urls.target }, tags: true });
      assert.equal(first.relayMode, 'bootstrap');
      assert.deepEqual(await forEachRef(targetPath(name), MANAGED), await forEachRef(source.path, MANAGED));
      await fsck(targetPath(name));

      await source.commit('main', { files: { 'more.txt': 'more\n' } });
      const second = await sync({ source: { url: urls.source }, target: { url: urls.target }, tags: true });
      assert.equal(second.relayMode, 'incremental');
      assert.deepEqual(second.plans.filter((p) => p.action === 'update').map((p) => p.targetRef), ['refs/heads/main']);
      assert.deepEqual(await forEachRef(targetPath(name), MANAGED), await forEachRef(source.path, MANAGED));

      // The target is rewound by one commit: the source's main is still a fast-forward of it.
      await git(['push', '--quiet', '--force', targetPath(name), 'main~1:refs/heads/main'], { cwd: source.path });
      const rewound = await plan({ source: { url: urls.source }, target: { url: urls.target } });
      assert.deepEqual(rewound.plans.find((p) => p.targetRef === 'refs/heads/main')?.action, 'update', 'still a fast-forward');
      // Then someone pushes an unrelated history there: now it is a rewrite, blocked.
      const other = await createRepo({ parentDir: server.root, name: `${name}-other`, objectFormat: 'sha256' });
      await other.commit('main', { files: { 'x.txt': 'x' } });
      await git(['push', '--quiet', '--force', targetPath(name), 'main:refs/heads/main'], { cwd: other.path });
      const diverged = await plan({ source: { url: urls.source }, target: { url: urls.target } });
      assert.equal(diverged.plans.find((p) => p.targetRef === 'refs/heads/main')?.action, 'block');
    });
  }

  it('batches into a target with a body limit', async () => {
    const limited = await startGitHttpServer({ root: server.root, maxRequestBytes: 2 * MiB });
    try {
      await createRepo({ parentDir: server.root, name: 'batched', objectFormat: 'sha256' });
      const result = await sync({ source: { url: server.url('source') }, target: { url: limited.url('batched') }, tags: true, targetMaxPackBytes: 2 * MiB });
      assert.ok(result.batchCount >= 2, `${result.batchCount} batches`);
      assert.deepEqual(await forEachRef(targetPath('batched'), MANAGED), await forEachRef(source.path, MANAGED));
      assert.deepEqual(await forEachRef(targetPath('batched'), ['refs/gitsync/']), new Map());
      await fsck(targetPath('batched'));
    } finally {
      await limited.close();
    }
  });

  it('creates a missing local target in the source\'s format', async () => {
    const target = path.join(server.root, 'created', 'mirror.git');
    const result = await sync({ source: { url: server.url('source') }, target: { url: target }, tags: true });
    assert.equal(result.relayMode, 'bootstrap');
    assert.equal(await git(['rev-parse', '--show-object-format'], { cwd: target }), 'sha256');
    assert.deepEqual(await forEachRef(target, MANAGED), await forEachRef(source.path, MANAGED));
    await fsck(target);
  });

  it('refuses a SHA-1 target before pushing anything, naming both formats', async () => {
    await createRepo({ parentDir: server.root, name: 'sha1' });
    await assert.rejects(sync({ source: { url: server.url('source') }, target: { url: server.url('sha1') } }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'UNSUPPORTED');
      assert.match(error.message, /uses sha256 object ids and .* uses sha1; .*--object-format=sha256/);
      return true;
    });
    assert.deepEqual(await forEachRef(targetPath('sha1')), new Map());
    assert.equal(server.requests.filter((r) => r.kind.repo === 'sha1.git' && r.kind.phase === 'rpc').length, 0, 'no push request');
  });
});
