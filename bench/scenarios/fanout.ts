/**
 * `fanout` scenario (issue 16): three empty targets from one source of over 100 MB (the `relay`
 * scenario's large repository), through one loopback `git http-backend`:
 * - one run, `git-sync bootstrap --tags SOURCE T1 T2 T3` (one fetch shared by the three);
 * - three `git-sync bootstrap` runs one after another;
 * - three `git-sync bootstrap` runs at once.
 * Wall, bytes the source sent, peak RSS; every target's refs must equal the source's.
 *
 * Goals: the shared run's wall <= 0.5 x the sequential runs'; the source sends the pack once
 * (<= 1.05 x one run's bytes); peak RSS under 120 MB.
 */
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../test/helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../../test/helpers/http-server.js';
import { generateProjectHistory, type ProjectShape } from '../generate/project-history.js';
import { cached } from '../lib/cache.js';
import { runGitSync } from '../lib/git-sync.js';
import { quote, shell } from '../lib/process.js';
import { median, mib, ratio, spread, type Goal, type ScenarioReport } from '../lib/report.js';
import { assertSameRefs, initBare } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const MAX_WALL_RATIO = 0.5;
const MAX_SOURCE_RATIO = 1.05;
const MAX_RSS = 120 * 1000 * 1000;
const TARGETS = 3;

// The `relay` scenario's shapes (the same cached repositories).
const FULL: ProjectShape = { files: 8000, meanLines: 180, commits: 500, filesPerCommit: 200, binaries: 8, binaryBytes: 4 << 20, binaryRewrites: 4, binaryRewriteShare: 0.4, branches: 3, tagEvery: 25, seed: 3 };
const QUICK: ProjectShape = { files: 2500, meanLines: 150, commits: 150, filesPerCommit: 60, binaries: 2, binaryBytes: 3 << 20, binaryRewrites: 2, binaryRewriteShare: 0.4, branches: 2, tagEvery: 25, seed: 4 };

interface Measured {
  wallMillis: number;
  peakRssBytes: number;
  sourceBytes: number;
}

function sourceBytes(server: GitHttpServer): number {
  return server.requests.filter((entry) => entry.kind.repo === 'source.git').reduce((sum, entry) => sum + entry.responseBytes, 0);
}

