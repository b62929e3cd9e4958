/**
 * `batched` scenario (issue 5's goals): a batched bootstrap of about ten checkpoints against a
 * one-shot bootstrap of the same repository, through the same loopback `git http-backend`
 * (the large `relay` repository, over 100 MB of pack). The batched run gets
 * `--target-max-pack-bytes` of a tenth of the pack (plus a little), so sizing, checkpoint
 * pushes, cutover and cleanup are all measured. Fresh empty target each run; the target's refs
 * must equal the source's after every run.
 *
 * Goals: batched wall time <= 1.3 x one-shot; batched peak RSS under 150 MiB.
 */
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { git, gitRaw, makeTempDir } from '../../test/helpers/git.js';
import { startGitHttpServer } from '../../test/helpers/http-server.js';
import { generateProjectHistory, type ProjectShape } from '../generate/project-history.js';
import { cached } from '../lib/cache.js';
import { runGitSync } from '../lib/git-sync.js';
import { quote, shell } from '../lib/process.js';
import { median, mib, ratio, spread, type Goal, type ScenarioReport } from '../lib/report.js';
import { assertSameRefs, forEachRef, initBare } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const MAX_RATIO = 1.3;
const MAX_RSS = 150 * 1024 * 1024;
const BATCHES = 10;

// The same shapes (and so the same cached repositories) as the `relay` scenario's large size.
const FULL: ProjectShape = { files: 8000, meanLines: 180, commits: 500, filesPerCommit: 200, binaries: 8, binaryBytes: 4 << 20, binaryRewrites: 4, binaryRewriteShare: 0.4, branches: 3, tagEvery: 25, seed: 3 };
const QUICK: ProjectShape = { files: 2500, meanLines: 150, commits: 150, filesPerCommit: 60, binaries: 2, binaryBytes: 3 << 20, binaryRewrites: 2, binaryRewriteShare: 0.4, branches: 2, tagEvery: 25, seed: 4 };

interface Run {
  wallMillis: number;
  peakRssBytes: number;
  batches: number;
  planned: number;
}

/** Bytes of the biggest single-commit pack on the default branch (each commit against its parent). */
async function largestCommitPack(repoDir: string): Promise<number> {
  const commits = (await git(['rev-list', '--first-parent', 'HEAD'], { cwd: repoDir })).split('\n').filter(Boolean);
  let largest = 0;
  // The root commit brings the initial import; sample it and a few others.
  for (const commit of [commits[commits.length - 1]!, ...commits.slice(0, 5)]) {
    const parents = (await git(['rev-list', '--parents', '-n1', commit], { cwd: repoDir })).split(' ').slice(1);
    const pack = await gitRaw(['pack-objects', '--stdout', '--revs', '-q'], { cwd: repoDir, input: `${commit}\n${parents.map((p) => `^${p}`).join('\n')}\n` });
    largest = Math.max(largest, pack.length);
  }
  return largest;
}

interface PackFloor {
  ranges: number;
  rangesMillis: number;
  rangesBytes: number;
  wholeMillis: number;
  wholeBytes: number;
}

/**
 * What the source server itself spends on the packs, with no network and no target: its own
 * `git pack-objects` for `ranges` consecutive, equal slices of the default branch's first-parent
 * history, each self-contained (no thin pack: docs/architecture.md, "The relay"), one after another, against the whole
 * history in one pack (which reuses the on-disk pack verbatim). A batched relay of history
 * cannot take less than the first figure, whatever the client does.
 */
async function sourcePackFloor(repoDir: string, ranges: number): Promise<PackFloor> {
  const commits = (await git(['rev-list', '--first-parent', '--reverse', 'HEAD'], { cwd: repoDir })).split('\n').filter(Boolean);
  const timed = async (revs: string): Promise<{ millis: number; bytes: number }> => {
    const started = performance.now();
    const bytes = Number(await shell(`${revs} | git pack-objects --revs --stdout -q | wc -c`, { cwd: repoDir }));
    return { millis: performance.now() - started, bytes };
  };
  let rangesMillis = 0;
  let rangesBytes = 0;
  let previous: string | null = null;
  for (let i = 1; i <= ranges; i++) {
    const end = commits[Math.round((i * commits.length) / ranges) - 1]!;
    const run = await timed(`printf '%s\\n' ${quote(end)}${previous === null ? '' : ` ${quote(`^${previous}`)}`}`);
    rangesMillis += run.millis;
    rangesBytes += run.bytes;
    previous = end;
  }
  const whole = await timed(`git for-each-ref --format='%(objectname)'`);
  return { ranges, rangesMillis, rangesBytes, wholeMillis: whole.millis, wholeBytes: whole.bytes };
}

