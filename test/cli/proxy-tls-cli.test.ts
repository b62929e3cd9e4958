/**
 * Proxies and TLS (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing"): `HTTP_PROXY` carries http:// requests in absolute form,
 * `HTTPS_PROXY` tunnels https:// with CONNECT, `NO_PROXY` exempts hosts; certificates are
 * verified unless a side's `--*-insecure-skip-tls-verify` says otherwise, and a private CA is
 * trusted through `NODE_EXTRA_CA_CERTS`. Everything on loopback: a recording proxy, a
 * self-signed HTTPS git server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRepo } from '../helpers/fixtures.js';
import { forEachRef } from '../helpers/git.js';
import { startHttpProxy, type HttpProxy } from '../helpers/http-proxy.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { missingCommand } from '../helpers/system.js';
import { selfSignedCert, type SelfSignedCert } from '../helpers/tls-cert.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { runCli } from './run-cli.js';
import { RunLog } from './secret-grep.js';

const TOKEN = 'tok-tls-3e2d1c0b9a';
const PROXY_USER = 'proxyuser';
const PROXY_PASSWORD = 'proxy-pw-8d7c6b5a';

describe('git-sync through proxies and TLS (CLI)', { skip: missingCommand('openssl', 'openssl') }, () => {
  const log = new RunLog();
  let plain: GitHttpServer;
  let secure: GitHttpServer;
  let cert: SelfSignedCert;
  let proxy: HttpProxy;

  before(async () => {
    plain = await startGitHttpServer();
    await sampleRepo(plain.root);
    for (const name of ['via-proxy', 'secure-mirror']) await createRepo({ parentDir: plain.root, name });
    cert = selfSignedCert(['127.0.0.1']);
    secure = await startGitHttpServer({ root: plain.root, https: { key: cert.key, cert: cert.cert }, basicAuth: { username: 'git', password: TOKEN } });
    proxy = await startHttpProxy({ auth: { username: PROXY_USER, password: PROXY_PASSWORD } });
  });
  after(async () => {
    await Promise.all([plain.close(), secure.close(), proxy.close()]);
    await cert.remove();
  });

  const proxyAuthorization = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`;

  function proxied(): string[] {
    const seen = proxy.requests.map((entry) => `${entry.method} ${entry.target}`);
    (proxy.requests as unknown[]).length = 0;
    return seen;
  }

  it('sends http:// requests through HTTP_PROXY in absolute form, with the proxy credentials from its URL', async () => {
    proxied();
    const run = log.keep('http proxy', await runCli(['probe', '--json', plain.url('source')], { HTTP_PROXY: proxy.url, GITSYNC_HTTP_TRACE: '1' }));
    assert.equal(run.code, 0, run.stderr);
    assert.ok(proxy.requests.every((entry) => entry.proxyAuthorization === proxyAuthorization));
    // The ls-refs goes alongside the advertisement's GET: the proxy may see either first.
    assert.deepEqual(proxied().sort(), [`GET ${plain.baseUrl}/source.git/info/refs?service=git-upload-pack`, `POST ${plain.baseUrl}/source.git/git-upload-pack`]);
    assert.match(run.stderr, new RegExp(`^git-sync: http source > GET ${plain.baseUrl.replaceAll('.', '\\.')}/source\\.git/info/refs\\?service=git-upload-pack via proxy http://\\*\\*\\*@127\\.0\\.0\\.1:${proxy.port}/$`, 'm'));

    const pushed = log.keep('http proxy push', await runCli(['sync', '--json', plain.url('source'), plain.url('via-proxy')], { http_proxy: proxy.url }));
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.ok(proxied().includes(`POST ${plain.baseUrl}/via-proxy.git/git-receive-pack`));
    assert.equal((await forEachRef(`${plain.root}/via-proxy.git`, ['refs/heads/'])).size, 3);
  });

  it('leaves hosts named in NO_PROXY (with or without a port) alone', async () => {
    proxied();
    for (const noProxy of ['127.0.0.1', `localhost, 127.0.0.1:${plain.port}`, '*']) {
      const run = log.keep(`no_proxy ${noProxy}`, await runCli(['probe', plain.url('source')], { HTTP_PROXY: proxy.url, NO_PROXY: noProxy }));
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(proxied(), [], noProxy);
    }
    const otherPort = log.keep('no_proxy other port', await runCli(['probe', plain.url('source')], { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1:1' }));
    assert.equal(otherPort.code, 0, otherPort.stderr);
    assert.equal(proxied().length, 2);
  });

  it('tunnels https:// through HTTPS_PROXY with CONNECT: the proxy never sees the requests or their credentials', async () => {
    proxied();
    const run = log.keep('https proxy', await runCli(['probe', '--json', '--source-token', TOKEN, secure.url('source')], { HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: cert.certPath }));
    assert.equal(run.code, 0, run.stderr);
    const seen = proxied();
    assert.ok(seen.length >= 1);
    for (const line of seen) assert.equal(line, `CONNECT 127.0.0.1:${secure.port}`);
    assert.equal(secure.requests.filter((entry) => entry.user === 'git').length, 2, 'both requests reached the server, authenticated');

    const httpOnly = log.keep('http proxy ignored for https', await runCli(['probe', '--source-token', TOKEN, secure.url('source')], { HTTP_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: cert.certPath }));
    assert.equal(httpOnly.code, 0, httpOnly.stderr);
    assert.deepEqual(proxied(), []);
  });

  it('says so when the proxy wants other credentials', async () => {
    const wrongProxy = `http://${PROXY_USER}:wrong-proxy-pw-77@127.0.0.1:${proxy.port}`;
    const tunnel = log.keep('proxy 407 connect', await runCli(['probe', '--json', '--source-insecure-skip-tls-verify', secure.url('source')], { HTTPS_PROXY: wrongProxy }));
    assert.equal(tunnel.code, 1);
    assert.equal(JSON.parse(tunnel.stdout).error.code, 'HTTP_AUTH');
    assert.match(tunnel.stderr, /proxy http:\/\/\*\*\*@127\.0\.0\.1:\d+\/ answered 407 Proxy Authentication Required to CONNECT 127\.0\.0\.1:\d+/);
    const absolute = log.keep('proxy 407 absolute', await runCli(['probe', plain.url('source')], { HTTP_PROXY: wrongProxy }));
    assert.equal(absolute.code, 1);
    assert.match(absolute.stderr, /HTTP 407 Proxy Authentication Required; the proxy wants credentials/);
  });

  it('verifies TLS certificates by default, and says how to trust a private CA or skip verification', async () => {
    const refused = log.keep('tls refused', await runCli(['probe', '--json', '--source-token', TOKEN, secure.url('source')]));
    assert.equal(refused.code, 1);
    assert.equal(JSON.parse(refused.stdout).error.code, 'NETWORK');
    assert.match(refused.stderr, /self-signed certificate.*trust its CA with NODE_EXTRA_CA_CERTS=\/path\/to\/ca\.pem; or pass --source-insecure-skip-tls-verify/);

    const skipped = log.keep('tls skip flag', await runCli(['probe', '--source-token', TOKEN, '--source-insecure-skip-tls-verify', secure.url('source')]));
    assert.equal(skipped.code, 0, skipped.stderr);
    const byEnv = log.keep('tls skip env', await runCli(['probe', '--source-token', TOKEN, secure.url('source')], { GITSYNC_SOURCE_INSECURE_SKIP_TLS_VERIFY: 'true' }));
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const trusted = log.keep('tls extra ca', await runCli(['probe', '--source-token', TOKEN, secure.url('source')], { NODE_EXTRA_CA_CERTS: cert.certPath }));
    assert.equal(trusted.code, 0, trusted.stderr);
  });

  it('skips verification per side only', async () => {
    const sourceOnly = log.keep('tls source flag, target https', await runCli(['sync', '--source-insecure-skip-tls-verify', '--target-token', TOKEN, plain.url('source'), secure.url('secure-mirror')]));
    assert.equal(sourceOnly.code, 1);
    assert.match(sourceOnly.stderr, /--target-insecure-skip-tls-verify/);
    const target = log.keep('tls target flag', await runCli(['sync', '--json', '--target-insecure-skip-tls-verify', '--target-token', TOKEN, plain.url('source'), secure.url('secure-mirror')]));
    assert.equal(target.code, 0, target.stderr);
    assert.equal(JSON.parse(target.stdout).pushed, 3);
  });

  it('leaks no secret into any output of any scenario above', () => {
    assert.ok(log.size >= 14);
    log.assertNoSecrets([{ secret: TOKEN }, { secret: PROXY_PASSWORD, username: PROXY_USER }, { secret: 'wrong-proxy-pw-77', username: PROXY_USER }]);
  });
});
