/**
 * Child processes, measured from outside: wall time around the whole process (startup included,
 * for git and git-sync alike), and, through GNU time when the machine has it, the CPU time and
 * peak RSS the kernel accounted to the process and the children it waited for.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
const hasGnuTime = existsSync(GNU_TIME);
let nextTimeFile = 0;

export interface ChildResult {
  command: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMillis: number;
  /** User + system CPU (GNU time); null when /usr/bin/time is absent. */
  cpuMillis: number | null;
  /** ru_maxrss as GNU time reports it: the largest process of the tree; null without GNU time. */
  maxRssBytes: number | null;
  timedOut: boolean;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the process group after this long; the result then has `timedOut` set. */
  timeoutMillis?: number;
}

export class ChildFailedError extends Error {
  constructor(readonly result: ChildResult) {
    const how = result.timedOut ? `timed out after ${(result.wallMillis / 1000).toFixed(0)} s` : result.signal === null ? `exit code ${result.exitCode}` : `signal ${result.signal}`;
    super(`${result.command} failed (${how}):\n${(result.stderr.trim() || result.stdout.trim()).slice(-4000)}`);
    this.name = 'ChildFailedError';
  }
}

/** Runs a command to completion, resolving whatever its exit code. */
export async function runMeasured(command: string, args: readonly string[], options: RunOptions = {}): Promise<ChildResult> {
  const timeFile = hasGnuTime ? join(tmpdir(), `git-sync-bench-time-${process.pid}-${nextTimeFile++}`) : null;
  const [file, argv] = timeFile === null ? [command, [...args]] : [GNU_TIME, ['-o', timeFile, '-f', '%U %S %M', command, ...args]];
  const started = performance.now();
  let timedOut = false;
  const { exitCode, signal, stdout, stderr } = await new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    // With a timeout, its own process group, so the kill reaches the command behind GNU time too.
    const detached = options.timeoutMillis !== undefined;
    const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = options.timeoutMillis === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, options.timeoutMillis);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ exitCode: code, signal: sig, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  const wallMillis = performance.now() - started;
  let cpuMillis: number | null = null;
  let maxRssBytes: number | null = null;
  if (timeFile !== null) {
    // A failed command gets a "Command exited with non-zero status" line first; the figures are last.
    const lines = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n');
    await rm(timeFile, { force: true });
    const [user, system, rssKib] = (lines.at(-1) ?? '').split(' ').map(Number);
    if (user !== undefined && system !== undefined && rssKib !== undefined && [user, system, rssKib].every(Number.isFinite)) {
      cpuMillis = (user + system) * 1000;
      maxRssBytes = rssKib * 1024;
    }
  }
  return { command: [command, ...args].join(' '), exitCode, signal, stdout, stderr, wallMillis, cpuMillis, maxRssBytes, timedOut };
}

/** Runs a command and throws ChildFailedError unless it exits 0. */
export async function runChecked(command: string, args: readonly string[], options: RunOptions = {}): Promise<ChildResult> {
  const result = await runMeasured(command, args, options);
  if (result.exitCode !== 0) throw new ChildFailedError(result);
  return result;
}

/** A bash pipeline (`set -euo pipefail`), for the `rev-list | pack-objects > file` kind of step. */
export async function shell(script: string, options: RunOptions = {}): Promise<string> {
  const result = await runChecked('bash', ['-c', `set -euo pipefail\n${script}`], options);
  return result.stdout.trim();
}

/** `'...'` quoting for a path or argument inside a `shell` script. */
export function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}
