/**
 * `relay` scenario (issue 4's goals): bootstrapping an empty target with git-sync against the
 * classic `git clone --mirror` + `git push --mirror`, both through the same loopback
 * `git http-backend`, on a small (~10 MB pack) and a large (> 100 MB pack) generated history.
 *
 * The baseline is the clone and the push together: the clone writes the whole repository to
 * local disk and indexes it (its disk and CPU are part of the cost git-sync avoids), the push
 * packs it again. git-sync runs as its own process (`bootstrap --tags`). Every run gets a fresh
 * empty target; after every run the target's refs must equal the source's, or the scenario fails.
 *
 * Goals: git-sync's wall time <= 0.6 x the baseline's; git-sync's peak RSS under 100 MiB for
 * both sizes, and flat (large within 10 MiB of small).
 */
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../test/helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../../test/helpers/http-server.js';
import { generateProjectHistory, type ProjectRepo, type ProjectShape } from '../generate/project-history.js';
import { cached } from '../lib/cache.js';
import { runGitSync } from '../lib/git-sync.js';
import { runChecked } from '../lib/process.js';
import { count, median, mib, ratio, size, spread, type Goal, type ScenarioReport, type Table } from '../lib/report.js';
import { assertSameRefs, diskUsage, git, initBare, isolatedGitEnv } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const MAX_RATIO = 0.6;
const MAX_RSS = 100 * 1024 * 1024;
const MAX_RSS_GROWTH = 10 * 1024 * 1024;
const LARGE_PACK_MIN = 100 * 1000 * 1000;

interface Size {
  label: string;
  shape: ProjectShape;
}

const FULL: readonly Size[] = [
  {
    label: 'small',
    shape: { files: 1500, meanLines: 150, commits: 150, filesPerCommit: 40, binaries: 1, binaryBytes: 3 << 20, binaryRewrites: 2, binaryRewriteShare: 0.4, branches: 2, tagEvery: 25, seed: 2 },
  },
  {
    label: 'large',
    shape: { files: 8000, meanLines: 180, commits: 500, filesPerCommit: 200, binaries: 8, binaryBytes: 4 << 20, binaryRewrites: 4, binaryRewriteShare: 0.4, branches: 3, tagEvery: 25, seed: 3 },
  },
];

const QUICK: readonly Size[] = [
  {
    label: 'small',
    shape: { files: 500, meanLines: 120, commits: 60, filesPerCommit: 12, binaries: 1, binaryBytes: 1 << 20, binaryRewrites: 1, binaryRewriteShare: 0.4, branches: 1, tagEvery: 20, seed: 1 },
  },
  {
    label: 'large',
    shape: { files: 2500, meanLines: 150, commits: 150, filesPerCommit: 60, binaries: 2, binaryBytes: 3 << 20, binaryRewrites: 2, binaryRewriteShare: 0.4, branches: 2, tagEvery: 25, seed: 4 },
  },
];

export interface Measured {
  wallMillis: number;
  cpuMillis: number | null;
  peakRssBytes: number | null;
  /** Response bytes the server sent from the source, request bytes it took into the target. */
  fromSource: number;
  intoTarget: number;
  /** Local disk the method needed (the mirror clone); 0 for git-sync. */
  diskBytes: number;
  /** git-sync: the relay's fetch and push requests, first start to last end, as the server saw them. */
  relayMillis: number | null;
  /** Date.now() when the measured process(es) started, to line up with the server's log. */
  startedAtEpoch: number;
  detail: string;
}

export interface Harness {
  server: GitHttpServer;
  /** Scratch space for mirror clones. */
  scratch: string;
  nextTarget: number;
}

/** Response bytes the server sent for the source repository, request bytes it took into the target. */
export function wireBytes(server: GitHttpServer, sourceName: string, targetName: string): { fromSource: number; intoTarget: number } {
  let fromSource = 0;
  let intoTarget = 0;
  for (const entry of server.requests) {
    if (entry.kind.repo === sourceName) fromSource += entry.responseBytes;
    if (entry.kind.repo === targetName) intoTarget += entry.requestBytes;
  }
  return { fromSource, intoTarget };
}

