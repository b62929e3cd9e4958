/**
 * `plan` scenario (issue 3's goals).
 *
 * (a) Planning a fast-forward of 10,000 new commits: `git-sync plan` in its own process against
 *     the loopback `git http-backend`, the source once with `uploadpack.allowFilter=true` and once
 *     without. Counted from git-sync's `--stats`: requests to the source (info-refs + ls-refs +
 *     fetch) and, separately, fetch requests (POSTs to upload-pack that carry a `fetch` command or
 *     v1 wants); the server's own request log is the cross-check. Goal: at most two source fetch
 *     requests. With the filter, the fetch should carry commits only, about the size of
 *     `git rev-list base..new | git pack-objects`.
 * (b) Parsing a history of 1,000,000 commits: a commits-only pack read from a file by
 *     `extractCommits` in a child process. Goal: peak RSS under 150 MiB.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGitHttpServer, type GitHttpServer } from '../../test/helpers/http-server.js';
import type { ParseCommitsOutput } from '../child/parse-commits.js';
import { generateCommitsPack, generateFastForward, type FastForwardRepos } from '../generate/long-history.js';
import { cached } from '../lib/cache.js';
import { runGitSync } from '../lib/git-sync.js';
import { runChecked } from '../lib/process.js';
import { count, mib, ratio, seconds, size, spread, type Goal, type ScenarioReport, type Table } from '../lib/report.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';

const PARSE_CHILD = fileURLToPath(new URL('../child/parse-commits.js', import.meta.url));
const MAX_FETCH_REQUESTS = 2;
const MAX_PARSE_RSS = 150 * 1024 * 1024;
/** The parse is one long run (its figures barely move between runs); this stops a pathological one. */
const PARSE_TIMEOUT_MILLIS = 5 * 60 * 1000;

interface Sizes {
  baseCommits: number;
  newCommits: number;
  longHistory: number;
}

const FULL: Sizes = { baseCommits: 2_000, newCommits: 10_000, longHistory: 1_000_000 };
const QUICK: Sizes = { baseCommits: 500, newCommits: 10_000, longHistory: 100_000 };

interface PlanRun {
  wallMillis: number;
  peakRssBytes: number;
  infoRefs: number;
  lsRefs: number;
  fetches: number;
  bytesFromSource: number;
  fetchResponseBytes: number;
  /** Requests the server logged for the source repository, by phase. */
  serverAdvertisements: number;
  serverRpcs: number;
  decisions: string[];
}

async function planOnce(server: GitHttpServer, repos: FastForwardRepos): Promise<PlanRun> {
  server.clearLog();
  const run = await runGitSync('plan', ['--verbose', server.url(repos.source), server.url(repos.target)]);
  await server.idle();
  const main = run.result.plans.find((p) => p.targetRef === 'refs/heads/main');
  if (run.result.plans.length !== 1 || main?.action !== 'update' || main.forced || main.sourceHash !== repos.newTip || main.targetHash !== repos.baseTip) {
    throw new Error(`plan should be one fast-forward of main ${repos.baseTip} -> ${repos.newTip}; got ${JSON.stringify(run.result.plans)}`);
  }
  const phase = (name: string) => run.stats.phases[name] ?? { requests: 0, responseBytes: 0 };
  const sourceLog = server.requests.filter((entry) => entry.kind.repo === repos.source);
  return {
    wallMillis: run.child.wallMillis,
    peakRssBytes: run.peakRssBytes,
    infoRefs: phase('source info-refs').requests,
    lsRefs: phase('source ls-refs').requests,
    fetches: phase('source fetch').requests,
    bytesFromSource: run.stats.source.bytesReceived,
    fetchResponseBytes: phase('source fetch').responseBytes,
    serverAdvertisements: sourceLog.filter((entry) => entry.kind.phase === 'advertisement').length,
    serverRpcs: sourceLog.filter((entry) => entry.kind.phase === 'rpc').length,
    decisions: run.child.stderr.split('\n').filter((line) => line.includes('ancestry:')),
  };
}

