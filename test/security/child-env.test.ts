/**
 * Issue 20, item 7: processes git-sync starts get only what they need (docs/security.md, "git's
 * own protocol rules"). A target's hook, the program behind GIT_SSH_COMMAND, a remote helper and
 * `git credential` all run with the caller's environment, but never with git-sync's own
 * variables (the tokens among them) nor a variable that holds a token given to the run.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { childEnv } from '../../src/auth/child-env.js';
import { sync } from '../../src/api/sync.js';
import { runCli } from '../cli/run-cli.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { configEnv, makeTempDir, type TempDir } from '../helpers/git.js';
import { startHostileHttp } from '../helpers/hostile-server.js';

const SOURCE_TOKEN = 'source-token-3f9a1c77';
const TARGET_TOKEN = 'target-token-b81d0e42';
const EMBEDDER_TOKEN = 'embedder-token-5c2e9d10';

/** Asserts that an env dump holds none of the secrets, and that it is a real dump (PATH is there). */
function assertClean(dump: string, what: string): void {
  assert.match(dump, /^PATH=/m, `${what}: not an environment dump`);
  for (const secret of [SOURCE_TOKEN, TARGET_TOKEN, EMBEDDER_TOKEN]) assert.ok(!dump.includes(secret), `${what} saw ${secret}`);
  assert.ok(!/^GITSYNC_/m.test(dump), `${what} saw a GITSYNC_ variable`);
}

describe('childEnv (pure)', () => {
  it("drops git-sync's variables and any variable holding a secret, keeps the rest", () => {
    const env = childEnv(
      { PATH: '/bin', HOME: '/h', GITSYNC_SOURCE_TOKEN: 'x', gitsync_other: 'y', MIRROR_TOKEN: `Bearer ${EMBEDDER_TOKEN}`, SSH_AUTH_SOCK: '/s', SHORT: 'abc' },
      [EMBEDDER_TOKEN, 'abc', null],
    );
    assert.deepEqual(env, { PATH: '/bin', HOME: '/h', SSH_AUTH_SOCK: '/s', SHORT: 'abc' });
  });
});

describe('environment of the processes git-sync starts', () => {
  let dir: TempDir;
  let source: FixtureRepo;
  before(async () => {
    dir = makeTempDir('gitsync-child-env-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
  });
  after(() => dir.remove());

  /** A bare target whose pre-receive hook writes its environment to `dump`. */
  async function targetWithHook(name: string): Promise<{ repo: FixtureRepo; dump: string }> {
    const repo = await createRepo({ parentDir: dir.path, name });
    const dump = path.join(dir.path, `${name}.env`);
    const hook = path.join(repo.path, 'hooks', 'pre-receive');
    writeFileSync(hook, `#!/bin/sh\nenv > '${dump}'\ncat > /dev/null\n`);
    chmodSync(hook, 0o755);
    return { repo, dump };
  }

  it("a target's pre-receive hook sees neither token (CLI, tokens in GITSYNC_* variables)", async () => {
    const { repo, dump } = await targetWithHook('cli-target');
    const run = await runCli(['sync', source.path, repo.path], { GITSYNC_SOURCE_TOKEN: SOURCE_TOKEN, GITSYNC_TARGET_TOKEN: TARGET_TOKEN });
    assert.equal(run.code, 0, run.stderr);
    assertClean(readFileSync(dump, 'utf8'), 'the pre-receive hook');
  });

  it("a hook sees no variable holding a token an embedding program passed as an option", async () => {
    const { repo, dump } = await targetWithHook('library-target');
    await sync({
      source: { url: source.path, token: EMBEDDER_TOKEN },
      target: { url: repo.path },
      env: { ...process.env, MIRROR_TOKEN: EMBEDDER_TOKEN, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
    });
    assertClean(readFileSync(dump, 'utf8'), 'the pre-receive hook');
  });

  it('GIT_SSH_COMMAND sees neither token', async () => {
    const dump = path.join(dir.path, 'ssh.env');
    const run = await runCli(['probe', '--retries', '0', 'ssh://hostile.invalid/repo.git'], {
      GIT_SSH_COMMAND: `env > '${dump}'; exit 1 #`,
      GITSYNC_SOURCE_TOKEN: SOURCE_TOKEN,
      GITSYNC_TARGET_TOKEN: TARGET_TOKEN,
    });
    assert.notEqual(run.code, 0);
    assertClean(readFileSync(dump, 'utf8'), 'GIT_SSH_COMMAND');
  });

  it('a remote helper sees neither token', async () => {
    const bin = path.join(dir.path, 'bin');
    await mkdir(bin, { recursive: true });
    const dump = path.join(dir.path, 'helper.env');
    writeFileSync(path.join(bin, 'git-remote-dumpenv'), `#!/bin/sh\nenv > '${dump}'\nexit 1\n`);
    chmodSync(path.join(bin, 'git-remote-dumpenv'), 0o755);
    const run = await runCli(['probe', '--retries', '0', 'dumpenv://example.invalid/repo.git'], {
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      GITSYNC_SOURCE_TOKEN: SOURCE_TOKEN,
      GITSYNC_TARGET_TOKEN: TARGET_TOKEN,
    });
    assert.notEqual(run.code, 0);
    assertClean(readFileSync(dump, 'utf8'), 'the remote helper');
  });

  it("git's credential helper sees neither token", async () => {
    const server = await startHostileHttp({ status: 401, headers: { 'www-authenticate': 'Basic realm="x"' }, advertisement: [{ send: 'no\n' }] });
    const dump = path.join(dir.path, 'credential.env');
    try {
      const run = await runCli(['probe', '--retries', '0', server.url], {
        ...configEnv({ 'credential.helper': `!f() { env > '${dump}'; }; f` }),
        // The target's token only: the source (this server) is asked anonymously, then the helper.
        GITSYNC_TARGET_TOKEN: TARGET_TOKEN,
        SOME_OTHER_VARIABLE: 'kept',
      });
      assert.notEqual(run.code, 0);
      assert.ok(existsSync(dump), `git credential was not asked: ${run.stderr}`);
      const seen = readFileSync(dump, 'utf8');
      assertClean(seen, 'git credential');
      assert.match(seen, /^SOME_OTHER_VARIABLE=kept$/m, 'the rest of the environment is passed on');
    } finally {
      await server.close();
    }
  });
});