async function freshTarget(harness: Harness): Promise<{ name: string; path: string }> {
  const name = `target-${harness.nextTarget++}`;
  return { name: `${name}.git`, path: await initBare(harness.server.root, name) };
}

export async function runGitMirror(harness: Harness, sourceName: string, sourcePath: string): Promise<Measured> {
  const { server } = harness;
  const target = await freshTarget(harness);
  const mirror = join(harness.scratch, `mirror-${harness.nextTarget}.git`);
  const env = isolatedGitEnv();
  server.clearLog();
  const startedAtEpoch = Date.now();
  try {
    const clone = await runChecked('git', ['clone', '--mirror', '--quiet', server.url(sourceName), mirror], { env });
    const push = await runChecked('git', ['push', '--mirror', '--quiet', server.url(target.name)], { cwd: mirror, env });
    await server.idle();
    await assertSameRefs(sourcePath, target.path, 'git clone --mirror + push --mirror');
    const cpu = clone.cpuMillis === null || push.cpuMillis === null ? null : clone.cpuMillis + push.cpuMillis;
    const rss = clone.maxRssBytes === null || push.maxRssBytes === null ? null : Math.max(clone.maxRssBytes, push.maxRssBytes);
    return {
      wallMillis: clone.wallMillis + push.wallMillis,
      cpuMillis: cpu,
      peakRssBytes: rss,
      ...wireBytes(server, sourceName, target.name),
      diskBytes: await diskUsage(mirror),
      relayMillis: null,
      startedAtEpoch,
      detail: `clone ${(clone.wallMillis / 1000).toFixed(2)} s + push ${(push.wallMillis / 1000).toFixed(2)} s`,
    };
  } finally {
    await rm(mirror, { recursive: true, force: true });
    await rm(target.path, { recursive: true, force: true });
  }
}

export async function runGitSyncBootstrap(harness: Harness, sourceName: string, sourcePath: string, checkConnectivity: boolean): Promise<Measured> {
  const { server } = harness;
  const target = await freshTarget(harness);
  server.clearLog();
  const startedAtEpoch = Date.now();
  try {
    const run = await runGitSync('bootstrap', ['--tags', server.url(sourceName), server.url(target.name)]);
    await server.idle();
    const refs = await assertSameRefs(sourcePath, target.path, 'git-sync bootstrap --tags');
    if (run.result.relayMode !== 'bootstrap' || run.result.pushed !== refs) {
      throw new Error(`git-sync bootstrap: expected relayMode bootstrap and ${refs} refs pushed, got ${run.result.relayMode} and ${run.result.pushed}`);
    }
    // Equal refs could still hide a missing object if the target skipped its own check.
    if (checkConnectivity) await git(['fsck', '--connectivity-only', '--no-progress'], { cwd: target.path });
    const fetch = run.stats.phases['source fetch'];
    const push = run.stats.phases['target push'];
    return {
      wallMillis: run.child.wallMillis,
      cpuMillis: run.child.cpuMillis,
      peakRssBytes: run.peakRssBytes,
      ...wireBytes(server, sourceName, target.name),
      diskBytes: 0,
      relayMillis: relayWindow(server, sourceName, target.name),
      startedAtEpoch,
      detail: `fetch ${fetch?.requests ?? 0} request(s), push ${push?.requests ?? 0}; ru_maxrss ${run.child.maxRssBytes === null ? 'n/a' : mib(run.child.maxRssBytes)}`,
    };
  } finally {
    await rm(target.path, { recursive: true, force: true });
  }
}

interface SizeResult {
  size: Size;
  meta: ProjectRepo;
  git: Measured[];
  gitSync: Measured[];
}

function combined(values: readonly Measured[], key: 'cpuMillis' | 'peakRssBytes'): number | null {
  const known = values.map((v) => v[key]).filter((v): v is number => v !== null);
  if (known.length === 0) return null;
  return key === 'peakRssBytes' ? Math.max(...known) : median(known);
}

