/**
 * Redirects (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing"): `info/refs` redirects are followed, later requests stay on the URL as
 * given unless `--*-follow-info-refs-redirect` says otherwise, and `Authorization` never goes to
 * another host than the one it was given for. Two hosts on loopback: 127.0.0.1 and 127.0.0.2.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { recordingCredentialHelper, type RecordingCredentialHelper } from '../helpers/credential-helper.js';
import { createRepo } from '../helpers/fixtures.js';
import { forEachRef } from '../helpers/git.js';
import { isAdvertisement, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { missingCommand } from '../helpers/system.js';
import { selfSignedCert, type SelfSignedCert } from '../helpers/tls-cert.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { runCli } from './run-cli.js';
import { RunLog } from './secret-grep.js';

const TOKEN = 'tok-redirect-7c6b5a4f3e';

/** Sends every request it sees to the same path on `base`. */
function redirectTo(base: () => string, status = 302) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    res.writeHead(status, { Location: `${base()}${req.url ?? '/'}` });
    res.end();
  };
}

function authorizations(server: GitHttpServer): (string | null)[] {
  return server.requests.map((entry) => entry.headers.authorization ?? null);
}

function calls(server: GitHttpServer): string[] {
  return server.requests.map((entry) => `${entry.method} ${entry.kind.phase} ${entry.status}`);
}

