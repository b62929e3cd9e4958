import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probe } from '../../src/index.js';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { SshTransport, shellQuote, sshInvocation, type SshEndpoint } from '../../src/transport/ssh.js';
import { createRepo } from '../helpers/fixtures.js';
import { git, makeTempDir, type TempDir } from '../helpers/git.js';
import { processesMatching, waitUntilEmpty, zombieChildren } from '../helpers/processes.js';
import { SSHD_BINARY, startSshServer, type SshServer } from '../helpers/sshd.js';
import { missingSystemTool } from '../helpers/system.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { assertRelays, itProbesAndFetches } from './conformance.js';

function sshEndpoint(url: string): SshEndpoint {
  const endpoint = parseEndpoint(url);
  assert.ok(endpoint.kind === 'ssh');
  return endpoint;
}

describe('ssh command line', () => {
  const env = { PATH: '/usr/bin' };

  it('quotes the remote path for the shell as git does', () => {
    assert.equal(shellQuote('/srv/repo.git'), `'/srv/repo.git'`);
    assert.equal(shellQuote(`/tmp/a b'c/repo.git`), `'/tmp/a b'\\''c/repo.git'`);
    assert.equal(shellQuote('x!y'), `'x'\\!'y'`);
  });

  it('runs ssh in batch mode with -- before the destination, asking for v2 through SendEnv', () => {
    const v2 = sshInvocation(sshEndpoint(`ssh://git@example.com:2222/srv/a b'c.git`), 'git-upload-pack', 'v2', env);
    assert.equal(v2.command, 'ssh');
    assert.deepEqual(v2.args, [
      '-o', 'BatchMode=yes', '-o', 'SendEnv=GIT_PROTOCOL', '-p', '2222', '--', 'git@example.com', `git-upload-pack '/srv/a b'\\''c.git'`,
    ]);
    assert.equal(v2.env['GIT_PROTOCOL'], 'version=2');
    const v1 = sshInvocation(sshEndpoint('example.com:repo.git'), 'git-receive-pack', 'v1', { ...env, GIT_PROTOCOL: 'version=2' });
    assert.deepEqual(v1.args, ['-o', 'BatchMode=yes', '--', 'example.com', `git-receive-pack 'repo.git'`]);
    assert.equal(v1.env['GIT_PROTOCOL'], undefined);
  });

  it('runs GIT_SSH_COMMAND through the shell with the arguments appended, GIT_SSH directly', () => {
    const endpoint = sshEndpoint('ssh://example.com/repo.git');
    const viaCommand = sshInvocation(endpoint, 'git-upload-pack', 'v1', { ...env, GIT_SSH_COMMAND: 'ssh -F "/x y/config"', GIT_SSH: '/usr/bin/other' });
    assert.equal(viaCommand.command, 'sh');
    assert.deepEqual(viaCommand.args.slice(0, 3), ['-c', 'ssh -F "/x y/config" "$@"', 'ssh -F "/x y/config"']);
    assert.deepEqual(viaCommand.args.slice(3), ['-o', 'BatchMode=yes', '--', 'example.com', `git-upload-pack '/repo.git'`]);
    const viaProgram = sshInvocation(endpoint, 'git-upload-pack', 'v1', { ...env, GIT_SSH: '/opt/bin/my-ssh' });
    assert.equal(viaProgram.command, '/opt/bin/my-ssh');
    const plink = sshInvocation(sshEndpoint('ssh://example.com:22/repo.git'), 'git-upload-pack', 'v2', { ...env, GIT_SSH: 'C:/tools/plink.exe' });
    assert.deepEqual(plink.args, ['-batch', '-P', '22', 'example.com', `git-upload-pack '/repo.git'`]);
    assert.throws(() => sshInvocation(sshEndpoint('ssh://example.com:22/repo.git'), 'git-upload-pack', 'v1', { ...env, GIT_SSH_VARIANT: 'simple' }), { code: 'USAGE' });
  });
});