export const scenario: Scenario = {
  name: 'batched',
  description: 'batched bootstrap (~10 checkpoints) vs one-shot bootstrap of the same repository',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const shape = context.quick ? QUICK : FULL;
    const label = context.quick ? 'quick' : 'large';
    const key = `relay-${label}-${Object.values(shape).join('_')}-v1`;
    const { dir, meta } = await cached(context.cacheDir, key, (into) => generateProjectHistory(into, shape), context.log);
    const sourcePath = join(dir, meta.repo);
    // Checkpoints are whole commits: the limit must hold the largest one (the initial import).
    const largestCommit = await largestCommitPack(sourcePath);
    const limit = Math.max(Math.ceil(meta.packBytes / BATCHES), Math.ceil(largestCommit * 1.25)) + 256 * 1024;

    const root = makeTempDir('git-sync-bench-batched-');
    const server = await startGitHttpServer({ root: root.path });
    await symlink(sourcePath, join(root.path, 'source.git'));
    const oneShot: Run[] = [];
    const batched: Run[] = [];
    let next = 1;
    try {
      for (let r = 0; r < context.runs; r++) {
        for (const method of r % 2 === 0 ? (['one-shot', 'batched'] as const) : (['batched', 'one-shot'] as const)) {
          context.log(`batched: ${method} run ${r + 1}/${context.runs}`);
          const name = `target-${next++}`;
          const targetPath = await initBare(root.path, name);
          const extra = method === 'batched' ? ['--target-max-pack-bytes', String(limit)] : [];
          const run = await runGitSync('bootstrap', ['--tags', ...extra, server.url('source'), server.url(`${name}.git`)]);
          await server.idle();
          await assertSameRefs(sourcePath, targetPath, `git-sync bootstrap (${method})`);
          const leftovers = await forEachRef(targetPath, ['refs/gitsync/']);
          if (leftovers.size > 0) throw new Error(`${method}: ${leftovers.size} refs/gitsync/* left on the target`);
          const measured: Run = {
            wallMillis: run.child.wallMillis,
            peakRssBytes: run.peakRssBytes ?? Number.NaN,
            batches: run.result.batchCount,
            planned: run.result.plannedBatchCount,
          };
          (method === 'batched' ? batched : oneShot).push(measured);
          await rm(targetPath, { recursive: true, force: true });
        }
      }
    } finally {
      await server.close();
      await root.remove();
    }
    const floor = await sourcePackFloor(sourcePath, Math.round(median(batched.map((r) => r.batches))));
    const oneWall = median(oneShot.map((r) => r.wallMillis));
    const batchWall = median(batched.map((r) => r.wallMillis));
    const batchRss = Math.max(...batched.map((r) => r.peakRssBytes));
    const oneRss = Math.max(...oneShot.map((r) => r.peakRssBytes));
    const goals: Goal[] = [
      { label: 'wall batched / one-shot', expected: `<= ${MAX_RATIO}`, measured: ratio(batchWall / oneWall), pass: batchWall / oneWall <= MAX_RATIO },
      { label: 'batched peak RSS', expected: `< ${mib(MAX_RSS)}`, measured: mib(batchRss), pass: batchRss < MAX_RSS },
    ];
    return {
      scenario: 'batched',
      tables: [
        {
          title: `${label}: ${mib(meta.packBytes)} pack, largest commit ${mib(largestCommit)}; limit ${mib(limit)}; ${context.runs} run(s) each, median (min-max)`,
          columns: ['method', 'wall', 'peak RSS', 'batches (planned)'],
          rows: [
            ['one-shot bootstrap', spread(oneShot.map((r) => r.wallMillis)), mib(oneRss), '-'],
            ['batched bootstrap', spread(batched.map((r) => r.wallMillis)), mib(batchRss), batched.map((r) => `${r.batches} (${r.planned})`).join(', ')],
          ],
        },
        {
          title: `the source server's own share: git pack-objects alone (no network, no target)`,
          columns: ['packs', 'wall', 'bytes', 'x one-shot git-sync wall'],
          rows: [
            ['whole history, one pack', `${(floor.wholeMillis / 1000).toFixed(2)} s`, mib(floor.wholeBytes), ratio(floor.wholeMillis / oneWall)],
            [`${floor.ranges} first-parent slices, one after another`, `${(floor.rangesMillis / 1000).toFixed(2)} s`, mib(floor.rangesBytes), ratio(floor.rangesMillis / oneWall)],
          ],
        },
      ],
      goals,
      notes: [
        'both runs: git-sync bootstrap --tags into a fresh empty target; refs checked with for-each-ref, no refs/gitsync/* left',
        'source share: the whole history reuses the on-disk pack (bitmaps); a slice must re-deflate and re-delta every object whose delta base lies in a later slice, so the slices alone are a floor for any batched relay of this history',
      ],
    };
  },
};
