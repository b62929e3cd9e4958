/**
 * `noop` scenario (issue 18, item 3): `sync --tags` against a mirror that is already current,
 * the run a scheduler repeats most often, on a repository with thousands of refs (5,000 branches
 * and 5,000 tags, half of them annotated) and on a real-shaped one (a history repacked by git,
 * hundreds of annotated tags). What a no-op cannot go under is listing both sides; git's own
 * `git ls-remote` of source and target, run in parallel, is that floor.
 *
 * Measured side by side, through one loopback `git http-backend`:
 * - `node -e 0` (the start any Node.js CLI pays) and `git-sync --version` (start + module load);
 * - `git ls-remote SOURCE` and `git ls-remote TARGET` in parallel;
 * - the CLI, `git-sync sync --tags SOURCE TARGET`, text output, as cron runs it, with its compile
 *   cache (src/cli/launch.ts; written by one unmeasured run first) and with it turned off;
 * - the library's `sync` in-process (bench/child/noop-sync.ts), warmed up, as the fleet calls it;
 *   its first, cold call is shown too.
 *
 * Then the listings, the CLI and in-process again through a latency proxy that adds a 20 ms
 * round trip (loopback has none), where the round trips each side takes show.
 *
 * Goals: in-process <= 1.5 x the parallel ls-remotes; the CLI <= node's start + that; no pack
 * fetched.
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeltifiedHistory } from '../../test/helpers/deltified-history.js';
import { makeTempDir } from '../../test/helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../../test/helpers/http-server.js';
import type { MinimalListingOutput } from '../child/minimal-listing.js';
import type { NoopSyncOutput } from '../child/noop-sync.js';
import { cached } from '../lib/cache.js';
import { FastImport } from '../lib/fast-import.js';
import { GIT_SYNC_BIN } from '../lib/git-sync.js';
import { startLatencyProxy, type LatencyProxy } from '../lib/latency-proxy.js';
import { runChecked } from '../lib/process.js';
import { count, median, ratio, spread, type Goal, type ScenarioReport, type Table } from '../lib/report.js';
import { forEachRef, git, initBare, isolatedGitEnv } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const NOOP_CHILD = fileURLToPath(new URL('../child/noop-sync.js', import.meta.url));
const MINIMAL_CHILD = fileURLToPath(new URL('../child/minimal-listing.js', import.meta.url));
const MAX_IN_PROCESS_RATIO = 1.5;
/** The round trip the latency proxy adds: a host in the same region. */
const ROUND_TRIP_MILLIS = 20;

interface Shape {
  label: string;
  key: string;
  build(dir: string): Promise<{ repo: string; refs: number }>;
}

/** `commits` on main, `branches` branches and `tags` tags (every other one annotated) along it. */
async function manyRefs(dir: string, commits: number, branches: number, tags: number): Promise<{ repo: string; refs: number }> {
  const path = await initBare(dir, 'source');
  const importer = FastImport.start(path);
  for (let i = 1; i <= commits; i++) {
    await importer.commit({ ref: 'refs/heads/main', mark: i, date: 1_600_000_000 + i, message: `Commit ${i}\n`, files: [[`file-${i % 50}.txt`, `version ${i}\n`]] });
  }
  for (let b = 0; b < branches; b++) await importer.reset(`refs/heads/topic/${String(b).padStart(5, '0')}`, `:${1 + (b % commits)}`);
  for (let t = 0; t < tags; t++) {
    const at = `:${1 + ((t * 7) % commits)}`;
    const name = `v${Math.floor(t / 100)}.${t % 100}.0`;
    if (t % 2 === 0) await importer.annotatedTag(name, at, 1_700_000_000 + t, `Release ${name}\n`);
    else await importer.reset(`refs/tags/${name}`, at);
  }
  await importer.finish();
  await git(['repack', '-a', '-d', '-q'], { cwd: path });
  await git(['pack-refs', '--all'], { cwd: path });
  return { repo: 'source.git', refs: (await forEachRef(path)).size };
}