async function fastForward(context: ScenarioContext, sizes: Sizes): Promise<{ table: Table; references: Table; goals: Goal[]; notes: string[] }> {
  const { dir, meta: repos } = await cached(
    context.cacheDir,
    `plan-fast-forward-base${sizes.baseCommits}-new${sizes.newCommits}-v1`,
    (into) => generateFastForward(into, sizes.baseCommits, sizes.newCommits),
    context.log,
  );
  const rows: string[][] = [];
  const goals: Goal[] = [];
  const notes: string[] = [];
  for (const filter of [true, false]) {
    const label = filter ? 'source allowFilter=true' : 'source without filter';
    const server = await startGitHttpServer({ root: dir, config: filter ? { 'uploadpack.allowFilter': 'true' } : {} });
    const runs: PlanRun[] = [];
    try {
      for (let r = 0; r < context.runs; r++) {
        context.log(`plan (a) ${label}: run ${r + 1}/${context.runs}`);
        runs.push(await planOnce(server, repos));
      }
    } finally {
      await server.close();
    }
    const first = runs[0]!;
    const sourceRequests = first.infoRefs + first.lsRefs + first.fetches;
    const peak = Math.max(...runs.map((run) => run.peakRssBytes));
    rows.push([
      label,
      `${sourceRequests} (${first.infoRefs}+${first.lsRefs}+${first.fetches})`,
      String(first.fetches),
      `${first.serverAdvertisements} GET + ${first.serverRpcs} POST`,
      size(first.bytesFromSource),
      size(first.fetchResponseBytes),
      spread(runs.map((run) => run.wallMillis)),
      mib(peak),
    ]);
    goals.push({
      label: `(a) ${label}: source fetch requests`,
      expected: `<= ${MAX_FETCH_REQUESTS}`,
      measured: String(Math.max(...runs.map((run) => run.fetches))),
      pass: runs.every((run) => run.fetches <= MAX_FETCH_REQUESTS),
    });
    if (filter) {
      // Sideband framing and the acknowledgments section add a little; a pack with trees and
      // blobs would be several times larger (see the reference row).
      const bound = repos.commitsOnlyPackBytes * 1.25 + 16 * 1024;
      goals.push({
        label: '(a) filtered fetch carries commits only',
        expected: `<= ${size(bound)} (commits-only pack x1.25 + 16 KiB)`,
        measured: size(first.fetchResponseBytes),
        pass: first.fetchResponseBytes <= bound,
      });
    }
    notes.push(`(a) ${label}: ${first.decisions.map((line) => line.replace(/^git-sync: /, '')).join(' | ') || 'no ancestry decision printed'}`);
  }
  return {
    table: {
      title: `(a) plan a fast-forward of ${count(repos.newCommits)} commits (base ${count(sizes.baseCommits)} commits), ${context.runs} run(s), median wall`,
      columns: ['source', 'requests (info-refs+ls-refs+fetch)', 'fetch requests', 'server log (source)', 'from source', 'fetch response', 'wall', 'peak RSS'],
      rows,
    },
    references: {
      title: '(a) reference packs of the new commits, made by git pack-objects',
      columns: ['pack', 'bytes'],
      rows: [
        ['commits only (rev-list base..new | pack-objects)', size(repos.commitsOnlyPackBytes)],
        ['commits, trees and blobs (pack-objects --revs new ^base)', size(repos.rangePackBytes)],
      ],
    },
    goals,
    notes,
  };
}

async function longHistory(context: ScenarioContext, sizes: Sizes): Promise<{ table: Table; goals: Goal[] }> {
  const { dir, meta } = await cached(
    context.cacheDir,
    `plan-commits-pack-${sizes.longHistory}-v1`,
    (into) => generateCommitsPack(into, sizes.longHistory),
    context.log,
  );
  context.log(`plan (b) parse ${count(meta.commits)} commits`);
  const child = await runChecked(process.execPath, [PARSE_CHILD, join(dir, meta.pack)], { timeoutMillis: PARSE_TIMEOUT_MILLIS });
  const first = JSON.parse(child.stdout) as ParseCommitsOutput;
  const parseMillis = first.elapsedMillis;
  const peak = first.peakRssBytes;
  const commitsOnly = first.summary.objects.tree === 0 && first.summary.objects.blob === 0 && first.summary.objects.tag === 0;
  return {
    table: {
      title: `(b) extractCommits over a commits-only pack of ${count(meta.commits)} commits (${count(meta.merges)} merges), read from a file, one run`,
      columns: ['commits', 'pack', 'deltas', 'parse', 'process wall', 'commits/s', 'peak RSS', 'node baseline', 'graph.byteSize', 'bytes/commit'],
      rows: [[
        count(first.commits),
        size(meta.packBytes),
        count(first.summary.deltas.ofs + first.summary.deltas.ref),
        seconds(parseMillis),
        seconds(child.wallMillis),
        count(first.commits / (parseMillis / 1000)),
        mib(peak),
        mib(first.baselineRssBytes),
        size(first.graphBytes),
        ratio(first.graphBytes / first.commits),
      ]],
    },
    goals: [
      {
        label: `(b) peak RSS parsing ${count(meta.commits)} commits`,
        expected: `< ${mib(MAX_PARSE_RSS)}`,
        measured: mib(peak),
        pass: peak < MAX_PARSE_RSS,
      },
      {
        label: '(b) every commit parsed, pack held commits only',
        expected: `${count(meta.commits)} commits, 0 trees/blobs/tags`,
        measured: `${count(first.commits)} commits, ${first.summary.objects.tree}/${first.summary.objects.blob}/${first.summary.objects.tag}`,
        pass: first.commits === meta.commits && commitsOnly,
      },
    ],
  };
}

export const scenario: Scenario = {
  name: 'plan',
  description: 'plan a 10,000-commit fast-forward (with and without filter); parse a 1,000,000-commit pack',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const sizes = context.quick ? QUICK : FULL;
    const a = await fastForward(context, sizes);
    const b = await longHistory(context, sizes);
    return {
      scenario: 'plan',
      tables: [a.table, a.references, b.table],
      goals: [...a.goals, ...b.goals],
      notes: [
        'requests = git-sync --stats phases "source info-refs" + "source ls-refs" + "source fetch"; fetch requests = the "source fetch" phase (upload-pack POSTs with a fetch command); the server log counts the same requests from the other side (GET = advertisement, POST = ls-refs or fetch)',
        'from source = every response byte from the source (advertisement, ls-refs, fetch); wall = the whole git-sync process, startup included; peak RSS = --measure-memory (sampled RSS and ru_maxrss), highest of the runs',
        ...a.notes,
        `(b) peak RSS = ru_maxrss of the child process; Node's own baseline with the modules loaded is shown beside it; pack generated with fast-import${sizes === QUICK ? ' (--quick: 100,000 commits)' : ''}`,
      ],
    };
  },
};
