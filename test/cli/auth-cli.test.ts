/**
 * Authentication from the command line (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing"): tokens from flags and env, bearer tokens,
 * git's credential helpers (fill after a 401, approve after success, reject after a refusal),
 * pushes to hosts that gate them, and that no secret ever reaches any output.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { recordingCredentialHelper, type RecordingCredentialHelper } from '../helpers/credential-helper.js';
import { cloneRepo, createRepo } from '../helpers/fixtures.js';
import { forEachRef } from '../helpers/git.js';
import { isRpc, respond, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer, type RequestLogEntry } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';
import { runCli } from './run-cli.js';
import { RunLog } from './secret-grep.js';

const TOKEN = 'tok-basic-5f4e3d2c1b';
const WRONG = 'tok-wrong-0a9b8c7d6e';
const BEARER = 'tok-bearer-9a8b7c6d5e';
const WRONG_BEARER = 'tok-bearer-wrong-1122';

/** Answers 401 unless the request carries `Authorization: Bearer <token>`. */
function requireBearer(token: string) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    if (req.headers.authorization === `Bearer ${token}`) {
      next();
      return;
    }
    req.resume();
    res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="git"', 'Content-Type': 'text/plain' });
    res.end('bearer token required\n');
  };
}

function requestsFor(server: GitHttpServer, repo: string): RequestLogEntry[] {
  return server.requests.filter((entry) => entry.kind.repo === `${repo}.git`);
}

function shape(entries: readonly RequestLogEntry[]): string[] {
  return entries.map((entry) => `${entry.method} ${entry.kind.phase} ${entry.kind.service} ${entry.status} ${entry.headers.authorization === undefined ? 'anonymous' : 'authorized'}`);
}

/**
 * The requests in the order the run makes them, where a v2 listing's `ls-refs` POST, sent
 * alongside its advertisement's GET (docs/architecture.md, "One round trip for a listing"), may
 * reach the server first: such a pair is put back in GET, POST order.
 */
function inParallelOrder(lines: readonly string[]): string[] {
  const out = [...lines];
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i]!.startsWith('POST rpc git-upload-pack') && out[i + 1]!.startsWith('GET advertisement git-upload-pack')) {
      [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
      i++;
    }
  }
  return out;
}

