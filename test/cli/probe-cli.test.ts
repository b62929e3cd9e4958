import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { runCli } from './run-cli.js';

describe('git-sync probe (CLI)', () => {
  let server: GitHttpServer;
  let authServer: GitHttpServer;
  const secret = 'tok-9f8e7d6c5b4a';

  before(async () => {
    server = await startGitHttpServer();
    await sampleRepo(server.root);
    authServer = await startGitHttpServer({ root: server.root, basicAuth: { username: 'git', password: secret } });
  });
  after(async () => {
    await server.close();
    await authServer.close();
  });

  it('prints the JSON of docs/json.md with every key, error null', async () => {
    const run = await runCli(['probe', '--json', '--tags', '--stats', '--measure-memory', server.url('source'), server.url('source')]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout);
    assert.deepEqual(Object.keys(json).sort(), ['error', 'measurement', 'refPrefixes', 'refs', 'source', 'stats', 'target']);
    assert.deepEqual(Object.keys(json.source).sort(), ['capabilities', 'head', 'invalidRefs', 'protocol', 'url']);
    assert.deepEqual(json.source.invalidRefs, []);
    assert.equal(json.source.protocol, 'v2');
    assert.equal(json.source.head, 'refs/heads/main');
    assert.equal(json.error, null);
    assert.ok(json.target.capabilities.includes('report-status'));
    assert.deepEqual(json.refPrefixes, ['refs/heads/', 'refs/tags/']);
    const tag = json.refs.find((ref: { name: string }) => ref.name === 'refs/tags/v1.0');
    assert.match(tag.peeled, /^[0-9a-f]{40}$/);
    assert.ok(json.measurement.peakRssBytes > 0);
    assert.ok(json.stats.phases['source ls-refs'].responseBytes > 0);
    assert.equal(run.stderr, '');
  });

  it('prints text: protocol, HEAD, refs', async () => {
    const run = await runCli(['probe', '--protocol', 'v1', server.url('source')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^protocol: v1$/m);
    assert.match(run.stdout, /^source-head: refs\/heads\/main$/m);
    assert.match(run.stdout, /^[0-9a-f]{40} refs\/heads\/dev$/m);
  });

  it('authenticates with --source-token and with GITSYNC_SOURCE_TOKEN, never printing the token', async () => {
    const url = authServer.url('source');
    const denied = await runCli(['probe', '--json', url]);
    assert.equal(denied.code, 1);
    assert.equal(JSON.parse(denied.stdout).error.code, 'HTTP_AUTH');
    assert.match(denied.stderr, /^error: .*401.*--source-token/m);

    const byFlag = await runCli(['probe', '--source-token', secret, url]);
    assert.equal(byFlag.code, 0, byFlag.stderr);
    const byEnv = await runCli(['probe', '--json', url], { GITSYNC_SOURCE_TOKEN: secret });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const wrong = await runCli(['probe', '--json', '--source-token', `${secret}-wrong`, url]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /credentials were refused/);
    const embedded = await runCli(['probe', '--json', authServer.url('source', { username: 'git', password: secret })]);
    assert.equal(embedded.code, 0, embedded.stderr);
    for (const run of [denied, byFlag, byEnv, wrong, embedded]) {
      assert.doesNotMatch(run.stdout + run.stderr, new RegExp(secret));
    }
    assert.match(JSON.parse(embedded.stdout).source.url, /^http:\/\/\*\*\*@127\.0\.0\.1/);
  });

  it('exits 2 on usage errors with one error line', async () => {
    const both = await runCli(['probe', '--all-refs', '--branch', 'main', server.url('source')]);
    assert.equal(both.code, 2);
    const bogus = await runCli(['probe', '--protocol', 'v9', server.url('source')]);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /v9/);
    const missing = await runCli(['probe']);
    assert.equal(missing.code, 2);
    const badEnv = await runCli(['probe', server.url('source')], { GITSYNC_SOURCE_INSECURE_SKIP_TLS_VERIFY: 'maybe' });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /GITSYNC_SOURCE_INSECURE_SKIP_TLS_VERIFY/);
  });

  it('exits 1 with a JSON error on a 404, naming the status', async () => {
    const run = await runCli(['probe', '--json', server.url('nope')]);
    assert.equal(run.code, 1);
    const json = JSON.parse(run.stdout);
    assert.equal(json.error.code, 'HTTP_STATUS');
    assert.match(json.error.message, /404/);
    assert.equal(run.stderr.trim().split('\n').length, 1);
  });

  it('prints the version and keeps secrets out of --help', async () => {
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^git-sync \d+\.\d+\.\d+/);
    const help = await runCli(['probe', '--help'], { GITSYNC_SOURCE_TOKEN: secret });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--source-token/);
    assert.match(help.stdout, /GITSYNC_SOURCE_TOKEN/);
    assert.doesNotMatch(help.stdout, new RegExp(secret));
  });
});
