/**
 * Issue 20, item 9: what git-sync gives git's credential helpers refuses carriage returns as
 * well as newlines and NULs (the CVE-2024-52006 class: a git without that fix passes a bare CR
 * on, and a helper that reads lines the .NET way takes it for a line end, so `host=` could be
 * injected from a URL). docs/security.md, "git's own protocol rules".
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatCredentialInput, GitCredentialHelper } from '../../src/auth/credential-helper.js';
import type { CredentialRequest } from '../../src/auth/credential-provider.js';
import { runCli } from '../cli/run-cli.js';
import { recordingCredentialHelper } from '../helpers/credential-helper.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { startHostileHttp } from '../helpers/hostile-server.js';

const request: CredentialRequest = { protocol: 'https', host: 'git.example.com', path: 'org/repo.git', username: null };

describe('credential helper input with a carriage return', () => {
  let dir: TempDir;
  before(() => {
    dir = makeTempDir('gitsync-credential-cr-');
  });
  after(() => dir.remove());

  it('is refused in every attribute, as a newline or a NUL is', () => {
    assert.equal(formatCredentialInput({ ...request, username: 'alice\rhost=evil.example.com' }, null), null);
    assert.equal(formatCredentialInput({ ...request, path: 'repo.git\r' }, null), null);
    assert.equal(formatCredentialInput({ ...request, host: 'git.example.com\rprotocol=http' }, null), null);
    assert.equal(formatCredentialInput(request, { username: 'alice', password: 'pw\r', attributes: {} }), null);
    assert.equal(formatCredentialInput(request, { username: 'alice', password: 'pw', attributes: { 'a\rb': 'c' } }), null);
    assert.notEqual(formatCredentialInput(request, null), null);
  });

  it('never starts git credential at all', async () => {
    const ran = path.join(dir.path, 'git-ran');
    const fakeGit = path.join(dir.path, 'fake-git');
    writeFileSync(fakeGit, `#!/bin/sh\ntouch '${ran}'\ncat > /dev/null\n`);
    chmodSync(fakeGit, 0o755);
    const helper = new GitCredentialHelper({ git: fakeGit });
    assert.equal(await helper.fill({ ...request, username: 'alice\rhost=evil.example.com' }), null);
    await helper.approve(request, { username: 'alice', password: 'pw\r', attributes: {} });
    await helper.reject(request, { username: 'alice\r', password: 'pw', attributes: {} });
    assert.equal(existsSync(ran), false, 'git credential was started with a carriage return in its input');
  });

  it('from a URL user name (%0D): the CLI asks no helper, so no helper sees an injected host', async () => {
    const server = await startHostileHttp({ status: 401, headers: { 'www-authenticate': 'Basic realm="x"' }, advertisement: [{ send: 'no\n' }] });
    const helper = recordingCredentialHelper({ username: 'git', password: 'from-helper' });
    try {
      const url = server.url.replace('http://', 'http://alice%0Dhost=evil.example.com@');
      const run = await runCli(['probe', '--retries', '0', url], helper.env);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /HTTP 401/);
      assert.deepEqual(helper.calls(), [], 'the credential helper was asked');
    } finally {
      await server.close();
      await helper.remove();
    }
  });
});
