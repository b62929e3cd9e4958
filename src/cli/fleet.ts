/**
 * `git-sync fleet run` and `fleet status` (docs/fleet.md): read flags, call src/fleet/, render.
 * main.ts loads this module only when a fleet command runs, so a one-shot `sync` never loads
 * SQLite, pino or the YAML parser (the bundle keeps them in a chunk of their own:
 * scripts/bundle.mjs).
 */
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { UsageError } from '../errors.js';
import { loadManifest, type FleetManifest } from '../fleet/manifest.js';
import { createFleetLogger, runFleet, type FleetLogger, type FleetRunResult, type MirrorRunResult } from '../fleet/runner.js';
import { FleetState, type MirrorStatus } from '../fleet/state.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_REFUSED, errorLine, errorReport, exitCodeFor } from './exit-codes.js';
import { toJson } from './render.js';
import type { CliIo } from './main.js';

type Flags = Record<string, unknown>;

/** `12s`, `4m05s`, `3h12m`, `2d4h`: compact ages and durations for the tables. */
export function formatAge(millis: number): string {
  const seconds = Math.max(0, Math.round(millis / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

/** A run's duration: tenths of a second under 10 s (`0.4s`), else as an age. */
export function formatDuration(millis: number): string {
  return millis < 10_000 ? `${(Math.max(0, millis) / 1000).toFixed(1)}s` : formatAge(millis);
}

/** `2026-12-01T06:15:21Z`: UTC, to the second. */
function formatTime(date: Date | null): string {
  return date === null ? '-' : `${date.toISOString().slice(0, 19)}Z`;
}

/** Columns padded to their widest cell; the last one unpadded. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Exit code of a fleet run: 1 if any mirror failed (or was aborted), else 3 if any was blocked, else 0. */
export function fleetExitCode(result: FleetRunResult): number {
  if (result.counts.failed > 0 || result.counts.aborted > 0) return EXIT_FAILURE;
  if (result.counts.blocked > 0) return EXIT_REFUSED;
  return EXIT_OK;
}

function stderrStream(io: CliIo): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      io.stderr(chunk.toString());
      done();
    },
  });
}

/** A human line per run (`--log text`): what `fleet run` shows on a terminal. */
function textLogger(io: CliIo): FleetLogger {
  const line = (fields: object): void => {
    const run = fields as { mirror: string; outcome: string; reason: string | null; refsChanged: number; durationMs: number; errorMessage: string | null };
    const detail = run.outcome === 'failed' || run.outcome === 'aborted' ? `: ${run.errorMessage ?? run.reason}` : run.reason === null ? '' : ` (${run.reason})`;
    io.stderr(`fleet: ${run.mirror} ${run.outcome} refs=${run.refsChanged} ${formatDuration(run.durationMs)}${detail}\n`);
  };
  return { info: line, warn: line, error: line };
}

function loggerFor(flags: Flags, io: CliIo): FleetLogger | null {
  const format = (flags.log as string | undefined) ?? (io.terminal ? 'text' : 'json');
  if (format === 'none') return null;
  return format === 'text' ? textLogger(io) : createFleetLogger(stderrStream(io));
}

function mirrorJson(result: MirrorRunResult): object {
  return {
    ...result,
    startedAt: result.startedAt.toISOString(),
    finishedAt: result.finishedAt.toISOString(),
  };
}

function renderRun(result: FleetRunResult): string {
  const rows = [['MIRROR', 'OUTCOME', 'TARGETS', 'REFS', 'DURATION', 'REASON']];
  for (const mirror of result.mirrors) {
    rows.push([mirror.id, mirror.outcome, String(mirror.targets.length), String(mirror.refsChanged), formatDuration(mirror.durationMillis), mirror.reason ?? '-']);
  }
  const { counts } = result;
  return `${table(rows)}fleet: ${result.mirrors.length} mirror(s) success=${counts.success} noop=${counts.noop} blocked=${counts.blocked} failed=${counts.failed} aborted=${counts.aborted} in ${formatDuration(result.durationMillis)}\n`;
}

/** Prints a refusal before any mirror ran (a bad manifest, an unusable state) and picks its exit code. */
function refused(error: unknown, flags: Flags, io: CliIo, shape: object): number {
  const report = errorReport(error, []);
  if (flags.json) io.stdout(toJson({ ...shape, error: report }));
  io.stderr(`${errorLine(report)}\n`);
  return exitCodeFor(error);
}

