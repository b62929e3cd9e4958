/**
 * git's protocol rules read ahead of the run (transport/protocol-policy.ts,
 * `prefetchProtocolConfig`; api/prepare.ts): the CLI starts `git config` as soon as its flags are
 * read, and the run takes that read instead of starting its own, only when its child environment
 * and working directory are exactly the ones the read was started with
 * (docs/architecture.md, "No-op runs at scale"). `git` here is a wrapper on PATH that logs each
 * call (and whether a secret reached its environment), then runs the real git.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareRun } from '../../src/api/prepare.js';
import { sync } from '../../src/api/sync.js';
import { runChildEnv } from '../../src/auth/child-env.js';
import { GitSyncError } from '../../src/errors.js';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { prefetchProtocolConfig, ProtocolPolicy } from '../../src/transport/protocol-policy.js';
import { runCli } from '../cli/run-cli.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';

const SECRET = 'prefetch-secret-token-0042';

describe('protocol rules read ahead of the run', () => {
  let dir: TempDir;
  let bin: string;
  let log: string;
  let source: FixtureRepo;
  let targets = 0;

  before(async () => {
    dir = makeTempDir('gitsync-prefetch-');
    bin = path.join(dir.path, 'bin');
    log = path.join(dir.path, 'git-calls.log');
    await mkdir(bin);
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    // One line per call: its first two arguments, its directory, FAKE_MARK, and whether any
    // variable of its environment holds the secret.
    await writeFile(
      path.join(bin, 'git'),
      [
        '#!/bin/sh',
        `leaked=no; env | grep -q '${SECRET}' && leaked=yes`,
        `echo "$1 $2 | $PWD | mark=$FAKE_MARK | leaked=$leaked" >> '${log}'`,
        // Asked for the protocol rules with FAKE_DENY=1: forbid local paths.
        'if [ "$1" = config ] && [ "$FAKE_DENY" = 1 ]; then echo "protocol.file.allow never"; exit 0; fi',
        `exec '${realGit}' "$@"`,
        '',
      ].join('\n'),
    );
    await chmod(path.join(bin, 'git'), 0o755);
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
  });
  after(() => dir.remove());

  const withWrapper = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, ...extra });
  const configCalls = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((line) => line.startsWith('config --get-regexp')) : []);
  const reset = async (): Promise<void> => writeFile(log, '');
  const newTarget = (): string => path.join(dir.path, `target-${++targets}.git`);
  const fileEndpoint = () => parseEndpoint(source.path);

  it('a run with the same environment and directory takes the read: git config runs once', async () => {
    await reset();
    const env = withWrapper({ FAKE_MARK: 'same' });
    prefetchProtocolConfig({ env, cwd: dir.path });
    await new ProtocolPolicy({ env, cwd: dir.path }).check(fileEndpoint(), 'source');
    assert.deepEqual(configCalls().length, 1, readFileSync(log, 'utf8'));
    // Taken once: the next run reads again.
    await new ProtocolPolicy({ env, cwd: dir.path }).check(fileEndpoint(), 'source');
    assert.equal(configCalls().length, 2);
  });

  it("a run whose environment differs in one variable reads on its own, and is governed by its own read", async () => {
    await reset();
    prefetchProtocolConfig({ env: withWrapper({ FAKE_MARK: 'ahead' }), cwd: dir.path });
    // The read started ahead allows file; this run's own configuration forbids it.
    await assert.rejects(
      new ProtocolPolicy({ env: withWrapper({ FAKE_MARK: 'run', FAKE_DENY: '1' }), cwd: dir.path }).check(fileEndpoint(), 'source'),
      (error: unknown) => error instanceof GitSyncError && error.code === 'PROTOCOL_NOT_ALLOWED' && /protocol\.file\.allow is never/.test(error.message),
    );
    const calls = configCalls();
    assert.equal(calls.length, 2, calls.join('\n'));
    assert.ok(calls.some((line) => line.includes('mark=run')), calls.join('\n'));
    // And the other way round: a forbidding read ahead never governs a run that allows.
    await reset();
    prefetchProtocolConfig({ env: withWrapper({ FAKE_MARK: 'ahead', FAKE_DENY: '1' }), cwd: dir.path });
    await new ProtocolPolicy({ env: withWrapper({ FAKE_MARK: 'run' }), cwd: dir.path }).check(fileEndpoint(), 'source');
    assert.equal(configCalls().length, 2);
  });

  it('a run in another directory reads on its own (a repository there may set protocol rules)', async () => {
    await reset();
    const env = withWrapper({ FAKE_MARK: 'cwd' });
    prefetchProtocolConfig({ env, cwd: dir.path });
    await new ProtocolPolicy({ env, cwd: source.path }).check(fileEndpoint(), 'source');
    const calls = configCalls();
    assert.equal(calls.length, 2, calls.join('\n'));
    assert.ok(calls.some((line) => line.includes(`| ${source.path} |`)), calls.join('\n'));
  });

  it('nothing is read ahead when GIT_ALLOW_PROTOCOL or allowedProtocols decide alone', async () => {
    await reset();
    prefetchProtocolConfig({ env: withWrapper({ GIT_ALLOW_PROTOCOL: 'file' }), cwd: dir.path });
    prefetchProtocolConfig({ env: withWrapper(), cwd: dir.path, allowedProtocols: ['file'] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(configCalls().length, 0);
  });

  it('prepareRun computes the environment the run gives its children: one read for the run, secrets kept out', async () => {
    await reset();
    const options = {
      env: withWrapper({ FAKE_MARK: 'library', LEAKY: SECRET }),
      cwd: dir.path,
      retries: 0,
      source: { url: source.path, token: SECRET },
      target: { url: newTarget() },
    };
    prepareRun(options);
    const result = await sync(options);
    assert.equal(result.pushed, 1);
    assert.equal(configCalls().length, 1, readFileSync(log, 'utf8'));
    // The variable holding the token is not in any child's environment, the prefetched read's
    // included.
    assert.equal(runChildEnv(options).LEAKY, undefined);
    assert.ok(!readFileSync(log, 'utf8').includes('leaked=yes'), readFileSync(log, 'utf8'));
  });

  it('the CLI reads the rules once per run, ahead of loading the library, secrets kept out', async () => {
    await reset();
    const target = newTarget();
    const run = await runCli(['sync', '--source-token', SECRET, source.path, target], { PATH: withWrapper().PATH, FAKE_MARK: 'cli', LEAKY: SECRET }, dir.path);
    assert.equal(run.code, 0, run.stderr);
    const calls = configCalls();
    assert.equal(calls.length, 1, readFileSync(log, 'utf8'));
    assert.ok(calls[0]!.includes('mark=cli'), calls[0]);
    assert.ok(!readFileSync(log, 'utf8').includes('leaked=yes'), readFileSync(log, 'utf8'));
    // The rules still govern: forbidden by configuration, nothing is created.
    await reset();
    const forbidden = newTarget();
    const refused = await runCli(['sync', source.path, forbidden], { PATH: withWrapper().PATH, FAKE_DENY: '1' }, dir.path);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /transport 'file' not allowed/);
    assert.equal(existsSync(forbidden), false);
    assert.equal(configCalls().length, 1);
  });
});
