/**
 * `incremental` scenario (issue 18, item 1): the sync users repeat every few minutes. A mirror is
 * one working day behind its source (20 commits of small edits in large text files and a tag);
 * bring it up to date:
 *
 * - git, as people run it today: `git fetch` in a kept mirror clone (`clone --mirror`, made
 *   before the timing from the old state), then `git push --mirror` to the target;
 * - git-sync: `sync --tags SOURCE TARGET`, no local repository.
 *
 * Through a loopback `git http-backend` that offers object filters, as GitHub and GitLab do;
 * git-sync also once more through one that does not (a plain git server), for comparison. Every
 * run starts from a fresh copy of the old state (target and mirror clone) and must end with the
 * target's refs equal to the source's. The source is kept as a host keeps it: gc left one pack
 * with reachability bitmaps, the day's commits arrived by pushes (loose objects). The mirror clone
 * is a real `git clone --mirror` (no bitmaps). A thin pack is what makes git's push small (deltas
 * against blobs the target has); git-sync's relay asks the source for one when the target holds
 * the haves (docs/protocol.md, "Thin packs").
 *
 * Goals: bytes into the target within 1.1 x git's push; git-sync's wall <= 0.8 x git's
 * fetch + push.
 */
import { cp, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../test/helpers/git.js';
import { startAll } from '../../test/helpers/system.js';
import { startGitHttpServer, type GitHttpServer } from '../../test/helpers/http-server.js';
import { generateTextEdits, type TextEditsRepo, type TextEditsShape } from '../generate/text-edits.js';
import { cached } from '../lib/cache.js';
import { runGitSync } from '../lib/git-sync.js';
import { runChecked } from '../lib/process.js';
import { median, mib, ratio, size, spread, type Goal, type ScenarioReport } from '../lib/report.js';
import { assertSameRefs, git, isolatedGitEnv } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import { wireBytes } from './relay.js';

const MAX_BYTES_RATIO = 1.1;
const MAX_WALL_RATIO = 0.8;

interface Case {
  label: string;
  shape: TextEditsShape;
}

const FULL: readonly Case[] = [
  { label: '20 commits + a tag', shape: { files: 40, linesPerFile: 8000, history: 30, commits: 20, seed: 7 } },
  {
    label: '20 commits + a tag, 50 branches moved, 20 tags added',
    shape: { files: 40, linesPerFile: 8000, history: 30, commits: 20, branches: 60, movedBranches: 50, newTags: 20, seed: 7 },
  },
];
const QUICK: readonly Case[] = [
  { label: '20 commits + a tag', shape: { files: 12, linesPerFile: 6000, history: 10, commits: 20, seed: 8 } },
  {
    label: '20 commits + a tag, 50 branches moved, 20 tags added',
    shape: { files: 12, linesPerFile: 6000, history: 10, commits: 20, branches: 60, movedBranches: 50, newTags: 20, seed: 8 },
  },
];

interface Measured {
  wallMillis: number;
  peakRssBytes: number | null;
  fromSource: number;
  intoTarget: number;
  /** git-sync's fetch and push requests (null for git). */
  fetches: number | null;
  pushes: number | null;
  detail: string;
}


interface CaseResult {
  label: string;
  shape: TextEditsShape;
  meta: TextEditsRepo;
  git: Measured[];
  sync: Measured[];
  plain: Measured[];
}

async function measureCase(context: ScenarioContext, which: Case): Promise<CaseResult> {
  const { shape } = which;
  const key = `incremental-${Object.values(shape).join('_')}-v2`;
  const { dir, meta } = await cached<TextEditsRepo>(context.cacheDir, key, (into) => generateTextEdits(into, shape), context.log);
  const oldPath = join(dir, meta.old);
  const newPath = join(dir, meta.new);

  const root = makeTempDir('git-sync-bench-incremental-');
  const scratch = makeTempDir('git-sync-bench-incremental-mirror-');
  const [server, plain] = await startAll(
    () => startGitHttpServer({ root: root.path, config: { 'uploadpack.allowFilter': 'true' } }),
    () => startGitHttpServer({ root: root.path }),
  );
  const sourceName = 'source.git';
  let next = 1;
  const env = isolatedGitEnv();

  /** A target one day behind: a copy of the old state. */
  const freshTarget = async (): Promise<{ name: string; path: string }> => {
    const name = `target-${next++}.git`;
    const path = join(root.path, name);
    await cp(oldPath, path, { recursive: true });
    return { name, path };
  };

  const runGit = async (mirrorTemplate: string): Promise<Measured> => {
    const target = await freshTarget();
    const mirror = join(scratch.path, `mirror-${next}.git`);
    await cp(mirrorTemplate, mirror, { recursive: true });
    server.clearLog();
    try {
      const fetch = await runChecked('git', ['fetch', '--quiet', '--prune', 'origin'], { cwd: mirror, env });
      const push = await runChecked('git', ['push', '--mirror', '--quiet', server.url(target.name)], { cwd: mirror, env });
      await server.idle();
      await assertSameRefs(newPath, target.path, 'git fetch + git push --mirror');
      const rss = fetch.maxRssBytes === null || push.maxRssBytes === null ? null : Math.max(fetch.maxRssBytes, push.maxRssBytes);
      return {
        wallMillis: fetch.wallMillis + push.wallMillis,
        peakRssBytes: rss,
        ...wireBytes(server, sourceName, target.name),
        fetches: null,
        pushes: null,
        detail: `fetch ${(fetch.wallMillis / 1000).toFixed(2)} s + push ${(push.wallMillis / 1000).toFixed(2)} s`,
      };
    } finally {
      await rm(mirror, { recursive: true, force: true });
      await rm(target.path, { recursive: true, force: true });
    }
  };

  const runSync = async (check: boolean, via: GitHttpServer): Promise<Measured> => {
    const target = await freshTarget();
    via.clearLog();
    try {
      const run = await runGitSync('sync', ['--tags', via.url(sourceName), via.url(target.name)]);
      await via.idle();
      await assertSameRefs(newPath, target.path, 'git-sync sync --tags');
      if (check) await git(['fsck', '--no-progress'], { cwd: target.path });
      return {
        wallMillis: run.child.wallMillis,
        peakRssBytes: run.peakRssBytes,
        ...wireBytes(via, sourceName, target.name),
        fetches: run.stats.phases['source fetch']?.requests ?? 0,
        pushes: run.stats.phases['target push']?.requests ?? 0,
        detail: `relay ${run.result.relayMode}, ${via.requests.length} HTTP requests`,
      };
    } finally {
      await rm(target.path, { recursive: true, force: true });
    }
  };

  const result: CaseResult = { label: which.label, shape, meta, git: [], sync: [], plain: [] };
  try {
    await symlink(newPath, join(root.path, sourceName));
    // The kept mirror clone, as `git clone --mirror` of the old state leaves it (copied per run).
    const mirrorTemplate = join(scratch.path, 'mirror-template.git');
    await git(['clone', '--mirror', '--quiet', '--no-local', oldPath, mirrorTemplate]);
    await git(['config', 'remote.origin.url', server.url(sourceName)], { cwd: mirrorTemplate });
    // One unmeasured run of each warms the page cache and the server; the first checks fsck.
    await runGit(mirrorTemplate);
    await runSync(true, server);
    for (let r = 0; r < Math.max(context.runs, 5); r++) {
      const order = r % 2 === 0 ? (['git', 'git-sync'] as const) : (['git-sync', 'git'] as const);
      for (const method of order) {
        context.log(`incremental ${which.label}: ${method} run ${r + 1}`);
        if (method === 'git') result.git.push(await runGit(mirrorTemplate));
        else result.sync.push(await runSync(false, server));
      }
    }
    for (let r = 0; r < Math.max(context.runs, 3); r++) result.plain.push(await runSync(false, plain));
  } finally {
    await plain.close();
    await server.close();
    await root.remove();
    await scratch.remove();
  }
  return result;
}

export const scenario: Scenario = {
  name: 'incremental',
  description: 'a mirror one day behind (small edits in large text files, a tag; then also 50 branches and 20 tags): sync vs git fetch + git push --mirror in a kept mirror clone',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const results: CaseResult[] = [];
    for (const which of context.quick ? QUICK : FULL) results.push(await measureCase(context, which));

    const row = (method: string, values: readonly Measured[]): string[] => {
      const rss = values.map((v) => v.peakRssBytes).filter((v): v is number => v !== null);
      const fetches = values[0]!.fetches;
      return [
        method,
        spread(values.map((v) => v.wallMillis)),
        rss.length === 0 ? 'n/a' : mib(Math.max(...rss)),
        size(values[0]!.fromSource),
        size(values[0]!.intoTarget),
        fetches === null ? '-' : `${fetches} / ${values[0]!.pushes}`,
        values[Math.floor(values.length / 2)]!.detail,
      ];
    };
    const goals: Goal[] = [];
    const tables = results.map((result) => {
      const gitWall = median(result.git.map((m) => m.wallMillis));
      const syncWall = median(result.sync.map((m) => m.wallMillis));
      const gitInto = median(result.git.map((m) => m.intoTarget));
      const syncInto = median(result.sync.map((m) => m.intoTarget));
      const gitWire = median(result.git.map((m) => m.fromSource + m.intoTarget));
      const syncWire = median(result.sync.map((m) => m.fromSource + m.intoTarget));
      const label = result.label;
      goals.push(
        { label: `${label}: bytes into the target, git-sync / git push`, expected: `<= ${MAX_BYTES_RATIO}`, measured: ratio(syncInto / gitInto), pass: syncInto / gitInto <= MAX_BYTES_RATIO },
        { label: `${label}: wire bytes (source + target), git-sync / git`, expected: `<= ${MAX_BYTES_RATIO}`, measured: ratio(syncWire / gitWire), pass: syncWire / gitWire <= MAX_BYTES_RATIO },
        { label: `${label}: wall, git-sync / (git fetch + git push)`, expected: `<= ${MAX_WALL_RATIO}`, measured: ratio(syncWall / gitWall), pass: syncWall / gitWall <= MAX_WALL_RATIO },
        {
          label: `${label}: git-sync fetches / pushes`,
          expected: '1 / 1',
          measured: `${result.sync[0]!.fetches} / ${result.sync[0]!.pushes}`,
          pass: result.sync.every((m) => m.fetches === 1 && m.pushes === 1),
        },
      );
      const { shape, meta } = result;
      return {
        title: `${label}: ${shape.files} text files of ${shape.linesPerFile} lines (${mib(meta.textBytes)} of text, ${mib(meta.oldPackBytes)} pack), ${meta.newRefs} refs after; ${result.git.length} runs each, median (min-max)`,
        columns: ['method', 'wall', 'peak RSS', 'source sent', 'target took', 'fetches / pushes', 'detail'],
        rows: [
          row('git fetch + git push --mirror (kept mirror clone)', result.git),
          row('git-sync sync --tags', result.sync),
          row('git-sync sync --tags, source offers no filter', result.plain),
        ],
      };
    });
    return {
      scenario: 'incremental',
      tables,
      goals,
      notes: [
        'wall = whole processes, startup included (git: fetch + push in the mirror clone; git-sync: one sync); the mirror clone is made before the timing, as a kept one would be',
        'source sent / target took = bytes the loopback server logged for the source and the target repository (HTTP bodies, both discovery and packs)',
        "source offers no filter: a plain git server (no uploadpack.allowFilter); its bitmaps answer the relay's fetch, which finds no thin bases, so the edited blobs travel whole, as they do into git's own fetch; the fast-forwards are asked first (an ordinary pack read as far as its commits), so two fetches",
        'every run starts from a fresh copy of the old state and ends with the target\'s refs equal to the source\'s; one unmeasured run of each first (its target also checked with git fsck); at least 5 runs each',
      ],
    };
  },
};
