/**
 * How a worker runs a mirror: fleet-core's `runMirror` (runner.ts: the library's sync, replicate
 * or fanOut, credentials read from the worker's own environment, one pino line per run), its
 * result turned into the record the Redis state keeps (FleetState's RunRecord).
 */
import type { ConnectionPool } from '../../transport/connection-pool.js';
import { runMirror, type FleetLogger, type MirrorRunResult } from '../runner.js';
import type { RunRecord } from '../state.js';
import type { MirrorRunFunction } from './worker.js';

export function runRecordOf(result: MirrorRunResult): RunRecord {
  return {
    finishedAt: result.finishedAt,
    outcome: result.outcome,
    reason: result.reason,
    relayMode: result.targets.map((target) => target.relayMode ?? '-').join(','),
    bytesFromSource: result.bytesFromSource,
    bytesToTarget: result.bytesToTarget,
    refsChanged: result.refsChanged,
    errorCode: result.error?.code ?? null,
    errorMessage: result.error?.message ?? null,
  };
}

/**
 * A worker's runs: each through runMirror, sharing `connectionPool` (connections one run leaves
 * idle for the next; null: none kept). The caller closes the pool once the worker has stopped.
 */
export function mirrorRunner(options: { env?: NodeJS.ProcessEnv; logger?: FleetLogger | null; connectionPool?: ConnectionPool | null } = {}): MirrorRunFunction {
  return async (spec, { signal, trigger }) =>
    runRecordOf(await runMirror(spec, { trigger, signal, env: options.env, logger: options.logger ?? null, connectionPool: options.connectionPool ?? null }));
}