describe('git-sync authentication (CLI)', () => {
  const log = new RunLog();
  let open: GitHttpServer;
  let gated: GitHttpServer;
  let bearer: GitHttpServer;
  let gatedLate: GitHttpServer;
  let sample: SampleRepo;
  let helper: RecordingCredentialHelper;
  let wrongHelper: RecordingCredentialHelper;
  let emptyHelper: RecordingCredentialHelper;

  before(async () => {
    open = await startGitHttpServer();
    sample = await sampleRepo(open.root);
    gated = await startGitHttpServer({ root: open.root, basicAuth: { username: 'git', password: TOKEN } });
    bearer = await startGitHttpServer({ root: open.root, onRequest: requireBearer(BEARER) });
    gatedLate = await startGitHttpServer({
      root: open.root,
      onRequest: when(isRpc('git-receive-pack'), respond(401, 'push requires credentials\n', { 'WWW-Authenticate': 'Basic realm="git"' })),
    });
    for (const name of ['pushed-with-helper', 'pushed-open', 'pushed-late']) await createRepo({ parentDir: open.root, name });
    const diverged = await cloneRepo(sample.repo, { parentDir: open.root, name: 'diverged' });
    await diverged.commit('main', { parents: [`${sample.main}~1`], files: { 'x.txt': 'diverged' } });
    helper = recordingCredentialHelper({ username: 'git', password: TOKEN, config: { 'credential.useHttpPath': 'true' } });
    wrongHelper = recordingCredentialHelper({ username: 'git', password: WRONG });
    emptyHelper = recordingCredentialHelper();
  });
  after(async () => {
    await Promise.all([open, gated, bearer, gatedLate].map((server) => server.close()));
    await Promise.all([helper, wrongHelper, emptyHelper].map((h) => h.remove()));
  });

  it('authenticates with --source-token and GITSYNC_SOURCE_TOKEN, before any helper; refuses a wrong token clearly', async () => {
    helper.clear();
    const url = gated.url('source');
    const byFlag = log.keep('token flag', await runCli(['probe', '--json', '--source-token', TOKEN, url], helper.env));
    assert.equal(byFlag.code, 0, byFlag.stderr);
    const byEnv = log.keep('token env', await runCli(['probe', '--json', url], { ...helper.env, GITSYNC_SOURCE_TOKEN: TOKEN }));
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const wrong = log.keep('wrong token', await runCli(['probe', '--json', '--source-token', WRONG, url], helper.env));
    assert.equal(wrong.code, 1);
    assert.equal(JSON.parse(wrong.stdout).error.code, 'HTTP_AUTH');
    assert.match(wrong.stderr, /^error: GET http:\/\/127\.0\.0\.1:\d+\/source\.git\/info\/refs\?service=git-upload-pack: HTTP 401 Unauthorized; the source credentials were refused/m);
    // The next step, in the CLI's own flag names.
    assert.match(wrong.stderr, /; check --source-token \(or GITSYNC_SOURCE_TOKEN\) or --source-bearer-token \[source, discover\]$/m);
    assert.deepEqual(helper.calls(), [], 'given credentials win: the helper is never asked');
  });

  it("asks git's credential helper after a 401 (protocol, host with port, path), then approves once the run succeeded", async () => {
    helper.clear();
    gated.clearLog();
    const run = log.keep('helper fill', await runCli(['probe', '--json', gated.url('source')], { ...helper.env, GITSYNC_HTTP_TRACE: '1' }));
    assert.equal(run.code, 0, run.stderr);
    const host = `127.0.0.1:${gated.port}`;
    assert.deepEqual(helper.calls(), [
      { action: 'get', attributes: { protocol: 'http', host, path: 'source.git' } },
      { action: 'store', attributes: { protocol: 'http', host, path: 'source.git', username: 'git', password: TOKEN } },
    ]);
    // The advertisement and the ls-refs guessed alongside it go out anonymously and are refused;
    // the helper is asked once (the advertisement's 401), and both go again with what it filled.
    assert.deepEqual(shape(requestsFor(gated, 'source')).sort(), [
      'GET advertisement git-upload-pack 200 authorized',
      'GET advertisement git-upload-pack 401 anonymous',
      'POST rpc git-upload-pack 200 authorized',
      'POST rpc git-upload-pack 401 anonymous',
    ]);
    assert.ok(requestsFor(gated, 'source').every((entry) => entry.status === 401 || entry.user === 'git'));
    // The trace shows the 401, the retry and its success, one line each.
    const advertisement = `GET http://${host}/source.git/info/refs?service=git-upload-pack`;
    assert.match(run.stderr, new RegExp(`^git-sync: http source > ${escape(advertisement)}$`, 'm'));
    assert.match(run.stderr, new RegExp(`^git-sync: http source < 401 ${escape(advertisement)} sent=0 received=\\d+ \\d+ms$`, 'm'));
    assert.match(run.stderr, new RegExp(`^git-sync: http source < 200 ${escape(advertisement)} sent=0 received=\\d+ \\d+ms$`, 'm'));
    assert.match(run.stderr, new RegExp(`^git-sync: http source < 200 POST http://${escape(host)}/source\\.git/git-upload-pack sent=\\d+ received=\\d+ \\d+ms$`, 'm'));
  });

  it("rejects the helper's credentials when the server refuses them, and says where they came from", async () => {
    wrongHelper.clear();
    const run = log.keep('helper refused', await runCli(['probe', gated.url('source')], wrongHelper.env));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /HTTP 401 Unauthorized; the credentials from git's credential helper were refused \(and rejected from it\)/);
    assert.deepEqual(helper.calls().length, 2, 'the other helper is not involved');
    assert.deepEqual(wrongHelper.calls().map((call) => call.action), ['get', 'erase']);
    assert.equal(wrongHelper.calls()[1]?.attributes.password, WRONG);
  });

  it('without credentials anywhere, says how to give them', async () => {
    emptyHelper.clear();
    const run = log.keep('no credentials', await runCli(['probe', '--json', gated.url('source')], emptyHelper.env));
    assert.equal(run.code, 1);
    assert.equal(JSON.parse(run.stdout).error.code, 'HTTP_AUTH');
    assert.match(run.stderr, /HTTP 401 Unauthorized; credentials are required: set up a git credential helper or give credentials/);
    assert.match(run.stderr, /; pass --source-token \(or GITSYNC_SOURCE_TOKEN\) or --source-bearer-token \[source, discover\]$/m);
    assert.deepEqual(emptyHelper.calls().map((call) => call.action), ['get']);
  });

  it('sends a bearer token (flag or env), which wins over basic', async () => {
    const url = bearer.url('source');
    bearer.clearLog();
    const both = log.keep('bearer and basic', await runCli(['probe', '--source-bearer-token', BEARER, '--source-token', TOKEN, url]));
    assert.equal(both.code, 0, both.stderr);
    assert.ok(bearer.requests.length > 0);
    for (const entry of bearer.requests) assert.equal(entry.headers.authorization, `Bearer ${BEARER}`);
    const byEnv = log.keep('bearer env', await runCli(['probe', '--json', url], { GITSYNC_SOURCE_BEARER_TOKEN: BEARER }));
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const wrong = log.keep('wrong bearer', await runCli(['probe', '--json', url], { GITSYNC_SOURCE_BEARER_TOKEN: WRONG_BEARER }));
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /the source credentials were refused/);
  });

  it('learns that a gated target wants credentials from its receive-pack info/refs, before the push body', async () => {
    helper.clear();
    gated.clearLog();
    const run = log.keep('push with helper', await runCli(['sync', '--json', open.url('source'), gated.url('pushed-with-helper')], helper.env));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).pushed, 3);
    assert.deepEqual(inParallelOrder(shape(requestsFor(gated, 'pushed-with-helper'))), [
      'GET advertisement git-receive-pack 401 anonymous',
      'GET advertisement git-receive-pack 200 authorized',
      'POST rpc git-receive-pack 200 authorized',
      // After a bootstrap the target's HEAD is read back (ls-refs, sent alongside the
      // advertisement's request, so in either order), with the same credentials.
      'GET advertisement git-upload-pack 200 authorized',
      'POST rpc git-upload-pack 200 authorized',
    ]);
    assert.deepEqual(helper.calls().map((call) => call.action), ['get', 'store'], 'approved after the push');
    assert.deepEqual(await forEachRef(`${open.root}/pushed-with-helper.git`, ['refs/heads/']), await forEachRef(sample.repo.path, ['refs/heads/']));
  });

  it('spends no extra request per push on a target that does not ask for credentials', async () => {
    open.clearLog();
    const run = log.keep('open push', await runCli(['sync', open.url('source'), open.url('pushed-open')], helper.env));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(inParallelOrder(shape(requestsFor(open, 'pushed-open'))), [
      'GET advertisement git-receive-pack 200 anonymous',
      'POST rpc git-receive-pack 200 anonymous',
      'GET advertisement git-upload-pack 200 anonymous',
      'POST rpc git-upload-pack 200 anonymous',
    ]);
    // A later run that updates the mirror asks nothing more than the listing and the push.
    await sample.repo.commit('main', { files: { 'more.txt': 'more\n' } });
    open.clearLog();
    const update = log.keep('open update', await runCli(['sync', open.url('source'), open.url('pushed-open')], helper.env));
    assert.equal(update.code, 0, update.stderr);
    assert.deepEqual(shape(requestsFor(open, 'pushed-open')), ['GET advertisement git-receive-pack 200 anonymous', 'POST rpc git-receive-pack 200 anonymous']);
  });

  it('does not approve helper credentials when the run fails', async () => {
    helper.clear();
    const run = log.keep('blocked with helper', await runCli(['sync', '--json', open.url('source'), gated.url('diverged')], helper.env));
    assert.equal(run.code, 3);
    assert.deepEqual(helper.calls().map((call) => call.action), ['get']);
  });

  it('refuses clearly when a target asks for credentials only once the push body streams, and leaves it untouched', async () => {
    helper.clear();
    const run = log.keep('late 401', await runCli(['sync', open.url('source'), gatedLate.url('pushed-late')], helper.env));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /POST http:\/\/127\.0\.0\.1:\d+\/pushed-late\.git\/git-receive-pack: HTTP 401 Unauthorized; credentials are required: .*cannot be replayed.*; pass --target-token /);
    assert.equal((await forEachRef(`${open.root}/pushed-late.git`, ['refs/'])).size, 0);
    assert.deepEqual(helper.calls(), [], 'a streamed body cannot be sent again, so the helper is not asked');
  });

  it('redacts credentials embedded in URLs from text, JSON, -v logs and traces', async () => {
    const source = gated.url('source', { username: 'git', password: TOKEN });
    const probe = log.keep('embedded probe', await runCli(['probe', '-v', source], { GITSYNC_HTTP_TRACE: '1' }));
    assert.equal(probe.code, 0, probe.stderr);
    assert.match(probe.stdout, /^source: http:\/\/\*\*\*@127\.0\.0\.1:\d+\/source\.git$/m);
    assert.match(probe.stderr, /^git-sync: http source < 200 GET http:\/\/127\.0\.0\.1:/m);
    const plan = log.keep('embedded plan', await runCli(['plan', '--json', '-v', '--stats', source, gated.url('diverged', { username: 'git', password: TOKEN })], { GITSYNC_HTTP_TRACE: '1' }));
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(JSON.parse(plan.stdout).target.url, /^http:\/\/\*\*\*@127\.0\.0\.1/);
    const failed = log.keep('embedded wrong', await runCli(['sync', '--json', '-v', gated.url('source', { username: 'git', password: WRONG }), open.url('pushed-open')], { GITSYNC_HTTP_TRACE: '1' }));
    assert.equal(failed.code, 1);
    assert.match(JSON.parse(failed.stdout).source.url, /^http:\/\/\*\*\*@/);
  });

  it('keeps tokens out of --help, even when they are set in the environment', async () => {
    const env = { GITSYNC_SOURCE_TOKEN: TOKEN, GITSYNC_TARGET_TOKEN: TOKEN, GITSYNC_SOURCE_BEARER_TOKEN: BEARER, GITSYNC_TARGET_BEARER_TOKEN: BEARER };
    for (const command of ['sync', 'plan', 'replicate', 'bootstrap', 'probe', 'fetch']) {
      const run = log.keep(`${command} --help`, await runCli([command, '--help'], env));
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /GITSYNC_SOURCE_TOKEN/);
      assert.match(run.stdout, /--source-follow-info-refs-redirect/);
      // fetch has no target, so no target flags.
      if (command === 'fetch') assert.doesNotMatch(run.stdout, /--target-/);
      else assert.match(run.stdout, /--target-follow-info-refs-redirect/);
    }
    log.keep('--help', await runCli(['--help'], env));
  });

  it('leaks no secret into any output of any scenario above', () => {
    assert.ok(log.size >= 20, `expected every scenario's runs, got ${log.size}`);
    log.assertNoSecrets([{ secret: TOKEN }, { secret: WRONG }, { secret: BEARER }, { secret: WRONG_BEARER }]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
