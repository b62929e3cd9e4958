/**
 * Issue 20, item 10: a repository path beginning with `-` would reach the remote
 * `git-upload-pack`/`git-receive-pack` as an option; git blocks it as a "strange pathname", and
 * git-sync refuses it before starting anything (docs/security.md, "git's own protocol rules").
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { runCli } from '../cli/run-cli.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';

describe('a repository path that begins with "-"', () => {
  let dir: TempDir;
  before(() => {
    dir = makeTempDir('gitsync-dash-path-');
  });
  after(() => dir.remove());

  it('is refused when parsed, for scp-like and ssh:// home-relative paths', () => {
    assert.throws(() => parseEndpoint('host:-oProxyCommand=touch%20x'), /refusing repository path "-oProxyCommand=touch%20x" .*begins with "-"/);
    assert.throws(() => parseEndpoint('user@host:--upload-pack=touch x'), /refusing repository path "--upload-pack=touch x"/);
    assert.throws(() => parseEndpoint('[host:2222]:-x'), /refusing repository path "-x"/);
    // A path whose "-" comes after a slash is a name like any other.
    assert.deepEqual(parseEndpoint('host:repo/-x.git'), { kind: 'ssh', host: 'host', user: null, port: null, path: 'repo/-x.git', display: 'host:repo/-x.git' });
    assert.equal((parseEndpoint('ssh://host/-x.git') as { path: string }).path, '/-x.git');
  });

  it('makes the CLI exit 2 with USAGE as source or target, and starts no ssh', async () => {
    const ran = path.join(dir.path, 'ssh-ran');
    const env = { GIT_SSH_COMMAND: `touch '${ran}'; exit 1 #` };
    for (const args of [
      ['probe', '--json', 'hostile.invalid:--upload-pack=touch /tmp/x'],
      ['sync', '--json', 'hostile.invalid:repo.git', 'hostile.invalid:-oProxyCommand=x'],
    ]) {
      const run = await runCli(args, env);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(JSON.parse(run.stdout).error.code, 'USAGE');
      assert.match(run.stderr, /^error: refusing repository path "-[^"]*" in "[^"]*": it begins with "-" and would be read as an option$/m);
    }
    assert.equal(existsSync(ran), false, 'ssh was started');
  });
});
