/**
 * HttpTransport on its own (transport/http.ts): connections to git http-backend on loopback,
 * the service header stripped, credentials asked for after a 401 and approved only when the
 * caller says the operation succeeded, redirects of `info/refs`, and answers that are not git.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Credential, CredentialProvider, CredentialRequest } from '../../src/auth/credential-provider.js';
import { HttpContentTypeError, HttpStatusError } from '../../src/errors.js';
import { readAdvertisement } from '../../src/protocol/advertisement.js';
import { UploadPackSession } from '../../src/protocol/upload-pack-session.js';
import { HttpTransport, type HttpTransportOptions } from '../../src/transport/http.js';
import { lsRemote } from '../helpers/git.js';
import { isAdvertisement, respond, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo } from '../helpers/sample-repo.js';

const TOKEN = 'tok-http-unit-5e4d3c2b';

/** A credential store in this process: what it was asked, and what it was told afterwards. */
class RecordingProvider implements CredentialProvider {
  readonly calls: string[] = [];
  constructor(private readonly password: string) {}
  async fill(request: CredentialRequest): Promise<Credential | null> {
    this.calls.push(`fill ${request.protocol}://${request.host}/${request.path}`);
    return { username: 'git', password: this.password, attributes: {} };
  }
  async approve(request: CredentialRequest): Promise<void> {
    this.calls.push(`approve ${request.host}`);
  }
  async reject(request: CredentialRequest): Promise<void> {
    this.calls.push(`reject ${request.host}`);
  }
}

function transport(url: string, options: Partial<HttpTransportOptions> = {}): HttpTransport {
  return new HttpTransport(new URL(url), { side: 'source', ...options });
}

describe('HttpTransport', { timeout: 120_000 }, () => {
  let open: GitHttpServer;
  let gated: GitHttpServer;
  let moved: GitHttpServer;
  let html: GitHttpServer;

  before(async () => {
    open = await startGitHttpServer();
    await sampleRepo(open.root);
    const root = open.root;
    gated = await startGitHttpServer({ root, basicAuth: { username: 'git', password: TOKEN } });
    // `old.git`'s info/refs moved to `source.git`; its POST endpoints are gone.
    const redirect = (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
      if (!req.url?.startsWith('/old.git/')) return next();
      req.resume();
      if (req.method === 'GET') res.writeHead(301, { Location: req.url.replace('/old.git/', '/source.git/') });
      else res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(req.method === 'GET' ? '' : 'no such repository\n');
    };
    moved = await startGitHttpServer({ root, onRequest: redirect });
    html = await startGitHttpServer({ root, onRequest: when(isAdvertisement(), respond(200, '<html>sign in</html>', { 'Content-Type': 'text/html' })) });
  });
  after(async () => {
    await Promise.all([open, gated, moved, html].map((server) => server?.close()));
  });

  for (const protocol of ['v1', 'v2'] as const) {
    it(`connect over ${protocol}: a stateless connection whose advertisement reads without the service header`, async () => {
      const http = transport(open.url('source'));
      const connection = await http.connect('git-upload-pack', { protocol, phase: 'source info-refs' });
      assert.equal(connection.stateless, true);
      const advertisement = await readAdvertisement(connection.advertisement);
      assert.equal(advertisement.version, protocol);
      if (advertisement.version === 'v1') {
        const expected = await lsRemote(`${open.root}/source.git`, { protocol: 0 });
        assert.deepEqual(new Map(advertisement.refs.filter((ref) => ref.name !== 'HEAD').map((ref) => [ref.name, ref.hash])), expected.refs);
      }
      await connection.close();
      await http.close();
    });
  }

  it('after a 401 asks the provider, sends its credential, and approves it only when told the run succeeded', async () => {
    const provider = new RecordingProvider(TOKEN);
    const http = transport(gated.url('source'), { credentialProvider: provider });
    gated.clearLog();
    const session = await UploadPackSession.open(http, { protocol: 'v2' });
    await session.close();
    await gated.idle();
    const host = new URL(gated.baseUrl).host;
    assert.deepEqual(provider.calls, [`fill http://${host}/source.git`]);
    // The ls-refs guessed alongside the first GET went without credentials too: its 401 asked
    // no one (the provider was asked once) and it went again with the GET's credential.
    assert.deepEqual(
      gated.requests.map((entry) => `${entry.method} ${entry.status} ${entry.headers.authorization === undefined ? 'no auth' : 'auth'}`).sort(),
      ['GET 200 auth', 'GET 401 no auth', 'POST 200 auth', 'POST 401 no auth'],
    );
    await http.approveCredentials();
    assert.deepEqual(provider.calls.slice(1), [`approve ${host}`]);
    await http.close();
  });

  it("a provider's refused credential is rejected from it, and the error says so as data", async () => {
    const provider = new RecordingProvider('wrong');
    const http = transport(gated.url('source'), { credentialProvider: provider });
    const error = await UploadPackSession.open(http, { protocol: 'v2' }).then(
      () => assert.fail('connected with a wrong password'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof HttpStatusError, String(error));
    assert.equal(error.status, 401);
    assert.deepEqual(error.advice, { kind: 'credentials', side: 'source', situation: 'helper-refused' });
    assert.doesNotMatch(error.message, /--/, 'the library names no command-line flag');
    assert.deepEqual(provider.calls.slice(1), [`reject ${new URL(gated.baseUrl).host}`]);
    await http.close();
  });

  it('follows an info/refs redirect; later requests go there only when asked to', async () => {
    const stay = transport(moved.url('old'));
    const session = await UploadPackSession.open(stay, { protocol: 'v2' }).catch((error: unknown) => error);
    // ls-refs is a POST to the URL as given, which is gone.
    assert.ok(session instanceof HttpStatusError, String(session));
    assert.equal(session.status, 404);
    await stay.close();

    const follow = transport(moved.url('old'), { followInfoRefsRedirect: true });
    moved.clearLog();
    const followed = await UploadPackSession.open(follow, { protocol: 'v2' });
    assert.ok(followed.discovery.refs.some((ref) => ref.name === 'refs/heads/main'));
    await followed.close();
    await moved.idle();
    assert.deepEqual(
      moved.requests.map((entry) => `${entry.method} ${entry.url.split('?')[0]} ${entry.status}`),
      ['GET /old.git/info/refs 301', 'GET /source.git/info/refs 200', 'POST /source.git/git-upload-pack 200'],
    );
    await follow.close();
  });

  it('an advertisement that is not one (a sign-in page) is an HttpContentTypeError naming what came back', async () => {
    const http = transport(html.url('source'));
    const error = await http.connect('git-upload-pack', { protocol: 'v2', phase: 'source info-refs' }).catch((caught: unknown) => caught);
    assert.ok(error instanceof HttpContentTypeError, String(error));
    assert.equal(error.code, 'HTTP_CONTENT_TYPE');
    assert.equal(error.contentType, 'text/html');
    assert.equal(error.status, 200);
    await http.close();
  });
});
