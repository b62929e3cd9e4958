import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetch } from '../../src/index.js';
import { createRepo } from '../helpers/fixtures.js';
import { git, makeTempDir } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { reachableObjectTypes, sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';

describe('fetch against git http-backend', () => {
  let server: GitHttpServer;
  let sample: SampleRepo;
  let url: string;
  const temp = makeTempDir('gitsync-fetch-');

  before(async () => {
    server = await startGitHttpServer();
    sample = await sampleRepo(server.root);
    url = server.url('source');
  });
  after(async () => {
    await server.close();
    await temp.remove();
  });

  for (const protocol of ['v1', 'v2'] as const) {
    it(`downloads every object of --all-refs over ${protocol}, counted as git counts them, and git index-pack accepts it`, async () => {
      const packPath = path.join(temp.path, `all-${protocol}.pack`);
      const file = createWriteStream(packPath);
      const result = await fetch({
        source: { url },
        protocol,
        allRefs: true,
        stats: true,
        onPackData: (chunk) =>
          new Promise<void>((resolve, reject) => file.write(chunk, (error) => (error ? reject(error) : resolve()))),
      });
      await new Promise<void>((resolve) => file.end(resolve));
      assert.equal(result.source.protocol, protocol);
      assert.deepEqual(result.objects, await reachableObjectTypes(sample.repo.path, ['--all']));
      assert.equal(result.wants.length, (await sample.repo.refs()).size);
      assert.ok(result.packBytes > 0);
      assert.equal(result.stats?.phases['source fetch']?.wants, new Set(result.wants.map((w) => w.hash)).size);
      assert.ok((result.stats?.phases['source fetch']?.responseBytes ?? 0) > result.packBytes, 'the sideband framing is counted too');
      // git itself must accept the pack: index-pack verifies every object and the checksum.
      const scratch = await createRepo({ parentDir: temp.path, name: `index-${protocol}` });
      const out = await git(['index-pack', '--strict', packPath], { cwd: scratch.path });
      assert.match(out, /^[0-9a-f]{40}$/);
    });
  }

  it('fetches branches only by default, and fewer objects with --have-ref', async () => {
    const branches = ['refs/heads/main', 'refs/heads/dev', 'refs/heads/feature'];
    const all = await fetch({ source: { url } });
    assert.deepEqual(all.wants.map((w) => w.name).sort(), [...branches].sort());
    assert.deepEqual(all.objects, await reachableObjectTypes(sample.repo.path, branches));

    for (const protocol of ['v1', 'v2'] as const) {
      const fewer = await fetch({ source: { url }, protocol, haveRefs: ['refs/heads/main'] });
      assert.deepEqual(fewer.haves, [sample.main]);
      assert.deepEqual(fewer.objects, await reachableObjectTypes(sample.repo.path, [...branches, '^refs/heads/main']));
      assert.ok(fewer.objects.total < all.objects.total);
    }
  });

  it('accepts --have ids and short --have-ref names, and refuses malformed ones and unknown --have-ref before fetching', async () => {
    const result = await fetch({ source: { url }, branches: ['dev'], haves: [sample.main] });
    assert.deepEqual(result.objects, await reachableObjectTypes(sample.repo.path, ['refs/heads/dev', `^${sample.main}`]));
    await assert.rejects(fetch({ source: { url }, haves: ['abc'] }), { code: 'USAGE' });
    await assert.rejects(fetch({ source: { url }, haveRefs: ['refs/heads/nope'] }), { code: 'SOURCE_REF_MISSING' });
    await assert.rejects(fetch({ source: { url }, haveRefs: ['nope'] }), { code: 'SOURCE_REF_MISSING', message: /has no nope \(--have-ref\); its branches: /});
    // Short names resolve as in git: main, heads/main and refs/heads/main are the same have.
    for (const name of ['main', 'heads/main', 'refs/heads/main']) {
      const short = await fetch({ source: { url }, branches: ['dev'], haveRefs: [name] });
      assert.deepEqual(short.haves, [sample.main], name);
    }
    await assert.rejects(fetch({ source: { url }, allRefs: true, branches: ['main'] }), { code: 'USAGE' });
  });

  it('fetches nothing from an empty repository', async () => {
    await createRepo({ parentDir: server.root, name: 'empty' });
    const result = await fetch({ source: { url: server.url('empty') }, stats: true });
    assert.deepEqual(result.wants, []);
    assert.equal(result.packBytes, 0);
    assert.equal(result.objects.total, 0);
    assert.equal(result.stats?.phases['source fetch'], undefined, 'no fetch request was made');
  });

  it('stops at --max-pack-bytes with a typed error', async () => {
    await assert.rejects(fetch({ source: { url }, allRefs: true, maxPackBytes: 100 }), { code: 'PACK_TOO_LARGE' });
  });

  it('turns a server that cuts the pack short into a typed error', async () => {
    const { truncateResponse, when, isRpc } = await import('../helpers/http-faults.js');
    const cutting = await startGitHttpServer({ root: server.root, onRequest: when(isRpc('git-upload-pack'), truncateResponse(300)) });
    try {
      await assert.rejects(fetch({ source: { url: cutting.url('source') }, protocol: 'v1', allRefs: true }), (error: Error & { code?: string }) => {
        assert.ok(['PKT_LINE', 'PACK_FORMAT', 'NETWORK', 'PROTOCOL'].includes(error.code ?? ''), `${error.code}: ${error.message}`);
        return true;
      });
    } finally {
      await cutting.close();
    }
  });
});