/** `fleet run <manifest>`: every mirror once; the summary table or JSON on stdout. */
export async function fleetRun(file: string, flags: Flags, io: CliIo): Promise<number> {
  const empty = { mirrors: [], counts: null, state: null };
  let manifest: FleetManifest;
  let state: FleetState;
  try {
    manifest = await loadManifest(file);
    state = FleetState.open((flags.state as string | undefined) ?? manifest.state.path);
  } catch (error) {
    return refused(error, flags, io, empty);
  }
  // Ctrl-C or SIGTERM: running syncs are aborted (a target is left as its result says), waiting ones never start.
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await runFleet(manifest, {
      concurrency: flags.concurrency as number | undefined,
      perHostConcurrency: flags.perHost as number | undefined,
      signal: controller.signal,
      state,
      logger: loggerFor(flags, io),
      env: io.env,
    });
    if (flags.json) {
      io.stdout(
        toJson({
          mirrors: result.mirrors.map(mirrorJson),
          counts: result.counts,
          startedAt: result.startedAt.toISOString(),
          finishedAt: result.finishedAt.toISOString(),
          durationMillis: result.durationMillis,
          state: state.path,
          error: null,
        }),
      );
    } else io.stdout(renderRun(result));
    return fleetExitCode(result);
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    state.close();
  }
}

function statusJson(status: MirrorStatus, now: Date): object {
  const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());
  return {
    id: status.id,
    lastOutcome: status.lastOutcome,
    lastReason: status.lastReason,
    lastSuccess: iso(status.lastSuccess),
    ageSeconds: status.lastSuccess === null ? null : Math.round((now.getTime() - status.lastSuccess.getTime()) / 1000),
    consecutiveFailures: status.consecutiveFailures,
    failingSince: iso(status.failingSince),
    nextRun: iso(status.nextRun),
    runningSince: iso(status.runningSince),
    lastRun:
      status.lastRun === null
        ? null
        : { ...status.lastRun, startedAt: iso(status.lastRun.startedAt), finishedAt: iso(status.lastRun.finishedAt) },
  };
}

function renderStatus(statuses: readonly MirrorStatus[], now: Date): string {
  const rows = [['MIRROR', 'LAST SUCCESS', 'AGE', 'LAST OUTCOME', 'NEXT RUN', 'FAILING SINCE']];
  for (const status of statuses) {
    const outcome = status.runningSince !== null ? `running (${formatAge(now.getTime() - status.runningSince.getTime())})` : status.lastOutcome === null ? 'never run' : `${status.lastOutcome}${status.lastReason === null ? '' : ` (${status.lastReason})`}`;
    const failing = status.failingSince === null ? '-' : `${formatTime(status.failingSince)} (${status.consecutiveFailures} run(s))`;
    rows.push([
      status.id,
      formatTime(status.lastSuccess),
      status.lastSuccess === null ? '-' : formatAge(now.getTime() - status.lastSuccess.getTime()),
      outcome,
      formatTime(status.nextRun),
      failing,
    ]);
  }
  return table(rows);
}

/** A mirror the manifest lists that the state has never seen. */
function neverRun(id: string): MirrorStatus {
  return { id, lastRun: null, lastOutcome: null, lastReason: null, lastSuccess: null, consecutiveFailures: 0, failingSince: null, nextRun: null, runningSince: null };
}

/**
 * `fleet status [manifest]`: each mirror's standing. With a manifest, its mirrors in its order
 * (never run ones too); with only `--state`, every mirror the state knows.
 */
export async function fleetStatus(file: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  const empty = { state: null, mirrors: [] };
  let statePath: string;
  let manifest: FleetManifest | null = null;
  try {
    if (file === undefined && flags.state === undefined) throw new UsageError('name a manifest or a state database: git-sync fleet status mirrors.yaml, or --state PATH');
    if (file !== undefined) manifest = await loadManifest(file);
    statePath = (flags.state as string | undefined) ?? manifest!.state.path;
  } catch (error) {
    return refused(error, flags, io, empty);
  }
  let statuses: MirrorStatus[];
  if (manifest !== null && !existsSync(statePath)) {
    // Nothing has run yet: every mirror is "never run" (and no database is created by looking).
    statuses = manifest.mirrors.map((mirror) => neverRun(mirror.id));
  } else {
    let state: FleetState;
    try {
      state = FleetState.open(statePath, { mustExist: true });
    } catch (error) {
      return refused(error, flags, io, empty);
    }
    try {
      const known = new Map(state.mirrorStatuses().map((status) => [status.id, status]));
      statuses = manifest === null ? [...known.values()] : manifest.mirrors.map((mirror) => known.get(mirror.id) ?? neverRun(mirror.id));
    } finally {
      state.close();
    }
  }
  const now = new Date();
  if (flags.json) io.stdout(toJson({ state: statePath, mirrors: statuses.map((status) => statusJson(status, now)), error: null }));
  else io.stdout(statuses.length === 0 ? 'no mirrors known\n' : renderStatus(statuses, now));
  return EXIT_OK;
}