describe('git-sync and redirects (CLI)', { skip: missingCommand('openssl', 'openssl') }, () => {
  const log = new RunLog();
  let second: GitHttpServer;
  let secondGated: GitHttpServer;
  let first: GitHttpServer;
  let firstToGated: GitHttpServer;
  let firstAll: GitHttpServer;
  let cert: SelfSignedCert;
  let tlsSecond: GitHttpServer;
  let tlsFirst: GitHttpServer;
  let tlsDowngrade: GitHttpServer;
  let helper: RecordingCredentialHelper;

  before(async () => {
    second = await startGitHttpServer({ host: '127.0.0.2' });
    const root = second.root;
    await sampleRepo(root);
    await createRepo({ parentDir: root, name: 'mirror' });
    secondGated = await startGitHttpServer({ root, host: '127.0.0.2', basicAuth: { username: 'git', password: TOKEN } });
    first = await startGitHttpServer({ root, basicAuth: { username: 'git', password: TOKEN }, onRequest: when(isAdvertisement(), redirectTo(() => second.baseUrl)) });
    firstToGated = await startGitHttpServer({ root, onRequest: when(isAdvertisement(), redirectTo(() => secondGated.baseUrl)) });
    firstAll = await startGitHttpServer({ root, onRequest: redirectTo(() => second.baseUrl, 307) });

    cert = selfSignedCert(['127.0.0.1', '127.0.0.2']);
    const tls = { key: cert.key, cert: cert.cert };
    tlsSecond = await startGitHttpServer({ root, host: '127.0.0.2', https: tls, basicAuth: { username: 'git', password: TOKEN } });
    tlsFirst = await startGitHttpServer({ root, https: tls, onRequest: when(isAdvertisement(), redirectTo(() => tlsSecond.baseUrl)) });
    tlsDowngrade = await startGitHttpServer({ root, https: tls, onRequest: redirectTo(() => second.baseUrl) });
    helper = recordingCredentialHelper({ username: 'git', password: TOKEN });
  });
  after(async () => {
    await Promise.all([first, firstToGated, firstAll, tlsFirst, tlsDowngrade, tlsSecond, secondGated].map((server) => server.close()));
    await second.close();
    await cert.remove();
    await helper.remove();
  });

  function clearLogs(): void {
    for (const server of [second, secondGated, first, firstToGated, firstAll, tlsFirst, tlsSecond]) server.clearLog();
    helper.clear();
  }

  it('follows an info/refs redirect to another host without the Authorization header; later requests stay where they were sent', async () => {
    clearLogs();
    const run = log.keep('redirect', await runCli(['probe', '--json', '--source-token', TOKEN, first.url('source')], { GITSYNC_HTTP_TRACE: '1' }));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).source.head, 'refs/heads/main');
    assert.deepEqual(calls(second), ['GET advertisement 200']);
    assert.deepEqual(authorizations(second), [null], 'the token was for 127.0.0.1, never sent to 127.0.0.2');
    // The ls-refs goes alongside the advertisement's GET (docs/architecture.md, "One round trip
    // for a listing"): either may arrive first.
    assert.deepEqual(calls(first).sort(), ['GET advertisement 302', 'POST rpc 200']);
    assert.equal(first.requests.find((entry) => entry.method === 'POST')?.user, 'git', 'the original host still gets its token');
    assert.match(run.stderr, /^git-sync: http source < 302 GET http:\/\/127\.0\.0\.1:\d+\/source\.git\/info\/refs\?service=git-upload-pack -> http:\/\/127\.0\.0\.2:\d+\/source\.git\/info\/refs\?service=git-upload-pack /m);
  });

  it('with --source-follow-info-refs-redirect (or its env var), sends every later request to the redirected host, still without Authorization', async () => {
    for (const [label, args, env] of [
      ['follow flag', ['--source-follow-info-refs-redirect'], {}],
      ['follow env', [], { GITSYNC_SOURCE_FOLLOW_INFO_REFS_REDIRECT: '1' }],
    ] as const) {
      clearLogs();
      const run = log.keep(label, await runCli(['probe', '--json', '--source-token', TOKEN, ...args, first.url('source')], env));
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(calls(first), ['GET advertisement 302'], label);
      assert.deepEqual(calls(second), ['GET advertisement 200', 'POST rpc 200'], label);
      assert.deepEqual(authorizations(second), [null, null], label);
    }
  });

  it('refuses a redirected POST with a hint, and pushes through it with --target-follow-info-refs-redirect', async () => {
    clearLogs();
    const refused = log.keep('post redirect', await runCli(['probe', '--json', firstAll.url('source')]));
    assert.equal(refused.code, 1);
    assert.equal(JSON.parse(refused.stdout).error.code, 'HTTP_STATUS');
    assert.match(refused.stderr, /POST http:\/\/127\.0\.0\.1:\d+\/source\.git\/git-upload-pack: HTTP 307 redirect to http:\/\/127\.0\.0\.2:\d+\/source\.git\/git-upload-pack; use the final repository URL; or pass --source-follow-info-refs-redirect/);

    clearLogs();
    const pushed = log.keep('push through redirect', await runCli(['sync', '--json', '--target-token', TOKEN, '--target-follow-info-refs-redirect', second.url('source'), firstAll.url('mirror')]));
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(JSON.parse(pushed.stdout).pushed, 3);
    assert.deepEqual(calls(firstAll), ['GET advertisement 307']);
    assert.ok(second.requests.some((entry) => entry.method === 'POST' && entry.kind.service === 'git-receive-pack'));
    assert.ok(authorizations(second).every((header) => header === null));
    assert.equal((await forEachRef(`${second.root}/mirror.git`, ['refs/heads/'])).size, 3);
  });

  it('says why a redirected host that wants credentials does not get the ones given for the first', async () => {
    clearLogs();
    const run = log.keep('redirect to gated', await runCli(['probe', '--source-token', TOKEN, firstToGated.url('source')]));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /HTTP 401 Unauthorized; credentials are required \(the credentials given for http:\/\/127\.0\.0\.1:\d+\/source\.git are not sent to http:\/\/127\.0\.0\.2:\d+, where it redirected\)/);
    assert.deepEqual(authorizations(secondGated), [null]);
  });

  it("never offers the credential helper's credentials to a redirected host while TLS verification is off", async () => {
    clearLogs();
    const insecure = log.keep('tls off redirect', await runCli(['probe', '--source-insecure-skip-tls-verify', tlsFirst.url('source')], helper.env));
    assert.equal(insecure.code, 1);
    assert.match(insecure.stderr, /with TLS verification off, git's credential helper is not asked for https:\/\/127\.0\.0\.2:\d+/);
    assert.deepEqual(helper.calls(), []);
    assert.deepEqual(authorizations(tlsSecond), [null]);

    clearLogs();
    const verified = log.keep('tls on redirect', await runCli(['probe', '--json', tlsFirst.url('source')], { ...helper.env, NODE_EXTRA_CA_CERTS: cert.certPath }));
    assert.equal(verified.code, 0, verified.stderr);
    assert.deepEqual(helper.calls().map((call) => [call.action, call.attributes.host]), [
      ['get', `127.0.0.2:${tlsSecond.port}`],
      ['store', `127.0.0.2:${tlsSecond.port}`],
    ]);
  });

  it('refuses to follow a redirect from https to plain http', async () => {
    const run = log.keep('downgrade', await runCli(['probe', '--source-insecure-skip-tls-verify', tlsDowngrade.url('source')]));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /HTTP 302 redirect to http:\/\/127\.0\.0\.2:\d+\/source\.git\/info\/refs\?service=git-upload-pack: refusing to leave https for plain http/);
  });

  it('leaks no secret into any output of any scenario above', () => {
    assert.ok(log.size >= 9);
    log.assertNoSecrets([{ secret: TOKEN }]);
  });
});
