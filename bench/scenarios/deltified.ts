/**
 * `deltified` scenario (issue 21's figures): a history packed the way git packs real projects
 * (test/helpers/deltified-history.ts: long, similar commit messages and tag notes, merges,
 * repacked with `git repack -adf --window=250 --depth=50`, so most commits and tags are deltas
 * and bases lie megabytes back in the stream), served by the loopback `git http-backend`.
 *
 * (a) `git-sync plan` against a target 3,000 and 30,000 commits behind (the target holds only
 *     `main~N`), source with `uploadpack.allowFilter` and without: wall, bytes from the source,
 *     peak RSS; beside them, what the commits pack of that range holds (commit deltas, how far
 *     back the farthest base lies), as `git pack-objects` makes it for upload-pack.
 * (b) `git-sync sync --tags` of a target 3,000 behind (plan, then the incremental relay).
 * (c) `git-sync sync --tags --target-max-pack-bytes` into an empty target: a batched bootstrap
 *     of the whole history, the limit about a tenth of the pack.
 *
 * Goal: peak RSS under 100 MiB for every run; every plan a fast-forward of main, every sync's
 * target equal to the source.
 */
import { join } from 'node:path';
import { commitDeltaReach, createDeltifiedHistory, type DeltaReach, type DeltifiedHistory } from '../../test/helpers/deltified-history.js';
import { makeTempDir, runGit } from '../../test/helpers/git.js';
import { startAll } from '../../test/helpers/system.js';
import { startGitHttpServer } from '../../test/helpers/http-server.js';
import { cached } from '../lib/cache.js';
import { runGitSync, type GitSyncRun } from '../lib/git-sync.js';
import { count, mib, size, spread, type Goal, type ScenarioReport } from '../lib/report.js';
import { assertSameRefs, forEachRef, packBytes } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const MAX_RSS = 100 * 1024 * 1024;

interface Sizes {
  commits: number;
  behind: number[];
}

const FULL: Sizes = { commits: 36_000, behind: [3_000, 30_000] };
const QUICK: Sizes = { commits: 6_000, behind: [3_000, 5_000] };

interface Meta {
  history: DeltifiedHistory;
  packBytes: number;
  /** Target directory names by how far behind they are. */
  targets: Record<string, string>;
  /** What the commits-only pack of each range holds. */
  reach: Record<string, DeltaReach>;
}

async function build(into: string, sizes: Sizes): Promise<Meta> {
  // Directory names only: the cache renames the directory once it is built.
  const history = await createDeltifiedHistory(join(into, 'source.git'), { commits: sizes.commits, threads: 0 });
  const targets: Record<string, string> = {};
  const reach: Record<string, DeltaReach> = {};
  for (const behind of sizes.behind) {
    const name = `behind-${behind}.git`;
    await runGit(['init', '--quiet', '--bare', '--initial-branch=main', join(into, name)]);
    await runGit(['push', '--quiet', join(into, name), `main~${behind}:refs/heads/main`], { cwd: history.path });
    targets[String(behind)] = name;
    reach[String(behind)] = await commitDeltaReach(history.path, ['main', `^main~${behind}`], { filter: true });
  }
  return { history: { ...history, path: 'source.git' }, packBytes: await packBytes(history.path), targets, reach };
}

function bytesFromSource(run: GitSyncRun): number {
  return run.stats.source.bytesReceived;
}