function sizeTable(result: SizeResult, runs: number): Table {
  const row = (method: string, values: readonly Measured[]): string[] => {
    const cpu = combined(values, 'cpuMillis');
    const rss = combined(values, 'peakRssBytes');
    return [
      method,
      spread(values.map((v) => v.wallMillis)),
      cpu === null ? 'n/a' : `${(cpu / 1000).toFixed(1)} s`,
      rss === null ? 'n/a' : mib(rss),
      size(values[0]!.fromSource),
      size(values[0]!.intoTarget),
      values[0]!.diskBytes === 0 ? '-' : size(values[0]!.diskBytes),
      values[Math.floor(values.length / 2)]!.detail,
    ];
  };
  const { meta } = result;
  return {
    title: `${result.size.label}: ${mib(meta.packBytes)} pack, ${count(meta.objects)} objects, ${count(meta.commits)} commits, ${meta.refs} refs; ${runs} run(s) each, median (min-max)`,
    columns: ['method', 'wall', 'client CPU', 'peak RSS', 'source sent', 'target took', 'local disk', 'detail'],
    rows: [row('git clone --mirror + push --mirror', result.git), row('git-sync bootstrap --tags', result.gitSync)],
  };
}

/**
 * From the server's log: from the first of the relay's two requests (the source fetch, the
 * target push) starting to the last one ending.
 */
export function relayWindow(server: GitHttpServer, sourceName: string, targetName: string): number | null {
  const posts = server.requests.filter((entry) => entry.method === 'POST');
  const fetch = posts.filter((entry) => entry.kind.repo === sourceName && entry.kind.service === 'git-upload-pack').at(-1);
  const push = posts.find((entry) => entry.kind.repo === targetName && entry.kind.service === 'git-receive-pack');
  if (!fetch || !push) return null;
  const start = Math.min(fetch.startedAt, push.startedAt);
  return Math.max(fetch.startedAt + fetch.durationMs, push.startedAt + push.durationMs) - start;
}

/** Median wall time of `node -e 0`: the start-up any Node.js CLI pays before its first line runs. */
export async function bareNodeStart(): Promise<number> {
  const walls: number[] = [];
  for (let i = 0; i < 7; i++) walls.push((await runChecked(process.execPath, ['-e', '0'])).wallMillis);
  return median(walls);
}