const SHAPES: readonly Shape[] = [
  { label: '5,000 branches + 5,000 tags', key: 'noop-many-refs-500_5000_5000-v1', build: (dir) => manyRefs(dir, 500, 5000, 5000) },
  {
    label: 'real-shaped (3,000 commits repacked by git, 300 annotated tags)',
    key: 'noop-deltified-3000_10-v1',
    build: async (dir) => {
      await createDeltifiedHistory(join(dir, 'source.git'), { commits: 3000, tagEvery: 10 });
      await git(['pack-refs', '--all'], { cwd: join(dir, 'source.git') });
      return { repo: 'source.git', refs: (await forEachRef(join(dir, 'source.git'))).size };
    },
  },
];

interface Row {
  label: string;
  refs: number;
  node: number[];
  version: number[];
  lsRemote: number[];
  cli: number[];
  /** The CLI with GITSYNC_COMPILE_CACHE=off: every run compiles the CLI's code again. */
  cliNoCache: number[];
  /** bench/child/minimal-listing.ts, cold: the least a Node.js program does to find the mirror current. */
  minimal: number[];
  inProcess: number[];
  first: number[];
  fetches: number;
  relayModes: Set<string>;
  /** The same, through the latency proxy. */
  far: { lsRemote: number[]; cli: number[]; inProcess: number[]; pooled: number[] };
}

