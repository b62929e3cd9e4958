/**
 * Child process of the `noop` scenario: the library's `sync` called in-process, as the fleet
 * calls it, against a target that is already current. The first calls warm the process up
 * (module loading, the JIT); the rest are timed one by one. Prints one JSON line.
 *
 *   node dist/bench/child/noop-sync.js <source-url> <target-url> <runs>
 */
import { sync } from '../../src/index.js';

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
  const [source, target, runsText] = process.argv.slice(2);
  const runs = Number(runsText);
  if (source === undefined || target === undefined || !Number.isInteger(runs) || runs < 1) {
    process.stderr.write('usage: noop-sync <source-url> <target-url> <runs>\n');
    process.exitCode = 2;
    return;
  }
  const walls: number[] = [];
  let firstMillis = 0;
  let relayMode = '';
  let plans = 0;
  let sourceFetchRequests = 0;
  for (let i = 0; i < WARM_UP + runs; i++) {
    const started = performance.now();
    const result = await sync({ source: { url: source }, target: { url: target }, tags: true, stats: true });
    const wall = performance.now() - started;
    if (i === 0) firstMillis = wall;
    if (i >= WARM_UP) walls.push(wall);
    relayMode = result.relayMode;
    plans = result.plans.length;
    sourceFetchRequests += result.stats?.phases['source fetch']?.requests ?? 0;
  }
  const output: NoopSyncOutput = { firstMillis, walls, relayMode, plans, sourceFetchRequests };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

await main();
