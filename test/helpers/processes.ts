/**
 * Process checks for tests that must leave nothing running (Linux /proc): which processes have
 * a command line containing a string, and which children of this process are zombies.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

interface ProcessInfo {
  pid: number;
  ppid: number;
  state: string;
  commandLine: string;
}

/**
 * Read synchronously: a file of /proc is answered from kernel memory in microseconds, and an
 * async read is four thread-pool round trips (open, stat, read, close). The async version took
 * 40-75 ms per scan of ~70 processes on a quiet 2-core machine, and the fault matrix scans after
 * every run (test/faults/matrix.ts, leftovers): ~20% of a case's time.
 */
function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const commandLine = readFileSync(`/proc/${entry}/cmdline`).toString('utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(entry), state: fields[0]!, ppid: Number(fields[1]), commandLine });
    } catch {
      // The process went away while we looked.
    }
  }
  return out;
}

/** Live processes (zombies excluded) whose command line contains `needle` (or one of them), this one excepted. */
export async function processesMatching(needle: string | readonly string[]): Promise<{ pid: number; commandLine: string }[]> {
  const needles = typeof needle === 'string' ? [needle] : needle;
  return listProcesses().filter((p) => p.pid !== process.pid && p.state !== 'Z' && needles.some((n) => p.commandLine.includes(n)));
}

/** Children of this process that have exited but were never waited for. */
export async function zombieChildren(): Promise<number[]> {
  return listProcesses().filter((p) => p.ppid === process.pid && p.state === 'Z').map((p) => p.pid);
}

/** Polls until `check` returns an empty list or the time is up; resolves with the last list. */
export async function waitUntilEmpty<T>(check: () => Promise<T[]>, timeoutMillis = 3_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const left = await check();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Polls until `check` returns a non-empty list; rejects after the timeout. */
export async function waitUntilPresent<T>(check: () => Promise<T[]>, timeoutMillis = 5_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const found = await check();
    if (found.length > 0) return found;
    if (Date.now() > deadline) throw new Error('the expected process did not appear');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Sends SIGTERM to a server the tests started and resolves once it has exited (at once if it has). */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('close', () => resolve());
    child.kill('SIGTERM');
  });
}
