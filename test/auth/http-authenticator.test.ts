import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Credential, CredentialProvider, CredentialRequest } from '../../src/auth/credential-provider.js';
import { HttpAuthenticator, type HttpAuthenticatorOptions } from '../../src/auth/http-authenticator.js';

/** A provider that hands out one credential and records what it was told. */
class RecordingProvider implements CredentialProvider {
  readonly calls: [string, CredentialRequest][] = [];
  constructor(private readonly credential: Credential | null = { username: 'robot', password: 'filled-pw', attributes: {} }) {}
  async fill(request: CredentialRequest): Promise<Credential | null> {
    this.calls.push(['fill', request]);
    return this.credential;
  }
  async approve(request: CredentialRequest): Promise<void> {
    this.calls.push(['approve', request]);
  }
  async reject(request: CredentialRequest): Promise<void> {
    this.calls.push(['reject', request]);
  }
}

const home = new URL('https://git.example.com/org/repo.git');
const elsewhere = new URL('https://mirror.example.net/org/repo.git/info/refs?service=git-upload-pack');

function authenticator(options: Partial<HttpAuthenticatorOptions>): HttpAuthenticator {
  return new HttpAuthenticator({ explicit: null, home, username: null, provider: null, insecureSkipTlsVerify: false, ...options });
}

describe('HttpAuthenticator', () => {
  it('sends given credentials to their own origin only: bearer or basic', () => {
    const bearer = authenticator({ explicit: { kind: 'bearer', token: 'tok' } });
    assert.equal(bearer.authorization(new URL('https://git.example.com/org/repo.git/info/refs'))?.header, 'Bearer tok');
    assert.equal(bearer.authorization(elsewhere), null);
    assert.equal(bearer.authorization(new URL('http://git.example.com/org/repo.git')), null, 'another scheme is another origin');
    assert.equal(bearer.authorization(new URL('https://git.example.com:8443/org/repo.git')), null, 'another port is another origin');
    const basic = authenticator({ explicit: { kind: 'basic', username: 'git', password: 'pw' } });
    assert.equal(basic.authorization(home)?.header, `Basic ${Buffer.from('git:pw').toString('base64')}`);
  });

  it('asks the provider once per origin after a 401, with the path and the user name given', async () => {
    const provider = new RecordingProvider();
    const auth = authenticator({ provider, username: 'alice' });
    assert.equal(auth.authorization(home), null);
    assert.equal(await auth.fill(home, '/org/repo.git'), true);
    assert.deepEqual(provider.calls, [['fill', { protocol: 'https', host: 'git.example.com', path: 'org/repo.git', username: 'alice' }]]);
    assert.equal(auth.authorization(home)?.source, 'provider');
    assert.equal(await auth.fill(home, '/org/repo.git'), false, 'never asked twice for one origin');
    assert.deepEqual(auth.secrets(), ['filled-pw']);
  });

  it('never asks the provider when credentials were given for the origin', async () => {
    const provider = new RecordingProvider();
    const auth = authenticator({ provider, explicit: { kind: 'basic', username: 'git', password: 'pw' } });
    assert.equal(await auth.fill(home, '/org/repo.git'), false);
    assert.equal(provider.calls.length, 0);
  });

  it('asks for a redirected origin only while TLS is verified', async () => {
    const verified = new RecordingProvider();
    assert.equal(await authenticator({ provider: verified }).fill(elsewhere, '/org/repo.git'), true);
    assert.equal(verified.calls[0]?.[1].host, 'mirror.example.net');
    const unverified = new RecordingProvider();
    const auth = authenticator({ provider: unverified, insecureSkipTlsVerify: true });
    assert.equal(await auth.fill(elsewhere, '/org/repo.git'), false);
    assert.equal(unverified.calls.length, 0);
    assert.equal(await auth.fill(home, '/org/repo.git'), true, 'the host the user named is still asked');
  });

  it('approves only credentials that worked, once, and never after a rejection', async () => {
    const provider = new RecordingProvider();
    const auth = authenticator({ provider });
    await auth.fill(home, '/org/repo.git');
    await auth.approve();
    assert.deepEqual(provider.calls.map(([call]) => call), ['fill'], 'not used yet: nothing to approve');
    auth.succeeded(auth.authorization(home));
    await auth.approve();
    await auth.approve();
    assert.deepEqual(provider.calls.map(([call]) => call), ['fill', 'approve']);

    const refused = new RecordingProvider();
    const other = authenticator({ provider: refused });
    await other.fill(home, '/org/repo.git');
    const used = other.authorization(home);
    other.succeeded(used);
    await other.refused(used);
    await other.approve();
    assert.deepEqual(refused.calls.map(([call]) => call), ['fill', 'reject']);
    assert.equal(other.authorization(home), null, 'a rejected credential is not offered again');
  });

  it('has nothing when the provider has nothing', async () => {
    const auth = authenticator({ provider: new RecordingProvider(null) });
    assert.equal(await auth.fill(home, '/org/repo.git'), false);
    assert.equal(auth.authorization(home), null);
  });
});
