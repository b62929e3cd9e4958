import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRepo, pseudoRandomBytes } from '../helpers/fixtures.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { reachableObjectTypes, sampleRepo } from '../helpers/sample-repo.js';
import { runCli } from './run-cli.js';

describe('git-sync fetch (CLI)', () => {
  let server: GitHttpServer;

  before(async () => {
    server = await startGitHttpServer();
    await sampleRepo(server.root);
  });
  after(async () => server.close());

  it('prints the JSON of docs/json.md: wants, haves, pack bytes, object counts', async () => {
    const run = await runCli(['fetch', '--json', '--tags', '--stats', server.url('source')]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout);
    assert.deepEqual(Object.keys(json).sort(), ['error', 'haves', 'measurement', 'objects', 'packBytes', 'source', 'stats', 'wants']);
    assert.deepEqual(Object.keys(json.objects).sort(), ['blob', 'commit', 'tag', 'total', 'tree']);
    assert.equal(json.error, null);
    assert.ok(json.stats.phases['source fetch'].requestBytes > 0);
  });

  it('prints a text summary and server progress with -v on stderr', async () => {
    const run = await runCli(['fetch', '-v', '--have-ref', 'refs/heads/main', server.url('source')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^pack: \d+ bytes, \d+ objects \(commit \d+, tree \d+, blob \d+, tag 0\)$/m);
    assert.match(run.stdout, /^wants: 3, haves: 1$/m);
    assert.match(run.stderr, /^source: (Enumerating|Counting|Total)/m);
  });

  it('fetches a pack of 40 MB or more with --measure-memory and stays under 100 MB peak RSS', async () => {
    const big = await createRepo({ parentDir: server.root, name: 'big' });
    // Incompressible content, so the pack really is as large as the data.
    for (let i = 0; i < 6; i++) {
      await big.commit('main', { files: { [`blob-${i}.bin`]: pseudoRandomBytes(7 * 1024 * 1024, i) } });
    }
    const run = await runCli(['fetch', '--json', '--measure-memory', '--stats', server.url('big')]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout);
    assert.ok(json.packBytes >= 40 * 1024 * 1024, `pack is ${json.packBytes} bytes`);
    assert.deepEqual(json.objects, await reachableObjectTypes(big.path, ['--all']));
    const peak = json.measurement.peakRssBytes;
    assert.ok(peak < 100 * 1024 * 1024, `peak RSS ${(peak / 1048576).toFixed(1)} MiB`);
    process.stdout.write(`# fetch of ${(json.packBytes / 1048576).toFixed(1)} MiB: peak RSS ${(peak / 1048576).toFixed(1)} MiB\n`);
  });
});