export const scenario: Scenario = {
  name: 'noop',
  description: 'sync --tags against a current mirror with thousands of refs: CLI and in-process vs two parallel git ls-remote',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const runs = Math.max(context.runs, 7);
    const rows: Row[] = [];
    const env = isolatedGitEnv();
    for (const shape of SHAPES) {
      const { dir, meta } = await cached(context.cacheDir, shape.key, (into) => shape.build(into), context.log);
      const root = makeTempDir('git-sync-bench-noop-');
      let server: GitHttpServer | null = null;
      try {
        await cp(join(dir, meta.repo), join(root.path, 'source.git'), { recursive: true });
        await cp(join(dir, meta.repo), join(root.path, 'mirror.git'), { recursive: true });
        // As GitHub and GitLab do; a no-op fetches nothing either way.
        server = await startGitHttpServer({ root: root.path, config: { 'uploadpack.allowFilter': 'true' } });
        const source = server.url('source');
        const target = server.url('mirror');
        const row: Row = { label: shape.label, refs: meta.refs, node: [], version: [], lsRemote: [], cli: [], cliNoCache: [], minimal: [], inProcess: [], first: [], fetches: 0, relayModes: new Set(), far: { lsRemote: [], cli: [], inProcess: [], pooled: [] } };
        // Writes the compile cache (in the isolated home), as a mirror's first run would.
        await runChecked(process.execPath, [GIT_SYNC_BIN, 'sync', '--tags', source, target], { env });
        for (let r = 0; r < runs; r++) {
          context.log(`noop ${shape.label}: run ${r + 1}/${runs}`);
          row.node.push((await runChecked(process.execPath, ['-e', '0'])).wallMillis);
          row.version.push((await runChecked(process.execPath, [GIT_SYNC_BIN, '--version'])).wallMillis);
          const started = performance.now();
          await Promise.all([runChecked('git', ['ls-remote', source], { env }), runChecked('git', ['ls-remote', target], { env })]);
          row.lsRemote.push(performance.now() - started);
          const cli = await runChecked(process.execPath, [GIT_SYNC_BIN, 'sync', '--tags', source, target], { env });
          if (!cli.stdout.includes('relay=none')) throw new Error(`git-sync sync on a current mirror did not report relay=none:\n${cli.stdout.slice(-500)}`);
          row.cli.push(cli.wallMillis);
          row.cliNoCache.push((await runChecked(process.execPath, [GIT_SYNC_BIN, 'sync', '--tags', source, target], { env: { ...env, GITSYNC_COMPILE_CACHE: 'off' } })).wallMillis);
          const minimal = await runChecked(process.execPath, [MINIMAL_CHILD, source, target], { env });
          const listed = JSON.parse(minimal.stdout) as MinimalListingOutput;
          if (listed.differing !== 0 || listed.sourceRefs === 0) throw new Error(`the minimal client did not find the mirror current: ${minimal.stdout}`);
          row.minimal.push(minimal.wallMillis);
        }
        const child = await runChecked(process.execPath, [NOOP_CHILD, source, target, String(runs)], { env });
        const output = JSON.parse(child.stdout) as NoopSyncOutput;
        row.inProcess.push(...output.walls);
        row.first.push(output.firstMillis);
        row.fetches += output.sourceFetchRequests;
        row.relayModes.add(output.relayMode);
        // The same runs where a round trip costs what it does to a host in the same region.
        let proxy: LatencyProxy | null = null;
        try {
          proxy = await startLatencyProxy(server.port, ROUND_TRIP_MILLIS);
          const via = (url: string): string => url.replace(`:${server!.port}/`, `:${proxy!.port}/`);
          const [farSource, farTarget] = [via(source), via(target)];
          for (let r = 0; r < runs; r++) {
            context.log(`noop ${shape.label}, ${ROUND_TRIP_MILLIS} ms round trip: run ${r + 1}/${runs}`);
            const started = performance.now();
            await Promise.all([runChecked('git', ['ls-remote', farSource], { env }), runChecked('git', ['ls-remote', farTarget], { env })]);
            row.far.lsRemote.push(performance.now() - started);
            const cli = await runChecked(process.execPath, [GIT_SYNC_BIN, 'sync', '--tags', farSource, farTarget], { env });
            if (!cli.stdout.includes('relay=none')) throw new Error(`git-sync sync on a current mirror did not report relay=none:\n${cli.stdout.slice(-500)}`);
            row.far.cli.push(cli.wallMillis);
          }
          const farChild = JSON.parse((await runChecked(process.execPath, [NOOP_CHILD, farSource, farTarget, String(runs)], { env })).stdout) as NoopSyncOutput;
          row.far.inProcess.push(...farChild.walls);
          row.fetches += farChild.sourceFetchRequests;
          row.relayModes.add(farChild.relayMode);
          // As the fleet calls it: every call given one connection pool (docs/architecture.md,
          // "Connections kept across runs"), so a call opens no connection.
          const pooled = JSON.parse((await runChecked(process.execPath, [NOOP_CHILD, farSource, farTarget, String(runs), 'pool'], { env })).stdout) as NoopSyncOutput;
          row.far.pooled.push(...pooled.walls);
          row.fetches += pooled.sourceFetchRequests;
          row.relayModes.add(pooled.relayMode);
        } finally {
          await proxy?.close();
        }
        const [sourceRefs, targetRefs] = await Promise.all([forEachRef(join(root.path, 'source.git')), forEachRef(join(root.path, 'mirror.git'))]);
        if (JSON.stringify([...sourceRefs]) !== JSON.stringify([...targetRefs])) throw new Error('the mirror changed during a no-op');
        rows.push(row);
      } finally {
        await server?.close();
        await root.remove();
      }
    }

    const goals: Goal[] = [];
    const table: Table = {
      title: `median (min-max) of ${runs} runs each; in-process: ${runs} calls after 3 warm-up calls in one process`,
      columns: ['repository', 'refs', 'node -e 0', 'git-sync --version', 'ls-remote x2 parallel', 'CLI sync --tags', 'CLI, compile cache off', 'minimal node client', 'in-process sync', 'in-process first call'],
      rows: rows.map((row) => [row.label, count(row.refs), spread(row.node), spread(row.version), spread(row.lsRemote), spread(row.cli), spread(row.cliNoCache), spread(row.minimal), spread(row.inProcess), spread(row.first)]),
    };
    const floors: Table = {
      title: 'where the CLI goes past node start + the listings (medians)',
      columns: [
        'repository',
        'node start + ls-remote x2',
        'CLI',
        'CLI - (node + ls-remote)',
        'of which module load (--version - node)',
        'CLI - in-process - --version (cold code)',
        'floor (--version + ls-remote x2)',
        'CLI / floor',
        'minimal node client / (node + ls-remote x2)',
        'CLI - minimal node client',
        'compile cache saves',
      ],
      rows: rows.map((row) => {
        const [node, version, ls, cli, inProcess, minimal] = [median(row.node), median(row.version), median(row.lsRemote), median(row.cli), median(row.inProcess), median(row.minimal)];
        const ms = (value: number): string => `${value.toFixed(0)} ms`;
        return [row.label, ms(node + ls), ms(cli), ms(cli - node - ls), ms(version - node), ms(cli - inProcess - version), ms(version + ls), ratio(cli / (version + ls)), ratio(minimal / (node + ls)), ms(cli - minimal), ms(median(row.cliNoCache) - cli)];
      }),
    };
    const far: Table = {
      title: `the same through a latency proxy adding a ${ROUND_TRIP_MILLIS} ms round trip (bench/lib/latency-proxy.ts; median of ${runs})`,
      columns: [
        'repository',
        'ls-remote x2 parallel',
        'CLI sync --tags',
        'in-process sync',
        'in-process, shared pool',
        'in-process / ls-remote x2',
        'shared pool / ls-remote x2',
        'CLI - ls-remote x2',
        'the same on loopback',
      ],
      rows: rows.map((row) => {
        const [ls, cli, inProcess, pooled] = [median(row.far.lsRemote), median(row.far.cli), median(row.far.inProcess), median(row.far.pooled)];
        return [
          row.label,
          spread(row.far.lsRemote),
          spread(row.far.cli),
          spread(row.far.inProcess),
          spread(row.far.pooled),
          ratio(inProcess / ls),
          ratio(pooled / ls),
          `${(cli - ls).toFixed(0)} ms`,
          `${(median(row.cli) - median(row.lsRemote)).toFixed(0)} ms`,
        ];
      }),
    };
    for (const row of rows) {
      const ls = median(row.lsRemote);
      const inProcess = median(row.inProcess);
      const cli = median(row.cli);
      const node = median(row.node);
      goals.push({ label: `${row.label}: in-process / ls-remote x2`, expected: `<= ${MAX_IN_PROCESS_RATIO}`, measured: ratio(inProcess / ls), pass: inProcess / ls <= MAX_IN_PROCESS_RATIO });
      goals.push({ label: `${row.label}: CLI / (node start + ls-remote x2)`, expected: '<= 1.00', measured: ratio(cli / (node + ls)), pass: cli <= node + ls });
      goals.push({ label: `${row.label}: packs fetched`, expected: '0', measured: String(row.fetches), pass: row.fetches === 0 && row.relayModes.size === 1 && row.relayModes.has('none') });
    }
    return {
      scenario: 'noop',
      tables: [table, floors, far],
      goals,
      notes: [
        'every wall is a whole process (node, git-sync, both git ls-remote together) except in-process, which is one sync() call in a warm process',
        'the target is a copy of the source, so every run is a no-op (relay=none); it is compared with the source after the runs',
        'cold code = what the CLI spends beyond the module load and a warm call: the same work run by V8 for the first time (interpreted, then compiled as it gets hot)',
        'minimal node client = bench/child/minimal-listing.ts, one cold process per run: node:http only, both listings sent as git-sync sends them, every ref line read into a map and compared, one JSON line out; what any Node.js program pays to find a mirror current, without a CLI framework, git\'s protocol policy, a plan or a report',
        'floor = a process that only starts and loads git-sync (--version), then waits for the same two listings git ls-remote gets: what any CLI run of this program costs before it reads a single ref; the goal (node + ls-remote x2) lies below it by the module load',
        'shared pool: the in-process calls given one ConnectionPool, as the fleet gives its runs; each takes the connections the last one left (the proxy charges a new connection one more round trip, for the handshake)',
        `round trips: git ls-remote of a v2 HTTP source connects, asks info/refs, then ls-refs (about 2.5 round trips); git-sync sends its ls-refs with info/refs (about 1.5, docs/architecture.md, "One round trip for a listing"); a receive-pack listing is one request either way`,
      ],
    };
  },
};
