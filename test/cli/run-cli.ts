/** Runs the real `bin/git-sync` as a child process, the way users and scripts do. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../helpers/streams.js';

export const BIN = path.join(repoRoot, 'bin', 'git-sync');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Cleared for every run (a test sets what it needs): the machine's proxy would carry loopback
 * traffic elsewhere, and its askpass program would answer `git credential` behind a test's back.
 */
const HERMETIC: Record<string, string | undefined> = {
  HTTP_PROXY: undefined, http_proxy: undefined, HTTPS_PROXY: undefined, https_proxy: undefined,
  ALL_PROXY: undefined, all_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined,
  GIT_ASKPASS: '', SSH_ASKPASS: undefined, GITSYNC_HTTP_TRACE: undefined,
};

/** The environment of a CLI run: this process's, made hermetic, plus what the test sets. */
export function cliEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...HERMETIC, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', NO_COLOR: '1', ...env };
}

export function runCli(args: readonly string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A CLI run still going: its process (to kill) and its outcome. */
export interface RunningCli {
  readonly pid: number;
  kill(signal: NodeJS.Signals): void;
  readonly done: Promise<CliRun>;
  /** What it has written so far. */
  output(): { stdout: string; stderr: string };
}

/** Starts `bin/git-sync` as runCli does, without waiting for it. */
export function startCli(args: readonly string[], env: Record<string, string | undefined> = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr }));
  });
  return { pid: child.pid ?? -1, kill: (signal) => child.kill(signal), done, output: () => ({ stdout, stderr }) };
}