export const scenario: Scenario = {
  name: 'fanout',
  description: 'three empty targets from one >100 MB source: one shared run vs three sequential and three parallel runs',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const shape = context.quick ? QUICK : FULL;
    const label = context.quick ? 'quick' : 'large';
    const { dir, meta } = await cached(context.cacheDir, `relay-${label}-${Object.values(shape).join('_')}-v1`, (into) => generateProjectHistory(into, shape), context.log);
    const sourcePath = join(dir, meta.repo);
    const root = makeTempDir('git-sync-bench-fanout-');
    const server = await startGitHttpServer({ root: root.path });
    await symlink(sourcePath, join(root.path, 'source.git'));
    let next = 1;
    const targets = async (): Promise<{ names: string[]; paths: string[] }> => {
      const names: string[] = [];
      const paths: string[] = [];
      for (let i = 0; i < TARGETS; i++) {
        const name = `target-${next++}`;
        names.push(name);
        paths.push(await initBare(root.path, name));
      }
      return { names, paths };
    };
    const check = async (paths: string[], what: string): Promise<void> => {
      for (const path of paths) {
        await assertSameRefs(sourcePath, path, what);
        await rm(path, { recursive: true, force: true });
      }
    };
    const shared: Measured[] = [];
    const sequential: Measured[] = [];
    const parallel: Measured[] = [];
    const single: number[] = [];
    try {
      for (let r = 0; r < context.runs; r++) {
        context.log(`fanout: shared run ${r + 1}/${context.runs}`);
        {
          const { names, paths } = await targets();
          server.clearLog();
          const run = await runGitSync('bootstrap', ['--tags', server.url('source'), ...names.map((name) => server.url(`${name}.git`))]);
          await server.idle();
          shared.push({ wallMillis: run.child.wallMillis, peakRssBytes: run.peakRssBytes, sourceBytes: sourceBytes(server) });
          await check(paths, 'git-sync bootstrap, three targets');
        }
        context.log(`fanout: sequential runs ${r + 1}/${context.runs}`);
        {
          const { names, paths } = await targets();
          let wall = 0;
          let peak = 0;
          let bytes = 0;
          for (const name of names) {
            server.clearLog();
            const run = await runGitSync('bootstrap', ['--tags', server.url('source'), server.url(`${name}.git`)]);
            await server.idle();
            wall += run.child.wallMillis;
            peak = Math.max(peak, run.peakRssBytes);
            const one = sourceBytes(server);
            bytes += one;
            single.push(one);
          }
          sequential.push({ wallMillis: wall, peakRssBytes: peak, sourceBytes: bytes });
          await check(paths, 'git-sync bootstrap, one after another');
        }
        context.log(`fanout: parallel runs ${r + 1}/${context.runs}`);
        {
          const { names, paths } = await targets();
          server.clearLog();
          const started = performance.now();
          const runs = await Promise.all(names.map((name) => runGitSync('bootstrap', ['--tags', server.url('source'), server.url(`${name}.git`)])));
          const wall = performance.now() - started;
          await server.idle();
          parallel.push({ wallMillis: wall, peakRssBytes: Math.max(...runs.map((run) => run.peakRssBytes)), sourceBytes: sourceBytes(server) });
          await check(paths, 'git-sync bootstrap, at once');
        }
      }
    } finally {
      await server.close();
      await root.remove();
    }
    // The floor on this machine: the targets' own work, three index-packs of the pack at once
    // (every target indexes the whole pack, whoever feeds it), against one alone.
    const floorDir = makeTempDir('git-sync-bench-fanout-floor-');
    let oneIndex = 0;
    let threeIndex = 0;
    try {
      const pack = join(floorDir.path, 'all.pack');
      await shell(`git for-each-ref --format='%(objectname)' | git pack-objects --revs --stdout -q > ${quote(pack)}`, { cwd: sourcePath });
      const repos: string[] = [];
      for (let i = 0; i < TARGETS + 1; i++) repos.push(await initBare(floorDir.path, `floor-${i}`));
      let started = performance.now();
      await shell(`git -C ${quote(repos[0]!)} index-pack --stdin < ${quote(pack)} > /dev/null`);
      oneIndex = performance.now() - started;
      started = performance.now();
      await shell(`${repos.slice(1).map((repo) => `git -C ${quote(repo)} index-pack --stdin < ${quote(pack)} > /dev/null &`).join(' ')} wait`);
      threeIndex = performance.now() - started;
    } finally {
      await floorDir.remove();
    }
    const row = (method: string, values: Measured[]): string[] => [method, spread(values.map((v) => v.wallMillis)), mib(Math.max(...values.map((v) => v.peakRssBytes))), mib(median(values.map((v) => v.sourceBytes)))];
    const sharedWall = median(shared.map((v) => v.wallMillis));
    const sequentialWall = median(sequential.map((v) => v.wallMillis));
    const sharedBytes = median(shared.map((v) => v.sourceBytes));
    const oneRun = median(single);
    const peak = Math.max(...shared.map((v) => v.peakRssBytes));
    const goals: Goal[] = [
      { label: 'wall: shared run / sequential runs', expected: `<= ${MAX_WALL_RATIO}`, measured: ratio(sharedWall / sequentialWall), pass: sharedWall / sequentialWall <= MAX_WALL_RATIO },
      { label: "source bytes: shared run / one target's run", expected: `<= ${MAX_SOURCE_RATIO}`, measured: ratio(sharedBytes / oneRun), pass: sharedBytes / oneRun <= MAX_SOURCE_RATIO },
      { label: 'shared run peak RSS', expected: `< ${(MAX_RSS / 1e6).toFixed(0)} MB`, measured: mib(peak), pass: peak < MAX_RSS },
    ];
    return {
      scenario: 'fanout',
      tables: [
        {
          title: `${label}: ${mib(meta.packBytes)} pack, ${TARGETS} empty targets; ${context.runs} run(s) each, median (min-max)`,
          columns: ['method', 'wall', 'peak RSS (largest process)', 'source sent'],
          rows: [
            row(`git-sync bootstrap SOURCE T1 T2 T3 (one fetch)`, shared),
            row(`${TARGETS} x git-sync bootstrap, one after another`, sequential),
            row(`${TARGETS} x git-sync bootstrap, at once`, parallel),
          ],
        },
        {
          title: "the floor on this machine: the targets' own work (git index-pack of the whole pack), which every target does whoever feeds it",
          columns: ['one target', `${TARGETS} targets at once`, `${TARGETS} at once / sequential runs`, 'goal (0.5 x sequential)'],
          rows: [[`${(oneIndex / 1000).toFixed(2)} s`, `${(threeIndex / 1000).toFixed(2)} s`, ratio(threeIndex / sequentialWall), `${((0.5 * sequentialWall) / 1000).toFixed(2)} s`]],
        },
      ],
      goals,
      notes: [
        'wall: whole processes (the sequential runs summed, the parallel ones from the first start to the last end); source sent = response bytes the loopback server logged for the source repository, listings included',
        'every target: fresh and empty, its refs compared with the source\'s after the run',
        `a ratio of parallel to shared wall above 1 is the source packing the same history ${TARGETS} times at once on the same cores`,
      ],
    };
  },
};
