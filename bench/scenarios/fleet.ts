/**
 * `fleet` scenario (issue 15, Show): 200 mirrors of a small repository (20 with `--quick`), all
 * already up to date, served by one loopback `git http-backend`, and one `git-sync fleet run`
 * over all of them: its wall time and peak RSS, against what a no-op pass cannot go under,
 * listing both sides of every mirror: 200 pairs of `git ls-remote` (source and target of a pair
 * in parallel) run with the same concurrency as the fleet.
 *
 * Goals: fleet wall < 2 x the ls-remote pairs'; fleet peak RSS < 200 MB; every mirror a no-op.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../test/helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../../test/helpers/http-server.js';
import { cached } from '../lib/cache.js';
import { FastImport } from '../lib/fast-import.js';
import { GIT_SYNC_BIN } from '../lib/git-sync.js';
import { runChecked, runMeasured } from '../lib/process.js';
import { count, median, mib, ratio, spread, type Goal, type ScenarioReport } from '../lib/report.js';
import { forEachRef, git, initBare, isolatedGitEnv } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const MAX_WALL_RATIO = 2;
const MAX_RSS_BYTES = 200 * 1000 * 1000;
/** As `fleet run` defaults it; the ls-remote pairs run as many at once. */
const CONCURRENCY = 8;

/** A small repository: 100 commits on main, 5 branches, 10 tags (half annotated). */
export async function smallRepository(dir: string): Promise<{ refs: number }> {
  const path = await initBare(dir, 'source');
  const importer = FastImport.start(path);
  for (let i = 1; i <= 100; i++) {
    await importer.commit({ ref: 'refs/heads/main', mark: i, date: 1_600_000_000 + i * 60, message: `Commit ${i}\n`, files: [[`src/file-${i % 20}.txt`, `version ${i}\n`.repeat(20)]] });
  }
  for (let b = 1; b <= 5; b++) await importer.reset(`refs/heads/branch-${b}`, `:${b * 15}`);
  for (let t = 1; t <= 10; t++) {
    if (t % 2 === 0) await importer.annotatedTag(`v${t}.0`, `:${t * 10}`, 1_700_000_000 + t, `Release ${t}\n`);
    else await importer.reset(`refs/tags/v${t}.0`, `:${t * 10}`);
  }
  await importer.finish();
  await git(['repack', '-a', '-d', '-q'], { cwd: path });
  await git(['pack-refs', '--all'], { cwd: path });
  return { refs: (await forEachRef(path)).size };
}

