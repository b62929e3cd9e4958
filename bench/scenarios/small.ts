/**
 * `small` scenario (issue 18, item 4): bootstrapping a small repository with many refs (~19 MB
 * pack, ~320 branches and tags), where fixed costs weigh most: `git-sync bootstrap --tags`
 * against `git clone --mirror` + `git push --mirror`, through one loopback `git http-backend`.
 *
 * Besides the ratio, a table of where git-sync's time goes, lined up with the server's log:
 * process start to the first request (node's start, the module load, option parsing), the
 * listings (both sides, at once), the relay fetch (the source packing and streaming, which the
 * push follows chunk by chunk), the target after the last pack byte (index-pack, connectivity
 * check, ref updates, its report), and the process's end after that.
 *
 * Goal: git-sync's wall <= 0.55 x the baseline's.
 */
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../test/helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../../test/helpers/http-server.js';
import { generateProjectHistory, type ProjectShape } from '../generate/project-history.js';
import { cached } from '../lib/cache.js';
import { GIT_SYNC_BIN } from '../lib/git-sync.js';
import { runChecked } from '../lib/process.js';
import { count, median, mib, ratio, spread, type Goal, type ScenarioReport } from '../lib/report.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { bareNodeStart, runGitMirror, runGitSyncBootstrap, type Harness, type Measured } from './relay.js';

const MAX_RATIO = 0.55;

const SHAPE: ProjectShape = {
  files: 1500,
  meanLines: 150,
  commits: 400,
  filesPerCommit: 20,
  binaries: 2,
  binaryBytes: 3 << 20,
  binaryRewrites: 2,
  binaryRewriteShare: 0.4,
  branches: 20,
  tagEvery: 2,
  seed: 11,
};

interface Phases {
  toFirstRequest: number;
  listings: number;
  fetch: number;
  targetAfterLastByte: number;
  afterPush: number;
}

/** git-sync's run split at the server's log entries (epoch milliseconds). */
function phasesOf(server: GitHttpServer, run: Measured, sourceName: string): Phases | null {
  const entries = server.requests;
  if (entries.length === 0) return null;
  const first = Math.min(...entries.map((entry) => entry.startedAt));
  const fetch = entries.filter((entry) => entry.method === 'POST' && entry.kind.repo === sourceName && entry.kind.service === 'git-upload-pack').at(-1);
  const push = entries.find((entry) => entry.method === 'POST' && entry.kind.service === 'git-receive-pack');
  if (fetch === undefined || push === undefined) return null;
  const fetchEnd = fetch.startedAt + fetch.durationMs;
  const pushEnd = push.startedAt + push.durationMs;
  const end = run.startedAtEpoch + run.wallMillis;
  return {
    toFirstRequest: first - run.startedAtEpoch,
    listings: Math.min(fetch.startedAt, push.startedAt) - first,
    fetch: fetchEnd - Math.min(fetch.startedAt, push.startedAt),
    targetAfterLastByte: pushEnd - fetchEnd,
    afterPush: end - pushEnd,
  };
}