export const scenario: Scenario = {
  name: 'deltified',
  description: 'plan, sync and batched bootstrap on a history whose commits git stored as deltas (bases megabytes back)',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const sizes = context.quick ? QUICK : FULL;
    const { dir, meta } = await cached(context.cacheDir, `deltified-history-${sizes.commits}-${sizes.behind.join('_')}-v1`, (into) => build(into, sizes), context.log);
    const work = makeTempDir('git-sync-bench-deltified-');
    const [filtered, unfiltered] = await startAll(
      () => startGitHttpServer({ root: dir, config: { 'uploadpack.allowFilter': 'true' } }),
      () => startGitHttpServer({ root: dir }),
    );
    // Targets written by sync live in a second root, served by a third server.
    const targets = await startGitHttpServer({ root: work.path });
    const sourcePath = join(dir, meta.history.path);
    const goals: Goal[] = [];
    const planRows: string[][] = [];
    const syncRows: string[][] = [];
    const rssGoal = (label: string, runs: GitSyncRun[]): void => {
      const peak = Math.max(...runs.map((run) => run.peakRssBytes));
      goals.push({ label: `${label}: peak RSS`, expected: `< ${mib(MAX_RSS)}`, measured: mib(peak), pass: peak < MAX_RSS });
    };
    try {
      for (const behind of sizes.behind) {
        const reach = meta.reach[String(behind)]!;
        for (const [label, server] of [['filter', filtered], ['no filter', unfiltered]] as const) {
          const runs: GitSyncRun[] = [];
          for (let r = 0; r < context.runs; r++) {
            context.log(`deltified (a) plan ${count(behind)} behind, ${label}: run ${r + 1}/${context.runs}`);
            const run = await runGitSync('plan', [server.url('source'), server.url(meta.targets[String(behind)]!)]);
            const main = run.result.plans.find((plan) => plan.targetRef === 'refs/heads/main');
            if (main?.action !== 'update' || main.forced) throw new Error(`plan ${behind} behind should fast-forward main; got ${JSON.stringify(main)}`);
            runs.push(run);
          }
          planRows.push([
            `${count(behind)} behind, ${label}`,
            `${count(reach.commits)} (${count(reach.commitDeltas)} deltas)`,
            size(reach.farthestBaseBytes),
            size(bytesFromSource(runs[0]!)),
            spread(runs.map((run) => run.child.wallMillis)),
            mib(Math.max(...runs.map((run) => run.peakRssBytes))),
          ]);
          rssGoal(`(a) plan ${count(behind)} behind, ${label}`, runs);
        }
      }

      const behind = sizes.behind[0]!;
      const syncRuns: GitSyncRun[] = [];
      for (let r = 0; r < context.runs; r++) {
        context.log(`deltified (b) sync ${count(behind)} behind: run ${r + 1}/${context.runs}`);
        const name = `sync-${r}.git`;
        await runGit(['clone', '--quiet', '--bare', '--no-local', join(dir, meta.targets[String(behind)]!), join(work.path, name)]);
        const run = await runGitSync('sync', ['--tags', filtered.url('source'), targets.url(name)]);
        await targets.idle();
        await assertTargetHolds(sourcePath, join(work.path, name), 'sync');
        syncRuns.push(run);
      }
      syncRows.push([`sync ${count(behind)} behind (filter)`, spread(syncRuns.map((run) => run.child.wallMillis)), size(bytesFromSource(syncRuns[0]!)), mib(Math.max(...syncRuns.map((run) => run.peakRssBytes))), '-']);
      rssGoal(`(b) sync ${count(behind)} behind`, syncRuns);

      const limit = Math.ceil(meta.packBytes / 10);
      const batchedRuns: GitSyncRun[] = [];
      for (let r = 0; r < context.runs; r++) {
        context.log(`deltified (c) batched bootstrap: run ${r + 1}/${context.runs}`);
        const name = `batched-${r}.git`;
        await runGit(['init', '--quiet', '--bare', join(work.path, name)]);
        const run = await runGitSync('sync', ['--tags', '--target-max-pack-bytes', String(limit), filtered.url('source'), targets.url(name)]);
        await targets.idle();
        await assertTargetHolds(sourcePath, join(work.path, name), 'batched bootstrap');
        if (run.result.batchCount < 2) throw new Error(`batched bootstrap took ${run.result.batchCount} batch(es) under a limit of ${limit} bytes`);
        batchedRuns.push(run);
      }
      syncRows.push([
        `batched bootstrap, limit ${size(limit)}`,
        spread(batchedRuns.map((run) => run.child.wallMillis)),
        size(bytesFromSource(batchedRuns[0]!)),
        mib(Math.max(...batchedRuns.map((run) => run.peakRssBytes))),
        batchedRuns.map((run) => String(run.result.batchCount)).join(', '),
      ]);
      rssGoal('(c) batched bootstrap', batchedRuns);
    } finally {
      await Promise.all([filtered.close(), unfiltered.close(), targets.close()]);
      await work.remove();
    }
    const h = meta.history;
    return {
      scenario: 'deltified',
      tables: [
        {
          title: `(a) plan against a target behind: ${count(h.commits)} commits (${count(h.commitDeltas)} stored as deltas), ${count(h.tags)} tags (${count(h.tagDeltas)} deltas), ${mib(meta.packBytes)} pack; ${context.runs} run(s), median (min-max)`,
          columns: ['target', 'commits to read', 'farthest base back', 'from source', 'wall', 'peak RSS'],
          rows: planRows,
        },
        {
          title: '(b) sync and (c) batched bootstrap, source with filter',
          columns: ['run', 'wall', 'from source', 'peak RSS', 'batches'],
          rows: syncRows,
        },
      ],
      goals,
      notes: [
        'commits to read / farthest base back: the commits-only pack of the range as git pack-objects makes it for upload-pack (reused deltas, offsets for bases)',
        'no filter: the ordinary pack, read as far as its commits; with a bitmap index git writes some commits after the blobs, so the whole range is read',
        'peak RSS = --measure-memory (sampled RSS and ru_maxrss), highest of the runs; commits past 1 MiB go to an unnamed temporary file, not to memory',
      ],
    };
  },
};

/** Throws unless the target's branches and tags are the source's, with no temporary refs left. */
async function assertTargetHolds(sourcePath: string, targetPath: string, what: string): Promise<void> {
  await assertSameRefs(sourcePath, targetPath, what);
  const leftovers = await forEachRef(targetPath, ['refs/gitsync/']);
  if (leftovers.size > 0) throw new Error(`${what}: ${leftovers.size} refs/gitsync/* left on the target`);
}
