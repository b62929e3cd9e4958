import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { probe } from '../../src/index.js';
import { lsRemote } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo } from '../helpers/sample-repo.js';

describe('probe against git http-backend', () => {
  let server: GitHttpServer;
  let url: string;

  before(async () => {
    server = await startGitHttpServer();
    await sampleRepo(server.root);
    await sampleRepo(server.root, 'target');
    url = server.url('source');
  });
  after(async () => server.close());

  for (const protocol of ['v1', 'v2'] as const) {
    it(`lists the same refs, peeled tags and HEAD as git ls-remote over ${protocol}`, async () => {
      const expected = await lsRemote(url, { protocol: protocol === 'v1' ? 0 : 2 });
      const result = await probe({ source: { url }, protocol, allRefs: true });
      assert.equal(result.source.protocol, protocol);
      assert.equal(result.source.head, expected.headTarget);
      assert.equal(result.source.head, 'refs/heads/main');
      assert.deepEqual(new Map(result.refs.map((ref) => [ref.name, ref.hash])), expected.refs);
      const peeled = new Map(result.refs.filter((ref) => ref.peeled !== null).map((ref) => [ref.name, ref.peeled]));
      assert.deepEqual(peeled, expected.peeled);
      assert.ok(result.refs.some((ref) => ref.name === 'refs/notes/commits'));
      assert.ok(result.refs.some((ref) => ref.name === 'refs/pull/1/head'));
    });
  }

  it('auto prefers v2 and falls back to v1 when the server does not speak v2', async () => {
    assert.equal((await probe({ source: { url } })).source.protocol, 'v2');
    // An old server ignores Git-Protocol: emulate it by dropping the header before http-backend.
    const old = await startGitHttpServer({
      root: server.root,
      onRequest: (req, _res, next) => {
        delete req.headers['git-protocol'];
        next();
      },
    });
    try {
      const result = await probe({ source: { url: old.url('source') }, protocol: 'auto' });
      assert.equal(result.source.protocol, 'v1');
      assert.equal(result.source.head, 'refs/heads/main');
      await assert.rejects(probe({ source: { url: old.url('source') }, protocol: 'v2' }), { code: 'UNSUPPORTED' });
    } finally {
      await old.close();
    }
  });

  it('selects branches by default, adds tags with --tags, honours --exclude-ref-prefix', async () => {
    const branches = await probe({ source: { url } });
    assert.deepEqual(branches.refPrefixes, ['refs/heads/']);
    assert.deepEqual(branches.refs.map((ref) => ref.name).sort(), ['refs/heads/dev', 'refs/heads/feature', 'refs/heads/main']);
    const tags = await probe({ source: { url }, tags: true, protocol: 'v1' });
    assert.deepEqual(tags.refs.map((ref) => ref.name).sort(), ['refs/heads/dev', 'refs/heads/feature', 'refs/heads/main', 'refs/tags/light', 'refs/tags/v1.0']);
    const all = await probe({ source: { url }, allRefs: true, excludeRefPrefixes: ['refs/pull/', 'refs/notes/'] });
    assert.deepEqual(all.refs.map((ref) => ref.name).sort(), [
      'refs/custom/x',
      'refs/heads/dev',
      'refs/heads/feature',
      'refs/heads/main',
      'refs/tags/light',
      'refs/tags/v1.0',
    ]);
  });

  it("reports the target's receive-pack capabilities", async () => {
    const result = await probe({ source: { url }, target: { url: server.url('target') }, stats: true });
    assert.ok(result.target);
    for (const capability of ['report-status', 'report-status-v2', 'delete-refs', 'atomic', 'ofs-delta', 'side-band-64k']) {
      assert.ok(result.target.capabilities.includes(capability), capability);
    }
    assert.equal(result.stats?.phases['target info-refs']?.requests, 1);
    assert.ok((result.stats?.phases['target info-refs']?.responseBytes ?? 0) > 100);
  });

  it('counts the bytes it really received', async () => {
    server.clearLog();
    const result = await probe({ source: { url }, stats: true, protocol: 'v2' });
    await server.idle();
    const served = server.requests.reduce((sum, entry) => sum + entry.responseBytes, 0);
    const sent = server.requests.reduce((sum, entry) => sum + entry.requestBytes, 0);
    const phases = result.stats!.phases;
    assert.equal(phases['source info-refs']!.responseBytes + phases['source ls-refs']!.responseBytes, served);
    assert.equal(phases['source ls-refs']!.requestBytes, sent);
    assert.equal(result.stats!.source.requests, 2);
  });

  it('fails with a typed error naming the status and the redacted URL on 404', async () => {
    await assert.rejects(probe({ source: { url: server.url('missing'), token: 'sekrit-token-123' } }), (error: Error & { code?: string; status?: number }) => {
      assert.equal(error.code, 'HTTP_STATUS');
      assert.equal(error.status, 404);
      assert.match(error.message, /404/);
      assert.doesNotMatch(error.message, /sekrit/);
      return true;
    });
  });
});
