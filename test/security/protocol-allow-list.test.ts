/**
 * Issue 20, item 6: git's protocol allow-list (docs/security.md, "git's own protocol rules").
 * `ext::` runs a shell command and any other scheme a `git-remote-<scheme>` program: a URL from
 * a manifest, a webhook or an API call must not start either unless git's rules allow it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probe } from '../../src/api/probe.js';
import { GitSyncError } from '../../src/errors.js';
import { protocolDecision, protocolRules } from '../../src/transport/protocol-policy.js';
import { runCli } from '../cli/run-cli.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { configEnv, makeTempDir, type TempDir } from '../helpers/git.js';

describe('protocol rules (pure)', () => {
  const allowed = (protocol: string, config = '', env: NodeJS.ProcessEnv = {}, only: string[] | null = null): boolean => protocolDecision(protocol, protocolRules(config, env, only)).allowed;

  it("has git's defaults: always http, https, git, ssh; never ext; user for file and helpers", () => {
    for (const protocol of ['http', 'https', 'git', 'ssh', 'file', 'hg', 'foo']) assert.equal(allowed(protocol), true, protocol);
    assert.equal(allowed('ext'), false);
    // `user` protocols are refused once GIT_PROTOCOL_FROM_USER says false; `always` ones are not.
    for (const value of ['0', 'false', 'no', 'off']) {
      assert.equal(allowed('file', '', { GIT_PROTOCOL_FROM_USER: value }), false, value);
      assert.equal(allowed('foo', '', { GIT_PROTOCOL_FROM_USER: value }), false, value);
      assert.equal(allowed('https', '', { GIT_PROTOCOL_FROM_USER: value }), true, value);
    }
    assert.equal(allowed('file', '', { GIT_PROTOCOL_FROM_USER: '1' }), true);
  });

  it('takes protocol.<name>.allow over protocol.allow over the default', () => {
    assert.equal(allowed('ext', 'protocol.ext.allow always\n'), true);
    assert.equal(allowed('https', 'protocol.https.allow never\n'), false);
    assert.equal(allowed('https', 'protocol.allow never\n'), false);
    assert.equal(allowed('https', 'protocol.allow never\nprotocol.https.allow always\n'), true);
    assert.equal(allowed('foo', 'protocol.allow user\n', { GIT_PROTOCOL_FROM_USER: '0' }), false);
    assert.throws(() => protocolRules('protocol.allow sometimes\n', {}), /unknown value "sometimes" for git config protocol\.allow/);
  });

  it('lets GIT_ALLOW_PROTOCOL, then the caller list, decide alone', () => {
    assert.equal(allowed('ext', 'protocol.ext.allow never\n', { GIT_ALLOW_PROTOCOL: 'https:ext' }), true);
    assert.equal(allowed('https', '', { GIT_ALLOW_PROTOCOL: 'ssh' }), false);
    assert.equal(allowed('file', '', { GIT_ALLOW_PROTOCOL: '' }), false);
    assert.equal(allowed('ssh', '', { GIT_ALLOW_PROTOCOL: 'ssh' }, ['https']), false);
    assert.equal(allowed('ext', '', {}, ['ext']), true);
    assert.equal(allowed('https', 'protocol.https.allow never\n', {}, ['https']), true);
  });
});

describe('the protocol allow-list, as the CLI and the library apply it', () => {
  let dir: TempDir;
  let source: FixtureRepo;
  let helperBin: string;
  let helperRan: string;
  before(async () => {
    dir = makeTempDir('gitsync-protocols-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
    // A remote helper that only records that it was started.
    helperBin = path.join(dir.path, 'bin');
    helperRan = path.join(dir.path, 'helper-ran');
    await mkdir(helperBin);
    await writeFile(path.join(helperBin, 'git-remote-recorded'), `#!/bin/sh\necho "$@" > '${helperRan}'\nexit 1\n`);
    await chmod(path.join(helperBin, 'git-remote-recorded'), 0o755);
  });
  after(() => dir.remove());

  it('refuses ext:: by default: the command never runs, exit 2, PROTOCOL_NOT_ALLOWED', async () => {
    const marker = path.join(dir.path, 'ext-ran');
    const run = await runCli(['probe', '--json', `ext::sh -c touch% ${marker}`]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(JSON.parse(run.stdout).error.code, 'PROTOCOL_NOT_ALLOWED');
    assert.match(run.stderr, /transport 'ext' not allowed \(git's default for ext is never\)/);
    assert.equal(existsSync(marker), false, 'the ext command ran');
  });

  it('runs ext:: once GIT_ALLOW_PROTOCOL lists it (the refusal is the allow-list, not the syntax)', async () => {
    const marker = path.join(dir.path, 'ext-allowed-ran');
    const run = await runCli(['probe', '--retries', '0', `ext::sh -c touch% ${marker}`], { GIT_ALLOW_PROTOCOL: 'ext' });
    assert.notEqual(run.code, 0, 'the command is not a git server');
    assert.equal(existsSync(marker), true, run.stderr);
  });

  it('refuses a helper scheme when GIT_PROTOCOL_FROM_USER is 0, before the helper starts', async () => {
    const env = { PATH: `${helperBin}${path.delimiter}${process.env.PATH}`, GIT_PROTOCOL_FROM_USER: '0' };
    const run = await runCli(['probe', 'recorded://example.invalid/repo.git'], env);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /transport 'recorded' not allowed/);
    assert.equal(existsSync(helperRan), false, 'the helper was started');
    // Allowed by configuration, the same URL reaches the helper.
    const allowed = await runCli(['probe', 'recorded://example.invalid/repo.git'], { ...env, ...configEnv({ 'protocol.recorded.allow': 'always' }) });
    assert.notEqual(allowed.code, 2, allowed.stderr);
    assert.equal(existsSync(helperRan), true, allowed.stderr);
  });

  it('honours protocol.file.allow=never for a local target: nothing is created', async () => {
    const target = path.join(dir.path, 'never-created.git');
    const run = await runCli(['sync', source.path, target], configEnv({ 'protocol.file.allow': 'never' }));
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /transport 'file' not allowed \(protocol\.file\.allow is never\)/);
    assert.equal(existsSync(target), false);
  });

  it('gives embedders allowedProtocols: exactly those, whatever the environment says', async () => {
    await assert.rejects(
      probe({ source: { url: source.path }, allowedProtocols: ['https'], env: { ...process.env, GIT_ALLOW_PROTOCOL: 'file' } }),
      (error: unknown) => error instanceof GitSyncError && error.code === 'PROTOCOL_NOT_ALLOWED' && error.side === 'source' && /not in allowedProtocols/.test(error.message),
    );
    const result = await probe({ source: { url: source.path }, allowedProtocols: ['file'], env: { ...process.env, GIT_ALLOW_PROTOCOL: 'https' } });
    assert.ok(result.refs.some((ref) => ref.name === 'refs/heads/main'));
  });
});
