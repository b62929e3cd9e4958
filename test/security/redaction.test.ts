/**
 * Issue 20, item 8: redaction gaps (docs/security.md, "git's own protocol rules"). A `git://`
 * URL's password is never shown (text, JSON, errors, progress), and an HTTP error body that
 * echoes the request's `Authorization` header is shown with the credential masked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redactAuthorization, redactUrl } from '../../src/observe/redact.js';
import { runCli } from '../cli/run-cli.js';
import { RunLog } from '../cli/secret-grep.js';
import { createRepo } from '../helpers/fixtures.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { freePort } from '../helpers/net.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { startHostileHttp } from '../helpers/hostile-server.js';

const GIT_PASSWORD = 'daemon-pw-6d1e0b';
const TOKEN = 'echoed-token-93ac5f1e27';

describe('redaction of Authorization values in free text (pure)', () => {
  const basic = Buffer.from(`git:${TOKEN}`).toString('base64');
  it('masks Basic credentials, Bearer tokens and anything labelled Authorization', () => {
    assert.equal(redactAuthorization(`you sent Authorization: Basic ${basic}`), 'you sent Authorization: Basic ***');
    assert.equal(redactAuthorization(`{"authorization":"Bearer ${TOKEN}"}`), '{"authorization":"Bearer ***"}');
    assert.equal(redactAuthorization(`header was basic ${basic}, refused`), 'header was basic ***, refused');
    assert.equal(redactAuthorization(`token: Bearer ${TOKEN}`), 'token: Bearer ***');
    assert.equal(redactAuthorization(`authorization=${TOKEN}`), 'authorization=***');
    // An echo cut short still hides what it shows of the password.
    assert.equal(redactAuthorization(`Basic ${basic.slice(0, 8)}`), 'Basic ***');
  });

  it('leaves words alone', () => {
    for (const text of ['WWW-Authenticate: Basic realm="git"', 'Bearer realm="example", error="invalid_token"', 'basic authentication required', 'Authorization required']) {
      assert.equal(redactAuthorization(text), text);
    }
  });

  it('masks a git:// password in a URL', () => {
    assert.equal(redactUrl(`git://alice:${GIT_PASSWORD}@example.com/repo.git`), 'git://***@example.com/repo.git');
  });
});

describe('what the CLI shows', () => {
  const log = new RunLog();
  let dir: TempDir;
  let daemon: GitDaemon;
  before(async () => {
    dir = makeTempDir('gitsync-redaction-');
    daemon = await startGitDaemon();
    await sampleRepo(daemon.root);
  });
  after(async () => {
    await daemon.close();
    await dir.remove();
  });

  it('never prints a git:// password: results, plans, progress and errors', async () => {
    const withPassword = daemon.url('source').replace('git://', `git://alice:${GIT_PASSWORD}@`);
    const target = await createRepo({ parentDir: dir.path, name: 'target' });
    for (const args of [
      ['probe', withPassword],
      ['probe', '--json', withPassword],
      ['plan', '-v', withPassword, target.path],
      ['sync', '--json', '--progress', '-v', withPassword, target.path],
    ]) {
      const run = log.keep(args.join(' '), await runCli(args));
      assert.equal(run.code, 0, run.stderr);
      if (args.includes('--json')) assert.equal(JSON.parse(run.stdout).source.url, withPassword.replace(`alice:${GIT_PASSWORD}@`, '***@'));
    }
    const closed = `git://alice:${GIT_PASSWORD}@127.0.0.1:${await freePort()}/none.git`;
    for (const args of [['probe', '--retries', '0', closed], ['probe', '--retries', '0', '--json', closed], ['sync', '--retries', '0', '--json', closed, target.path]]) {
      const run = log.keep(args.join(' '), await runCli(args));
      assert.equal(run.code, 1, run.stderr);
    }
    log.assertNoSecrets([{ secret: GIT_PASSWORD, username: 'alice' }]);
  });

  it('masks the Authorization header an HTTP error body echoes', async () => {
    const basic = Buffer.from(`git:${TOKEN}`).toString('base64');
    const server = await startHostileHttp({
      status: 403,
      headers: { 'content-type': 'text/plain' },
      advertisement: [{ send: `forbidden; request headers: authorization: Basic ${basic}; user-agent: git-sync\n` }],
    });
    try {
      for (const args of [['probe', '--retries', '0', '--source-token', TOKEN, server.url], ['probe', '--retries', '0', '--json', '--source-token', TOKEN, server.url]]) {
        const run = log.keep(args.join(' '), await runCli(args));
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, /HTTP 403 Forbidden.*authorization: Basic \*\*\*; user-agent: git-sync/);
      }
    } finally {
      await server.close();
    }
    log.assertNoSecrets([{ secret: TOKEN }]);
  });
});
