/**
 * The benchmark runner: `npm run bench [-- [--quick] [--runs N] [--json] [scenario ...]]`.
 *
 * Scenarios are the modules under `bench/` and `bench/scenarios/` that export
 * `scenario: Scenario` (see lib/scenario.ts); other modules there (standalone scripts such as
 * pack-reader) are listed as skipped, never imported, since importing a script runs it. Each
 * scenario prints a compact report: tables of figures and ratios, then PASS/FAIL per goal.
 * The exit code is 1 when a goal fails or a scenario breaks, 2 on a usage error.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { defaultCacheDir } from './lib/cache.js';
import { renderReport, type ScenarioReport } from './lib/report.js';
import type { Scenario, ScenarioContext } from './lib/scenario.js';

const USAGE = `usage: npm run bench -- [--quick] [--runs N] [--json] [--list] [scenario ...]
  scenario   names to run (default: all); see --list
  --quick    smaller generated repositories, one run each
  --runs N   timed runs per measurement (default 3, or 1 with --quick)
  --json     also print every report as one JSON document on stdout, after the tables
  --list     list the scenarios and the modules skipped
cache: $GITSYNC_BENCH_CACHE or <tmpdir>/git-sync-bench (now ${defaultCacheDir()})`;

/** Scenarios run in this order; any others after them, by name. */
const PREFERRED_ORDER = ['plan', 'relay'];

interface Discovered {
  scenarios: Map<string, () => Promise<Scenario>>;
  /** Module name -> why it is not a scenario. */
  skipped: Map<string, string>;
}

/** Reads each compiled module's declarations (not the module: importing a script runs it). */
function discover(): Discovered {
  const benchDir = fileURLToPath(new URL('./', import.meta.url));
  const found: Discovered = { scenarios: new Map(), skipped: new Map() };
  for (const dir of [benchDir, join(benchDir, 'scenarios')]) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).sort()) {
      if (!file.endsWith('.js') || (dir === benchDir && file === 'run.js')) continue;
      const name = file.slice(0, -'.js'.length);
      const declarations = join(dir, `${name}.d.ts`);
      const exportsScenario = existsSync(declarations) && /export declare const scenario\s*:/.test(readFileSync(declarations, 'utf8'));
      if (!exportsScenario) {
        found.skipped.set(name, `${join(dir, file)} exports no \`scenario\``);
        continue;
      }
      const url = pathToFileURL(join(dir, file)).href;
      found.scenarios.set(name, async () => {
        const module = (await import(url)) as { scenario?: Scenario };
        if (typeof module.scenario?.run !== 'function') throw new Error(`${file}: \`scenario\` has no run()`);
        return module.scenario;
      });
    }
  }
  return found;
}

interface Args {
  names: string[];
  quick: boolean;
  runs: number | null;
  json: boolean;
  list: boolean;
}

function parseArgs(argv: readonly string[]): Args | string {
  const args: Args = { names: [], quick: false, runs: null, json: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') args.quick = true;
    else if (arg === '--json') args.json = true;
    else if (arg === '--list') args.list = true;
    else if (arg === '--help' || arg === '-h') return USAGE;
    else if (arg === '--runs' || arg.startsWith('--runs=')) {
      const value = Number(arg === '--runs' ? argv[++i] : arg.slice('--runs='.length));
      if (!Number.isInteger(value) || value < 1) return `--runs needs a positive integer\n${USAGE}`;
      args.runs = value;
    } else if (arg.startsWith('-')) return `unknown option ${arg}\n${USAGE}`;
    else args.names.push(arg);
  }
  return args;
}

function ordered(names: Iterable<string>): string[] {
  const rank = (name: string): number => {
    const at = PREFERRED_ORDER.indexOf(name);
    return at < 0 ? PREFERRED_ORDER.length : at;
  };
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function environment(context: ScenarioContext): string {
  let gitVersion = 'git: not found';
  try {
    gitVersion = execFileSync('git', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // Reported as missing; the scenarios will fail with git's own error.
  }
  const cpu = cpus();
  return `node ${process.version}, ${gitVersion}, ${cpu.length} CPU(s) ${cpu[0]?.model ?? ''}`.trim()
    + `\nmode ${context.quick ? 'quick' : 'full'}, ${context.runs} run(s) per measurement, cache ${context.cacheDir}`;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    (args === USAGE ? process.stdout : process.stderr).write(`${args}\n`);
    return args === USAGE ? 0 : 2;
  }
  const found = discover();
  if (args.list) {
    for (const name of ordered(found.scenarios.keys())) process.stdout.write(`${name}\n`);
    for (const [name, why] of found.skipped) process.stdout.write(`${name} (skipped: ${why})\n`);
    return 0;
  }
  const unknown = args.names.filter((name) => !found.scenarios.has(name) && !found.skipped.has(name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${ordered(found.scenarios.keys()).join(', ')}\n`);
    return 2;
  }
  const wanted = args.names.length > 0 ? args.names : [...found.scenarios.keys(), ...found.skipped.keys()];

  const started = performance.now();
  const log = (message: string): void => {
    process.stderr.write(`[bench +${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
  };
  const context: ScenarioContext = { quick: args.quick, runs: args.runs ?? (args.quick ? 1 : 3), cacheDir: defaultCacheDir(), log };
  process.stdout.write(`${environment(context)}\n\n`);

  const reports: ScenarioReport[] = [];
  const broken: string[] = [];
  for (const name of ordered(new Set(wanted))) {
    const skipped = found.skipped.get(name);
    if (skipped !== undefined) {
      process.stdout.write(`== ${name} ==\n  skipped: ${skipped}\n\n`);
      continue;
    }
    const scenarioStarted = performance.now();
    try {
      const scenario = await found.scenarios.get(name)!();
      log(`${name}: ${scenario.description}`);
      const report = await scenario.run(context);
      reports.push(report);
      process.stdout.write(`${renderReport(report)}  (${name} took ${((performance.now() - scenarioStarted) / 1000).toFixed(1)} s)\n\n`);
    } catch (error) {
      broken.push(name);
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.stdout.write(`== ${name} ==\n  ERROR (scenario did not complete): ${message.replaceAll('\n', '\n  ')}\n\n`);
    }
  }

  const goals = reports.flatMap((report) => report.goals);
  const failed = goals.filter((goal) => !goal.pass);
  process.stdout.write(
    `bench: ${reports.length} scenario(s) reported, ${goals.length - failed.length}/${goals.length} goals met`
    + `${failed.length > 0 ? `, FAILED: ${failed.map((goal) => goal.label).join('; ')}` : ''}`
    + `${broken.length > 0 ? `, BROKEN: ${broken.join(', ')}` : ''}; ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  if (args.json) process.stdout.write(`${JSON.stringify({ environment: environment(context), reports }, null, 2)}\n`);
  return failed.length > 0 || broken.length > 0 ? 1 : 0;
}

process.exitCode = await main();