export const scenario: Scenario = {
  name: 'small',
  description: 'bootstrap of a small repository with ~320 refs vs git clone --mirror + push --mirror, and where the time goes',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const key = `small-${Object.values(SHAPE).join('_')}-v1`;
    const { dir, meta } = await cached(context.cacheDir, key, (into) => generateProjectHistory(into, SHAPE), context.log);
    const root = makeTempDir('git-sync-bench-small-');
    const scratch = makeTempDir('git-sync-bench-small-mirror-');
    const server = await startGitHttpServer({ root: root.path });
    const harness: Harness = { server, scratch: scratch.path, nextTarget: 1 };
    const sourceName = 'source.git';
    const git: Measured[] = [];
    const sync: Measured[] = [];
    const phases: Phases[] = [];
    const versions: number[] = [];
    const runs = Math.max(context.runs, 5);
    try {
      const sourcePath = join(dir, meta.repo);
      await symlink(sourcePath, join(root.path, sourceName));
      // One unmeasured run of each warms the page cache and the server.
      await runGitMirror(harness, sourceName, sourcePath);
      await runGitSyncBootstrap(harness, sourceName, sourcePath, true);
      for (let r = 0; r < runs; r++) {
        const order = r % 2 === 0 ? (['git', 'git-sync'] as const) : (['git-sync', 'git'] as const);
        for (const method of order) {
          context.log(`small: ${method} run ${r + 1}/${runs}`);
          if (method === 'git') {
            git.push(await runGitMirror(harness, sourceName, sourcePath));
          } else {
            const measured = await runGitSyncBootstrap(harness, sourceName, sourcePath, false);
            sync.push(measured);
            const split = phasesOf(server, measured, sourceName);
            if (split !== null) phases.push(split);
          }
        }
        versions.push((await runChecked(process.execPath, [GIT_SYNC_BIN, '--version'])).wallMillis);
      }
    } finally {
      await server.close();
      await root.remove();
      await scratch.remove();
    }
    const nodeStart = await bareNodeStart();
    const gitWall = median(git.map((m) => m.wallMillis));
    const syncWall = median(sync.map((m) => m.wallMillis));
    const ms = (value: number): string => `${value.toFixed(0)} ms`;
    const part = (key: keyof Phases): string => ms(median(phases.map((p) => p[key])));
    // What no client can go under: node's own start, then the servers' work as their log shows
    // it (the source packing and streaming, the target after the last byte). The listings are
    // left out (git's clone pays them too), so the floor is below any real run.
    const floorMillis = nodeStart + median(phases.map((p) => p.fetch)) + median(phases.map((p) => p.targetAfterLastByte));
    const goals: Goal[] = [{ label: 'wall: git-sync / git', expected: `<= ${MAX_RATIO}`, measured: ratio(syncWall / gitWall), pass: syncWall / gitWall <= MAX_RATIO }];
    return {
      scenario: 'small',
      tables: [
        {
          title: `${mib(meta.packBytes)} pack, ${count(meta.objects)} objects, ${count(meta.commits)} commits, ${meta.refs} refs; ${runs} runs each, median (min-max)`,
          columns: ['method', 'wall', 'source sent', 'target took', 'detail'],
          rows: [
            ['git clone --mirror + push --mirror', spread(git.map((m) => m.wallMillis)), mib(git[0]!.fromSource), mib(git[0]!.intoTarget), git[Math.floor(git.length / 2)]!.detail],
            ['git-sync bootstrap --tags', spread(sync.map((m) => m.wallMillis)), mib(sync[0]!.fromSource), mib(sync[0]!.intoTarget), sync[Math.floor(sync.length / 2)]!.detail],
          ],
        },
        {
          title: "where git-sync's time goes (medians; from the server's log)",
          columns: ['node -e 0', 'module load (--version - node)', 'start to first request', 'listings', 'relay fetch (push alongside)', 'target after the last pack byte', 'exit after the report', 'wall', 'floor (node + fetch + target after)', 'floor / git', 'wall / git'],
          rows: [[ms(nodeStart), ms(median(versions) - nodeStart), part('toFirstRequest'), part('listings'), part('fetch'), part('targetAfterLastByte'), part('afterPush'), ms(syncWall), ms(floorMillis), ratio(floorMillis / gitWall), ratio(syncWall / gitWall)]],
        },
      ],
      goals,
      notes: [
        'wall = whole processes, startup included (git: clone + push; git-sync: one bootstrap); every run gets a fresh empty target whose refs must equal the source\'s; the warm-up git-sync run also checks fsck --connectivity-only',
        'start to first request: node\'s start, the module load, parsing options; listings: both sides at once; relay fetch: from the relay\'s first request to the source\'s last pack byte; target after the last pack byte: its index-pack, connectivity check, ref updates and report, which git-sync waits for',
        'floor: node -e 0, plus the relay fetch and the target after the last pack byte as the server logged them: the servers\' own work, which a relay can overlap but not remove; floor / git is the best ratio any client could reach against the same servers',
      ],
    };
  },
};
