/**
 * Issue 20, item 12: the query string of an HTTP URL goes with every request (some hosts put
 * tokens or routing there), `info/refs` adding `service=` to it; it is masked where the URL is
 * shown (docs/security.md, "git's own protocol rules").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../cli/run-cli.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { startHostileHttp } from '../helpers/hostile-server.js';

describe('an HTTP URL with a query string', () => {
  it('keeps it on info/refs and on every POST, as the host wrote it (v2: ls-refs)', async () => {
    const server = await startHostileHttp({
      advertisement: [{ pkt: 'version 2\n' }, { pkt: 'agent=hostile\n' }, { pkt: 'ls-refs=unborn\n' }, { pkt: 'fetch\n' }, { pkt: 'object-format=sha1\n' }, { flush: true }],
      uploadPack: [{ read: 'all' }, { pkt: `${'a'.repeat(40)} refs/heads/main\n` }, { flush: true }],
    });
    try {
      const run = await runCli(['probe', '--protocol', 'v2', '--json', `${server.url}?route=eu%2Dwest&access_token=q-secret-7781`]);
      assert.equal(run.code, 0, run.stderr);
      // The ls-refs goes alongside the GET (docs/architecture.md, "One round trip for a listing").
      assert.deepEqual([...server.requests].sort(), [
        'GET /repo.git/info/refs?route=eu%2Dwest&access_token=q-secret-7781&service=git-upload-pack',
        'POST /repo.git/git-upload-pack?route=eu%2Dwest&access_token=q-secret-7781',
      ]);
      const json = JSON.parse(run.stdout);
      assert.match(json.source.url, /\?route=eu(-|%2D)west&access_token=\*\*\*$/);
      assert.ok(!run.stdout.includes('q-secret-7781') && !run.stderr.includes('q-secret-7781'));
    } finally {
      await server.close();
    }
  });

  describe('against git http-backend', () => {
    let server: GitHttpServer;
    let source: FixtureRepo;
    let target: FixtureRepo;
    before(async () => {
      server = await startGitHttpServer();
      source = await createRepo({ parentDir: server.root, name: 'source' });
      await source.commit('main', { files: { 'a.txt': 'a\n' } });
      await source.commit('main', { files: { 'b.txt': 'b\n' } });
      target = await createRepo({ parentDir: server.root, name: 'target', config: { 'http.receivepack': true } });
    });
    after(() => server.close());

    it('syncs through URLs with a query, every request carrying it', async () => {
      const run = await runCli(['sync', `${server.url('source')}?shard=3`, `${server.url('target')}?shard=4`]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(await forEachRef(target.path), await forEachRef(source.path, ['refs/heads/']));
      await fsck(target.path);
      const gitRequests = server.requests.filter((request) => request.kind.repo !== null);
      assert.ok(gitRequests.length >= 4, gitRequests.map((r) => r.url).join('\n'));
      for (const request of gitRequests) {
        assert.match(request.url, request.url.includes('/source.git/') ? /\?shard=3(&service=git-upload-pack)?$/ : /\?shard=4(&service=git-(upload|receive)-pack)?$/);
      }
      assert.ok(gitRequests.some((request) => request.method === 'POST' && request.url === '/target.git/git-receive-pack?shard=4'), 'the push carried the query');
    });
  });
});
