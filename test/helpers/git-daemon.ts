/**
 * A loopback `git daemon` serving every repository under a root (upload-pack and receive-pack),
 * on a free port of 127.0.0.1.
 *
 *   const daemon = await startGitDaemon();
 *   const src = await createRepo({ parentDir: daemon.root, name: 'src' });
 *   await git(['ls-remote', daemon.url('src')]);   // git://127.0.0.1:<port>/src.git
 *   await daemon.close();
 */
import { spawn } from 'node:child_process';
import { isolatedGitEnv, makeTempDir } from './git.js';
import { freePort, waitForPort } from './net.js';
import { stopChild } from './processes.js';

export interface GitDaemonOptions {
  /** Served directory; default a fresh temp dir. */
  root?: string;
  /** `--informative-errors`: say "no such repository" instead of hanging up. */
  informativeErrors?: boolean;
}

export interface GitDaemon {
  readonly root: string;
  readonly port: number;
  /** `git://127.0.0.1:<port>/<name>.git`. */
  url(name: string): string;
  log(): string;
  close(): Promise<void>;
}

export async function startGitDaemon(options: GitDaemonOptions = {}): Promise<GitDaemon> {
  const root = options.root ?? makeTempDir('gitsync-daemon-').path;
  const port = await freePort();
  const args = [
    'daemon',
    '--reuseaddr',
    '--listen=127.0.0.1',
    `--port=${port}`,
    `--base-path=${root}`,
    '--export-all',
    '--enable=receive-pack',
    ...(options.informativeErrors ? ['--informative-errors'] : []),
    root,
  ];
  const child = spawn('git', args, { env: isolatedGitEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let exit: string | null = null;
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  child.on('error', (error) => (exit ??= `cannot start git daemon: ${error.message}`));
  child.on('exit', (code, signal) => (exit ??= `git daemon exited (${signal ?? code}) before accepting connections:\n${log}`));
  try {
    await waitForPort(port, { failed: () => exit });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    root,
    port,
    url: (name: string) => `git://127.0.0.1:${port}/${name}.git`,
    log: () => log,
    close: () => stopChild(child),
  };
}
