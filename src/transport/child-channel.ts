/**
 * A child process as a ByteChannel: stdin and stdout carry the protocol; stderr is kept (its
 * last few KiB) to explain a failure. The child leads its own process group, so `terminate()`
 * also stops what it started (the ssh behind an `sh -c` GIT_SSH_COMMAND, upload-pack's
 * pack-objects), and it is always waited for: no zombie outlives the connection. Because it
 * leads its own group, a Ctrl-C at the terminal does not reach it: every group still running
 * when this process exits, however it exits (an abort that could not unwind, an uncaught error,
 * `process.exit`), is sent SIGTERM then (docs/security.md, "git's own protocol rules").
 */
import { spawn } from 'node:child_process';
import type { GitSyncError } from '../errors.js';
import type { ByteChannel } from './stream-connection.js';

/** How much of the child's stderr is kept for error messages. */
export const STDERR_TAIL_BYTES = 4096;
/** How long after the child's exit its pipes may stay open before the exit alone counts. */
const PIPE_DRAIN_MILLIS = 1_000;
/** Time between SIGTERM and SIGKILL when a child does not stop. */
const KILL_GRACE_MILLIS = 1_000;

/** Process groups of children still running, ended at this process's exit. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/**
 * SIGTERM, not SIGKILL: a `git receive-pack` ended at exit removes its lock files, as it does
 * for any terminating signal. 'exit' handlers run synchronously, so there is no later SIGKILL.
 */
function endLiveGroups(): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // Gone already.
    }
  }
  liveGroups.clear();
}

function watchGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', endLiveGroups);
  }
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last STDERR_TAIL_BYTES of stderr, as one line: `fatal: ...; hint: ...`. */
  stderr: string;
}

export interface ChildChannelOptions {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Turns an unsuccessful exit into the error the user sees. */
  describeFailure(exit: ChildExit): GitSyncError;
  /** Turns a failure to start (ENOENT, EACCES) into the error the user sees. */
  describeSpawnError(error: NodeJS.ErrnoException): GitSyncError;
}

export interface ChildChannel extends ByteChannel {
  readonly pid: number | undefined;
}

/** Non-empty stderr lines joined into one line (error messages are one line). */
export function summarizeStderr(text: string): string {
  return text
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('; ');
}

export function spawnChannel(options: ChildChannelOptions): ChildChannel {
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  watchGroup(child.pid);
  let stderr = Buffer.alloc(0);
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = Buffer.concat([stderr, chunk]);
    if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
  });
  child.stderr.on('error', () => undefined);
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;

  const finished = new Promise<GitSyncError | null>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      // 'error' also reports a failed kill; only a child that never started ends here.
      if (child.pid !== undefined) return;
      exited = true;
      resolve(options.describeSpawnError(error));
    });
    const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
      exited = true;
      if (child.pid !== undefined) liveGroups.delete(child.pid);
      clearTimeout(killTimer);
      child.stderr.destroy();
      resolve(code === 0 ? null : options.describeFailure({ code, signal, stderr: summarizeStderr(stderr.toString('utf8')) }));
    };
    // 'close' comes once the process has exited and its pipes are drained. A grandchild that
    // inherited a pipe (an ssh ControlPersist master, a wrapper's background job) can hold it
    // open long after: then the exit status is enough.
    child.once('exit', (code, signal) => {
      setTimeout(() => settle(code, signal), PIPE_DRAIN_MILLIS).unref();
    });
    child.once('close', settle);
  });

  const signalGroup = (signal: NodeJS.Signals): void => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };

  return {
    input: child.stdout,
    output: child.stdin,
    finished,
    pid: child.pid,
    terminate() {
      if (exited || killTimer !== undefined) return;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MILLIS);
      killTimer.unref();
    },
  };
}

/** `code 128`, `signal SIGTERM`: how a child ended, for messages. */
export function describeExit(exit: ChildExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}