/** Runs `task(i)` for i in [0, n), at most `limit` at once. */
async function pool(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

export const scenario: Scenario = {
  name: 'fleet',
  description: 'fleet run over 200 current mirrors of a small repository vs 200 pairs of git ls-remote at the same concurrency',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const mirrors = context.quick ? 20 : 200;
    const { dir, meta } = await cached(context.cacheDir, 'fleet-small-100_5_10-v1', (into) => smallRepository(into), context.log);
    const root = makeTempDir('git-sync-bench-fleet-');
    let server: GitHttpServer | null = null;
    const env = isolatedGitEnv();
    const fleetWalls: number[] = [];
    const lsWalls: number[] = [];
    const rss: number[] = [];
    let noops = 0;
    let others: string[] = [];
    try {
      // One source and one current mirror (a copy), each served under every mirror's own name.
      const served = join(root.path, 'served');
      await mkdir(served);
      await git(['clone', '--quiet', '--mirror', join(dir, 'source.git'), join(root.path, 'source.git')]);
      await git(['clone', '--quiet', '--mirror', join(dir, 'source.git'), join(root.path, 'mirror.git')]);
      for (let i = 0; i < mirrors; i++) {
        await symlink(join(root.path, 'source.git'), join(served, `src-${i}.git`));
        await symlink(join(root.path, 'mirror.git'), join(served, `dst-${i}.git`));
      }
      server = await startGitHttpServer({ root: served, config: { 'uploadpack.allowFilter': 'true' } });
      const manifest = join(root.path, 'mirrors.yaml');
      const lines = ['defaults:', '  tags: true', 'mirrors:'];
      for (let i = 0; i < mirrors; i++) lines.push(`  - {id: m${i}, source: "${server.url(`src-${i}`)}", target: "${server.url(`dst-${i}`)}"}`);
      await writeFile(manifest, `${lines.join('\n')}\n`);

      for (let r = 0; r < context.runs; r++) {
        context.log(`fleet: run ${r + 1}/${context.runs}: ${mirrors} pairs of git ls-remote, ${CONCURRENCY} at once`);
        const started = performance.now();
        await pool(mirrors, CONCURRENCY, async (i) => {
          await Promise.all([runChecked('git', ['ls-remote', server!.url(`src-${i}`)], { env }), runChecked('git', ['ls-remote', server!.url(`dst-${i}`)], { env })]);
        });
        lsWalls.push(performance.now() - started);

        context.log(`fleet: run ${r + 1}/${context.runs}: git-sync fleet run over ${mirrors} mirrors`);
        const fleet = await runMeasured(
          process.execPath,
          [GIT_SYNC_BIN, 'fleet', 'run', '--json', '--log', 'json', '--concurrency', String(CONCURRENCY), '--per-host', String(CONCURRENCY), '--state', join(root.path, 'state.db'), manifest],
          { env, timeoutMillis: 10 * 60_000 },
        );
        if (fleet.exitCode !== 0) throw new Error(`git-sync fleet run failed (exit ${fleet.exitCode}): ${fleet.stderr.slice(-2000)}`);
        const result = JSON.parse(fleet.stdout) as { counts: Record<string, number>; mirrors: { id: string; outcome: string; error: { message: string } | null }[] };
        noops = result.counts.noop ?? 0;
        others = result.mirrors.filter((m) => m.outcome !== 'noop').map((m) => `${m.id}: ${m.outcome}${m.error === null ? '' : ` (${m.error.message})`}`);
        fleetWalls.push(fleet.wallMillis);
        if (fleet.maxRssBytes !== null) rss.push(fleet.maxRssBytes);
      }
      const [sourceRefs, mirrorRefs] = await Promise.all([forEachRef(join(root.path, 'source.git')), forEachRef(join(root.path, 'mirror.git'))]);
      if (JSON.stringify([...sourceRefs]) !== JSON.stringify([...mirrorRefs])) throw new Error('a mirror changed during the no-op passes');
    } finally {
      await server?.close();
      await root.remove();
    }

    const wallRatio = median(fleetWalls) / median(lsWalls);
    const peak = rss.length === 0 ? Number.NaN : Math.max(...rss);
    const goals: Goal[] = [
      { label: `fleet run wall / ${mirrors} ls-remote pairs`, expected: `< ${MAX_WALL_RATIO}`, measured: ratio(wallRatio), pass: wallRatio < MAX_WALL_RATIO },
      { label: 'fleet run peak RSS', expected: `< ${(MAX_RSS_BYTES / 1e6).toFixed(0)} MB`, measured: Number.isNaN(peak) ? 'n/a (no /usr/bin/time)' : `${(peak / 1e6).toFixed(1)} MB (${mib(peak)})`, pass: peak < MAX_RSS_BYTES },
      { label: 'mirrors that were no-ops', expected: `${mirrors}`, measured: `${noops}${others.length === 0 ? '' : `; ${others.slice(0, 3).join('; ')}`}`, pass: noops === mirrors },
    ];
    return {
      scenario: 'fleet',
      tables: [
        {
          title: `${mirrors} current mirrors of a ${count(meta.refs)}-ref repository, ${CONCURRENCY} at once; median (min-max) of ${context.runs} run(s)`,
          columns: ['measure', 'wall', 'per mirror', 'peak RSS'],
          rows: [
            [`${mirrors} pairs of git ls-remote (the floor)`, spread(lsWalls), `${(median(lsWalls) / mirrors).toFixed(1)} ms`, '-'],
            ['git-sync fleet run', spread(fleetWalls), `${(median(fleetWalls) / mirrors).toFixed(1)} ms`, Number.isNaN(peak) ? 'n/a' : mib(peak)],
          ],
        },
      ],
      goals,
      notes: [
        'one source and one current copy, each served under every mirror\'s name (symlinks), by one loopback git http-backend: every request is a real CGI run',
        'the fleet runs with --concurrency and --per-host equal to the ls-remote concurrency (one host), writes its state database and a JSON log line per mirror, as a scheduled run would',
        'peak RSS: GNU time\'s ru_maxrss of the fleet process',
      ],
    };
  },
};
