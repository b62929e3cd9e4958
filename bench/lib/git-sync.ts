/**
 * git-sync as the benchmarks run it: the built CLI in its own process, with
 * `--json --stats --measure-memory`, so the peak RSS is git-sync's alone and not the runner's
 * (which also hosts the loopback server).
 */
import { fileURLToPath } from 'node:url';
import type { SyncResult } from '../../src/api/plan.js';
import type { Measurement } from '../../src/observe/memory.js';
import type { StatsReport } from '../../src/observe/stats.js';
import { runMeasured, type ChildResult } from './process.js';
import { isolatedGitEnv } from './repos.js';

/** The project root, from `dist/bench/lib/`. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GIT_SYNC_BIN = fileURLToPath(new URL('../../../bin/git-sync', import.meta.url));

export interface GitSyncRun {
  result: SyncResult & { error: { code: string; message: string } | null };
  stats: StatsReport;
  measurement: Measurement;
  child: ChildResult;
  /** `--measure-memory`'s peak (sampled RSS and the kernel's high-water mark). */
  peakRssBytes: number;
}

export class GitSyncFailedError extends Error {
  override readonly name = 'GitSyncFailedError';
}

/** Longest a single git-sync run may take before the scenario gives up on it. */
const TIMEOUT_MILLIS = 10 * 60 * 1000;

/** Runs `git-sync <command> --json --stats --measure-memory ...args`; throws unless it succeeds. */
export async function runGitSync(command: string, args: readonly string[]): Promise<GitSyncRun> {
  const child = await runMeasured(process.execPath, [GIT_SYNC_BIN, command, '--json', '--stats', '--measure-memory', ...args], {
    env: isolatedGitEnv(),
    timeoutMillis: TIMEOUT_MILLIS,
  });
  let parsed: GitSyncRun['result'] | null = null;
  try {
    parsed = JSON.parse(child.stdout) as GitSyncRun['result'];
  } catch {
    parsed = null;
  }
  if (child.exitCode !== 0 || parsed === null || parsed.error !== null) {
    const why = parsed?.error ? `${parsed.error.code}: ${parsed.error.message}` : child.stderr.trim() || child.stdout.slice(0, 2000);
    const how = child.timedOut ? `timed out after ${TIMEOUT_MILLIS / 1000} s` : `exit ${child.exitCode ?? child.signal}`;
    throw new GitSyncFailedError(`git-sync ${command} ${args.join(' ')} failed (${how}): ${why}`);
  }
  if (parsed.stats === null || parsed.measurement === null) {
    throw new GitSyncFailedError(`git-sync ${command} printed no stats or measurement despite --stats --measure-memory`);
  }
  return { result: parsed, stats: parsed.stats, measurement: parsed.measurement, child, peakRssBytes: parsed.measurement.peakRssBytes };
}
