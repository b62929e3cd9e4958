/**
 * Child process of the `noop` scenario: the library's `sync` called in-process, as the fleet
 * calls it, against a target that is already current. The first calls warm the process up
 * (module loading, the JIT); the rest are timed one by one. Prints one JSON line.
 *
 * With `pool`, every call is given one ConnectionPool, as the fleet gives its runs: a call takes
 * the connections the last one left instead of opening its own.
 *
 *   node dist/bench/child/noop-sync.js <source-url> <target-url> <runs> [pool]
 */
import { ConnectionPool, sync } from '../../src/index.js';

export interface NoopSyncOutput {
  /** Wall time of the first call: module code cold, as in a fresh CLI process. */
  firstMillis: number;
  /** Wall time of each timed call, in order. */
  walls: number[];
  relayMode: string;
  plans: number;
  /** Fetch requests the calls sent to the source (a no-op sends none). */
  sourceFetchRequests: number;
}

const WARM_UP = 3;

async function main(): Promise<void> {
  const [source, target, runsText, poolText] = process.argv.slice(2);
  const runs = Number(runsText);
  if (source === undefined || target === undefined || !Number.isInteger(runs) || runs < 1) {
    process.stderr.write('usage: noop-sync <source-url> <target-url> <runs> [pool]\n');
    process.exitCode = 2;
    return;
  }
  const walls: number[] = [];
  let firstMillis = 0;
  let relayMode = '';
  let plans = 0;
  let sourceFetchRequests = 0;
  const connectionPool = poolText === 'pool' ? new ConnectionPool() : null;
  for (let i = 0; i < WARM_UP + runs; i++) {
    const started = performance.now();
    const result = await sync({ source: { url: source }, target: { url: target }, tags: true, stats: true, connectionPool });
    const wall = performance.now() - started;
    if (i === 0) firstMillis = wall;
    if (i >= WARM_UP) walls.push(wall);
    relayMode = result.relayMode;
    plans = result.plans.length;
    sourceFetchRequests += result.stats?.phases['source fetch']?.requests ?? 0;
  }
  connectionPool?.close();
  const output: NoopSyncOutput = { firstMillis, walls, relayMode, plans, sourceFetchRequests };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

await main();