export const scenario: Scenario = {
  name: 'relay',
  description: 'bootstrap relay vs git clone --mirror + git push --mirror, small and large repository',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const sizes = context.quick ? QUICK : FULL;
    const repos: { size: Size; dir: string; meta: ProjectRepo }[] = [];
    for (const s of sizes) {
      const key = `relay-${s.label}-${Object.values(s.shape).join('_')}-v1`;
      const { dir, meta } = await cached(context.cacheDir, key, (into) => generateProjectHistory(into, s.shape), context.log);
      repos.push({ size: s, dir, meta });
    }

    const root = makeTempDir('git-sync-bench-relay-');
    const scratch = makeTempDir('git-sync-bench-mirror-');
    const server = await startGitHttpServer({ root: root.path });
    const harness: Harness = { server, scratch: scratch.path, nextTarget: 1 };
    const results: SizeResult[] = [];
    try {
      for (const { size: s, dir, meta } of repos) {
        const sourceName = `source-${s.label}.git`;
        const sourcePath = join(dir, meta.repo);
        await symlink(sourcePath, join(root.path, sourceName));
        const result: SizeResult = { size: s, meta, git: [], gitSync: [] };
        for (let r = 0; r < context.runs; r++) {
          // Alternate which goes first, so neither always meets the colder cache.
          const order = r % 2 === 0 ? (['git', 'git-sync'] as const) : (['git-sync', 'git'] as const);
          for (const method of order) {
            context.log(`relay ${s.label}: ${method} run ${r + 1}/${context.runs}`);
            if (method === 'git') result.git.push(await runGitMirror(harness, sourceName, sourcePath));
            else result.gitSync.push(await runGitSyncBootstrap(harness, sourceName, sourcePath, r === 0));
          }
        }
        results.push(result);
      }
    } finally {
      await server.close();
      await root.remove();
      await scratch.remove();
    }

    const nodeStart = await bareNodeStart();
    const floors: string[][] = [];
    const goals: Goal[] = [];
    const summary: string[][] = [];
    for (const result of results) {
      const gitWall = median(result.git.map((m) => m.wallMillis));
      const syncWall = median(result.gitSync.map((m) => m.wallMillis));
      const peak = combined(result.gitSync, 'peakRssBytes') ?? Number.NaN;
      summary.push([result.size.label, mib(result.meta.packBytes), `${(gitWall / 1000).toFixed(2)} s`, `${(syncWall / 1000).toFixed(2)} s`, ratio(syncWall / gitWall), mib(peak)]);
      const relay = median(result.gitSync.map((m) => m.relayMillis ?? Number.NaN));
      floors.push([
        result.size.label,
        `${(nodeStart / 1000).toFixed(2)} s`,
        `${(relay / 1000).toFixed(2)} s`,
        `${((nodeStart + relay) / 1000).toFixed(2)} s`,
        ratio((nodeStart + relay) / gitWall),
        `${((MAX_RATIO * gitWall) / 1000).toFixed(2)} s`,
      ]);
      goals.push({ label: `${result.size.label}: wall git-sync / git`, expected: `<= ${MAX_RATIO}`, measured: ratio(syncWall / gitWall), pass: syncWall / gitWall <= MAX_RATIO });
      goals.push({ label: `${result.size.label}: git-sync peak RSS`, expected: `< ${mib(MAX_RSS)}`, measured: mib(peak), pass: peak < MAX_RSS });
    }
    const small = combined(results[0]!.gitSync, 'peakRssBytes') ?? Number.NaN;
    const large = combined(results[results.length - 1]!.gitSync, 'peakRssBytes') ?? Number.NaN;
    goals.push({ label: 'git-sync peak RSS flat in size (large - small)', expected: `<= ${mib(MAX_RSS_GROWTH)}`, measured: mib(large - small), pass: large - small <= MAX_RSS_GROWTH });
    const largeMeta = results[results.length - 1]!.meta;
    if (!context.quick) {
      goals.push({ label: 'large repository pack size', expected: `> ${(LARGE_PACK_MIN / 1e6).toFixed(0)} MB`, measured: `${(largeMeta.packBytes / 1e6).toFixed(1)} MB`, pass: largeMeta.packBytes > LARGE_PACK_MIN });
    }
    return {
      scenario: 'relay',
      tables: [
        ...results.map((result) => sizeTable(result, context.runs)),
        { title: 'summary (medians)', columns: ['size', 'pack', 'git', 'git-sync', 'ratio', 'git-sync peak RSS'], rows: summary },
        {
          title: 'what no client can go under: a bare node start plus the relay request (the servers stream, index and report)',
          columns: ['size', 'node -e 0', 'relay request', 'sum', 'sum / git', 'goal (0.6 x git)'],
          rows: floors,
        },
      ],
      goals,
      notes: [
        'wall = whole processes, startup included (git: clone + push; git-sync: one bootstrap); client CPU = user+sys of those processes (GNU time), the server side (upload-pack, receive-pack, index-pack) is not in it',
        'peak RSS: git-sync = --measure-memory (sampled RSS and ru_maxrss), highest of the runs; git = ru_maxrss of the largest git process of clone or push',
        'source sent / target took = bytes the loopback server logged for the source and the target repository; local disk = the mirror clone the baseline writes',
        'relay request = from the fetch or push request starting to the last of them ending, in the server\'s log: the source packing and streaming, the target indexing the pack (`Resolving deltas` comes after the last byte), checking connectivity and updating refs; git-sync\'s own work in it is the small client CPU above',
        'every run: fresh empty target, refs compared with the source (for-each-ref) after it; the first git-sync run per size also runs fsck --connectivity-only on the target',
        ...(context.quick ? ['--quick: smaller repositories (the large one is not over 100 MB) and one run each'] : []),
      ],
    };
  },
};
