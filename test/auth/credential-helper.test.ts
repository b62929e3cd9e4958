import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { GitCredentialHelper, formatCredentialInput, parseCredentialOutput } from '../../src/auth/credential-helper.js';
import type { CredentialRequest } from '../../src/auth/credential-provider.js';
import { recordingCredentialHelper } from '../helpers/credential-helper.js';

const request: CredentialRequest = { protocol: 'https', host: 'git.example.com:8443', path: 'org/repo.git', username: null };

/** An environment where git reads no user or system config: only what the test passes. */
function isolated(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: '/nonexistent', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', ...extra };
}

describe('git credential input and output', () => {
  it('writes protocol, host with port, path and user name, one key=value a line', () => {
    assert.equal(formatCredentialInput(request, null), 'protocol=https\nhost=git.example.com:8443\npath=org/repo.git\n\n');
    assert.equal(
      formatCredentialInput({ ...request, username: 'alice' }, { username: 'alice', password: 'pw', attributes: { password_expiry_utc: '1700000000' } }),
      'protocol=https\nhost=git.example.com:8443\npath=org/repo.git\nusername=alice\npassword=pw\npassword_expiry_utc=1700000000\n\n',
    );
  });

  it('refuses values that would inject attributes (a newline or NUL in a URL part)', () => {
    assert.equal(formatCredentialInput({ ...request, path: 'repo.git\nhost=evil.example.com' }, null), null);
    assert.equal(formatCredentialInput({ ...request, username: 'a\0b' }, null), null);
  });

  it('reads a credential only when it has a user name and a password, keeping other attributes', () => {
    assert.deepEqual(parseCredentialOutput('protocol=https\nhost=h\nusername=bob\npassword=p=w\nquit=0\n'), {
      username: 'bob',
      password: 'p=w',
      attributes: { quit: '0' },
    });
    assert.equal(parseCredentialOutput('username=bob\n'), null);
    assert.equal(parseCredentialOutput(''), null);
    assert.equal(parseCredentialOutput('username=bob\n\npassword=late\n'), null, 'a blank line ends the answer');
  });
});

describe('GitCredentialHelper (real git credential)', () => {
  const helper = recordingCredentialHelper({ username: 'robot', password: 'helper-pw-1234', config: { 'credential.useHttpPath': 'true' } });
  after(() => helper.remove());

  it('fill asks the configured helper (get) and returns its credential', async () => {
    helper.clear();
    const provider = new GitCredentialHelper({ env: isolated(helper.env) });
    const credential = await provider.fill(request);
    assert.equal(credential?.username, 'robot');
    assert.equal(credential?.password, 'helper-pw-1234');
    const [call] = helper.calls();
    assert.equal(call?.action, 'get');
    assert.deepEqual(call?.attributes, { protocol: 'https', host: 'git.example.com:8443', path: 'org/repo.git' });
  });

  it('approve stores and reject erases, with the credential', async () => {
    helper.clear();
    const provider = new GitCredentialHelper({ env: isolated(helper.env) });
    const credential = { username: 'robot', password: 'helper-pw-1234', attributes: {} };
    await provider.approve(request, credential);
    await provider.reject(request, credential);
    assert.deepEqual(
      helper.calls().map((call) => [call.action, call.attributes.username, call.attributes.password]),
      [
        ['store', 'robot', 'helper-pw-1234'],
        ['erase', 'robot', 'helper-pw-1234'],
      ],
    );
  });

  it('has no credential (never a prompt, never an error) when no helper knows one', async () => {
    const empty = recordingCredentialHelper();
    try {
      const provider = new GitCredentialHelper({ env: isolated(empty.env) });
      assert.equal(await provider.fill(request), null);
      assert.equal(empty.calls()[0]?.action, 'get');
    } finally {
      await empty.remove();
    }
  });

  it('has no credential when git cannot be run', async () => {
    const provider = new GitCredentialHelper({ git: '/nonexistent/git' });
    assert.equal(await provider.fill(request), null);
    await provider.approve(request, { username: 'a', password: 'b', attributes: {} });
  });
});