describe('ssh transport against a loopback OpenSSH server', { skip: missingSystemTool(SSHD_BINARY, 'openssh-server') }, () => {
  let sshd: SshServer;
  let dir: TempDir;
  let repoPath: string;
  const savedEnv = { GIT_SSH_COMMAND: process.env['GIT_SSH_COMMAND'], GIT_SSH: process.env['GIT_SSH'] };

  before(async () => {
    dir = makeTempDir('gitsync-ssh-');
    // Each assigned as soon as it is up, so `after` stops it even when the other fails.
    await Promise.all([startSshServer().then((server) => (sshd = server)), sampleRepo(dir.path).then((sample) => (repoPath = sample.repo.path))]);
    process.env['GIT_SSH_COMMAND'] = sshd.sshCommand;
    delete process.env['GIT_SSH'];
  });
  after(async () => {
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await sshd?.close();
    await dir?.remove();
    assert.deepEqual(await zombieChildren(), []);
  });

  itProbesAndFetches('ssh:// URL with user and port', () => ({ url: sshd.url(repoPath), repoPath }));
  itProbesAndFetches('scp-like host:path through an ssh config alias', () => ({ url: `${sshd.alias}:${repoPath}`, repoPath }), ['v2']);

  it('relays a pack from ssh into receive-pack over ssh', async () => {
    const target = join(dir.path, 'target.git');
    await git(['init', '--quiet', '--bare', target]);
    await assertRelays(sshd.url(repoPath), repoPath, `${sshd.alias}:${target}`, target);
  });

  it('auto falls back to v1 when sshd does not accept GIT_PROTOCOL', async () => {
    const old = await startSshServer({ acceptGitProtocol: false });
    const saved = process.env['GIT_SSH_COMMAND'];
    process.env['GIT_SSH_COMMAND'] = old.sshCommand;
    try {
      const result = await probe({ source: { url: old.url(repoPath) } });
      assert.equal(result.source.protocol, 'v1');
      assert.equal(result.source.head, 'refs/heads/main');
      await assert.rejects(probe({ source: { url: old.url(repoPath) }, protocol: 'v2' }), { code: 'UNSUPPORTED' });
    } finally {
      process.env['GIT_SSH_COMMAND'] = saved;
      await old.close();
    }
  });

  it('honours GIT_SSH as a program run without a shell', async () => {
    const wrapper = join(dir.path, 'my-ssh');
    await writeFile(wrapper, `#!/bin/sh\nexec ssh -F '${join(sshd.dir, 'ssh_config')}' "$@"\n`);
    await chmod(wrapper, 0o755);
    delete process.env['GIT_SSH_COMMAND'];
    process.env['GIT_SSH'] = wrapper;
    try {
      const result = await probe({ source: { url: sshd.url(repoPath) } });
      assert.equal(result.source.protocol, 'v2');
    } finally {
      delete process.env['GIT_SSH'];
      process.env['GIT_SSH_COMMAND'] = sshd.sshCommand;
    }
  });

  it('serves a path with spaces, quotes and shell syntax without the remote shell interpreting it', async () => {
    const parent = join(dir.path, `a b'c "d" $(touch PWNED); touch PWNED2 !x`);
    await mkdir(parent);
    const repo = await createRepo({ parentDir: parent, name: 'weird' });
    const main = await repo.commit('main');
    const result = await probe({ source: { url: sshd.url(repo.path) }, stats: true });
    assert.deepEqual(result.refs.map((ref) => [ref.name, ref.hash]), [['refs/heads/main', main]]);
    for (const marker of ['PWNED', 'PWNED2']) {
      assert.equal(existsSync(join(dir.path, marker)), false);
      assert.equal(existsSync(join(parent, marker)), false);
    }
  });

  it('refuses option-like hosts and users before running ssh', async () => {
    for (const url of ['ssh://-oProxyCommand=x/repo', '-oProxyCommand=x:repo', `ssh://-oProxyCommand=x@127.0.0.1:${sshd.port}${repoPath}`]) {
      await assert.rejects(probe({ source: { url } }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'USAGE', url);
        assert.match(error.message, /begins with "-"/);
        return true;
      });
    }
  });

  it("includes ssh's own message when it fails", async () => {
    await assert.rejects(probe({ source: { url: `ssh://no-such-user@127.0.0.1:${sshd.port}${repoPath}` } }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'NETWORK');
      assert.match(error.message, /Permission denied \(publickey\)/);
      return true;
    });
    await assert.rejects(probe({ source: { url: sshd.url(join(dir.path, 'missing.git')) } }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'REMOTE_ERROR');
      assert.match(error.message, /does not appear to be a git repository/);
      return true;
    });
  });

  it('abort kills ssh, and the remote upload-pack goes away with the session', async (t) => {
    const transport = new SshTransport(sshEndpoint(sshd.url(repoPath)));
    const controller = new AbortController();
    const connection = await transport.connect('git-upload-pack', { protocol: 'v1', phase: 'source info-refs', signal: controller.signal });
    t.after(() => connection.close());
    for (;;) {
      const packet = await connection.advertisement.read();
      if (packet === null || packet.type === 'flush') break;
    }
    // The local ssh (its command line carries the path) and the remote git-upload-pack.
    assert.ok((await processesMatching(repoPath)).length >= 2);
    const pending = connection.advertisement.read();
    controller.abort();
    await assert.rejects(pending, { code: 'ABORTED' });
    await connection.close();
    assert.deepEqual(await waitUntilEmpty(() => processesMatching(repoPath)), []);
    assert.deepEqual(await zombieChildren(), []);
  });
});
