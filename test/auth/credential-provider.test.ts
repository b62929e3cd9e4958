/**
 * The library's credential hook (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing", §8): a caller's own CredentialProvider is asked
 * after a 401, and told approve only when the whole operation succeeded, reject after a refusal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { probe, sync, type Credential, type CredentialProvider, type CredentialRequest } from '../../src/index.js';
import { cloneRepo, createRepo } from '../helpers/fixtures.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';

const TOKEN = 'tok-provider-6a5b4c3d';

class Vault implements CredentialProvider {
  readonly calls: string[] = [];
  constructor(private readonly password: string | null) {}
  async fill(request: CredentialRequest): Promise<Credential | null> {
    this.calls.push(`fill ${request.protocol}://${request.host}/${request.path}`);
    return this.password === null ? null : { username: 'git', password: this.password, attributes: {} };
  }
  async approve(request: CredentialRequest): Promise<void> {
    this.calls.push(`approve ${request.host}`);
  }
  async reject(request: CredentialRequest): Promise<void> {
    this.calls.push(`reject ${request.host}`);
  }
}

describe('a CredentialProvider given to the library', () => {
  let open: GitHttpServer;
  let gated: GitHttpServer;
  let sample: SampleRepo;

  before(async () => {
    open = await startGitHttpServer();
    sample = await sampleRepo(open.root);
    gated = await startGitHttpServer({ root: open.root, basicAuth: { username: 'git', password: TOKEN } });
    await createRepo({ parentDir: open.root, name: 'mirror' });
    const diverged = await cloneRepo(sample.repo, { parentDir: open.root, name: 'diverged' });
    await diverged.commit('main', { parents: [`${sample.main}~1`], files: { 'x.txt': 'diverged' } });
  });
  after(async () => {
    await open.close();
    await gated.close();
  });

  it('is asked after a 401 and approved once the operation succeeded', async () => {
    const vault = new Vault(TOKEN);
    const result = await probe({ source: { url: gated.url('source'), credentialHelper: vault } });
    assert.equal(result.source.head, 'refs/heads/main');
    const host = `127.0.0.1:${gated.port}`;
    assert.deepEqual(vault.calls, [`fill http://${host}/source.git`, `approve ${host}`]);
  });

  it('is never asked by a server that does not want credentials', async () => {
    const vault = new Vault(TOKEN);
    await probe({ source: { url: open.url('source'), credentialHelper: vault } });
    assert.deepEqual(vault.calls, []);
  });

  it('approves a push target only after the push, and nothing when the run fails', async () => {
    const vault = new Vault(TOKEN);
    const pushed = await sync({ source: { url: open.url('source') }, target: { url: gated.url('mirror'), credentialHelper: vault } });
    assert.equal(pushed.pushed, 3);
    assert.deepEqual(vault.calls.map((call) => call.split(' ')[0]), ['fill', 'approve']);

    const blocked = new Vault(TOKEN);
    await assert.rejects(sync({ source: { url: open.url('source') }, target: { url: gated.url('diverged'), credentialHelper: blocked } }), { code: 'REF_BLOCKED' });
    assert.deepEqual(blocked.calls.map((call) => call.split(' ')[0]), ['fill']);
  });

  it('is told reject when the server refuses what it filled, and the error says so', async () => {
    const vault = new Vault('not-the-token');
    await assert.rejects(probe({ source: { url: gated.url('source'), credentialHelper: vault } }), (error: Error & { code: string; status: number }) => {
      assert.equal(error.code, 'HTTP_AUTH');
      assert.equal(error.status, 401);
      assert.match(error.message, /credential helper were refused/);
      assert.ok(!error.message.includes('not-the-token'));
      return true;
    });
    assert.deepEqual(vault.calls.map((call) => call.split(' ')[0]), ['fill', 'reject']);
  });

  it('null turns the credential helper off', async () => {
    await assert.rejects(probe({ source: { url: gated.url('source'), credentialHelper: null } }), { code: 'HTTP_AUTH' });
  });
});
