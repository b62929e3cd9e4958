/**
 * A throwaway OpenSSH server on 127.0.0.1 for the SSH transport tests: its own host key, one
 * user key, an authorized_keys file and an sshd_config in a temp dir, sshd in the foreground
 * (`-D -e`) on a free port. Clients reach it through `sshCommand` (`ssh -F <config>`, for
 * GIT_SSH_COMMAND), which pins the host key and uses only the test key.
 *
 *   const sshd = await startSshServer();
 *   process.env.GIT_SSH_COMMAND = sshd.sshCommand;
 *   await probe({ source: { url: sshd.url('/srv/repo.git') } });
 *   await sshd.close();
 *
 * Starting fails loudly: a test that needs sshd guards itself with
 * `missingSystemTool(SSHD_BINARY, 'openssh-server')` (skips loudly off CI, never under CI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { makeTempDir } from './git.js';
import { freePort, waitForPort } from './net.js';
import { stopChild } from './processes.js';

export const SSHD_BINARY = '/usr/sbin/sshd';

export interface SshServerOptions {
  /** `AcceptEnv GIT_PROTOCOL` (default true); without it the server can only answer protocol v0. */
  acceptGitProtocol?: boolean;
}

export interface SshServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The account the key logs in as (the user running the tests). */
  readonly user: string;
  /** A Host alias in the client config, for scp-like URLs: `${alias}:/path`. */
  readonly alias: string;
  /** `ssh -F <client config>`: set it as GIT_SSH_COMMAND. */
  readonly sshCommand: string;
  /** Directory holding keys and configs. */
  readonly dir: string;
  /** `ssh://user@127.0.0.1:port<path>` for an absolute path. */
  url(path: string): string;
  /** What sshd wrote to stderr so far (for failing tests). */
  log(): string;
  close(): Promise<void>;
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr}`))));
  });
}

export async function startSshServer(options: SshServerOptions = {}): Promise<SshServer> {
  const dir = makeTempDir('gitsync-sshd-').path;
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(dir, 'user_ed25519');
  await Promise.all([
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gitsync-test-host', '-f', hostKey]),
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gitsync-test-user', '-f', userKey]),
  ]).catch((error: unknown) => {
    throw new Error(`cannot create ssh keys for the test sshd (is openssh-client installed?): ${String(error)}`);
  });
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${userKey}.pub`));

  // The sessions' home: sshd starts the command through the account's shell, and bash sources
  // ~/.bashrc for a command that came over ssh; a heavy one (CI's runs `pyenv init`, ~100
  // processes) made every session start take 0.8 s, which the fault matrix's idle timers count as
  // silence. A home of our own keeps the account's git settings (included) and none of its shell's.
  const home = join(dir, 'home');
  mkdirSync(home);
  await writeFile(join(home, '.gitconfig'), `[include]\n\tpath = ${join(homedir(), '.gitconfig')}\n`);

  const port = await freePort();
  const user = userInfo().username;
  const root = process.getuid?.() === 0;
  const serverConfig = join(dir, 'sshd_config');
  await writeFile(
    serverConfig,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      // CI runs as root; key authentication for root is what the tests need.
      `PermitRootLogin ${root ? 'yes' : 'no'}`,
      ...(options.acceptGitProtocol === false ? [] : ['AcceptEnv GIT_PROTOCOL']),
      `SetEnv HOME=${home}`,
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );

  const alias = 'gitsync-test-sshd';
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${(await readFile(`${hostKey}.pub`, 'utf8')).trim()}\n`);
  const clientConfig = join(dir, 'ssh_config');
  await writeFile(
    clientConfig,
    [
      `Host ${alias}`,
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      'Host *',
      `  User ${user}`,
      `  IdentityFile ${userKey}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  PasswordAuthentication no',
      '  KbdInteractiveAuthentication no',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  );

  // As root, sshd insists on its privilege-separation directory.
  if (root) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  let log = '';
  let exit: string | null = null;
  let child: ChildProcess;
  try {
    child = spawn(SSHD_BINARY, ['-D', '-e', '-f', serverConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(`cannot start ${SSHD_BINARY} (install openssh-server): ${String(error)}`);
  }
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  child.on('error', (error) => (exit ??= `cannot start ${SSHD_BINARY} (install openssh-server): ${error.message}`));
  child.on('exit', (code, signal) => (exit ??= `${SSHD_BINARY} exited (${signal ?? code}) before accepting connections:\n${log}`));
  try {
    await waitForPort(port, { failed: () => exit });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  return {
    host: '127.0.0.1',
    port,
    user,
    alias,
    sshCommand: `ssh -F ${clientConfig}`,
    dir,
    url: (path: string) => `ssh://${user}@127.0.0.1:${port}${path}`,
    log: () => log,
    close: () => stopChild(child),
  };
}
