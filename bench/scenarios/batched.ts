/**
 * `batched` scenario (issues 5 and 18): batched bootstraps of the large `relay` repository (over
 * 100 MB of pack) through one loopback `git http-backend`, under two limits: half the pack (two
 * batches) and a tenth of it (about ten), against
 * - what people do today under a push limit, as hosts document it: a full `git clone --mirror`,
 *   then `git push` of first-parent ranges of the default branch one after another (as many as
 *   git-sync's batches, equal in commits), then `git push --mirror` for the other refs;
 * - the one-shot bootstrap of the same repository;
 * - the floor: the source's own `git pack-objects` for the same first-parent slices plus the
 *   target's `git index-pack` of them, one after another, no network. Slices after the first
 *   are thin, as the relay's batches are (docs/protocol.md, "Thin packs"); the self-contained
 *   slices are shown too, for the re-delta cost thin packs take away;
 * - how much better cut points could keep delta chains inside a batch: the bytes each cut
 *   separates from their newer on-disk delta base, at the slices' cuts and at the best cuts
 *   within half a slice (`lib/delta-cuts.ts`).
 * Fresh empty target each run; its refs must equal the source's after every run, and no
 * checkpoint ref may be left.
 *
 * Goals: batched wall <= 0.7 x (mirror clone + chunked pushes); batched wall <= 1.3 x the floor;
 * batched peak RSS under 100 MiB.
 */
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { git, gitRaw, makeTempDir } from '../../test/helpers/git.js';
import { startGitHttpServer } from '../../test/helpers/http-server.js';
import { generateProjectHistory, type ProjectShape } from '../generate/project-history.js';
import { cached } from '../lib/cache.js';
import { deltaCuts, type DeltaCuts } from '../lib/delta-cuts.js';
import { runGitSync } from '../lib/git-sync.js';
import { quote, runChecked, shell } from '../lib/process.js';
import { median, mib, ratio, seconds, spread, type Goal, type ScenarioReport } from '../lib/report.js';
import { assertSameRefs, forEachRef, initBare, isolatedGitEnv } from '../lib/repos.js';
import type { Scenario, ScenarioContext } from '../lib/scenario.js';
import type { BatchRecord } from '../../src/execute/batched.js';

const MAX_CHUNKED_RATIO = 0.7;
const MAX_FLOOR_RATIO = 1.3;
const MAX_RSS = 100 * 1024 * 1024;
interface History {
  label: string;
  /** The `relay` scenario's name for the same shape, so the cache is shared. */
  cacheLabel: string;
  shape: ProjectShape;
  /** The limit: this fraction of the pack (or the largest commit, if bigger). */
  split: number;
}

// The first shapes are the `relay` scenario's large and quick ones (the same cached repositories):
// their initial import is a large share of the pack, so their limit is about half of it. The
// others grow by binary rewrites over a small import: about ten batches.
const FULL: readonly History[] = [
  { label: 'large, limit ~1/2', cacheLabel: 'large', split: 2, shape: { files: 8000, meanLines: 180, commits: 500, filesPerCommit: 200, binaries: 8, binaryBytes: 4 << 20, binaryRewrites: 4, binaryRewriteShare: 0.4, branches: 3, tagEvery: 25, seed: 3 } },
  { label: 'grown by rewrites, limit ~1/10', cacheLabel: 'rewrites', split: 10, shape: { files: 2000, meanLines: 150, commits: 600, filesPerCommit: 30, binaries: 8, binaryBytes: 4 << 20, binaryRewrites: 8, binaryRewriteShare: 0.4, branches: 3, tagEvery: 25, seed: 5 } },
];
const QUICK: readonly History[] = [
  { label: 'quick, limit ~1/2', cacheLabel: 'quick', split: 2, shape: { files: 2500, meanLines: 150, commits: 150, filesPerCommit: 60, binaries: 2, binaryBytes: 3 << 20, binaryRewrites: 2, binaryRewriteShare: 0.4, branches: 2, tagEvery: 25, seed: 4 } },
  { label: 'quick grown by rewrites, limit ~1/10', cacheLabel: 'quick-rewrites', split: 10, shape: { files: 500, meanLines: 120, commits: 150, filesPerCommit: 12, binaries: 2, binaryBytes: 2 << 20, binaryRewrites: 6, binaryRewriteShare: 0.4, branches: 1, tagEvery: 25, seed: 6 } },
];

interface Run {
  wallMillis: number;
  peakRssBytes: number;
  batches: number;
  planned: number;
  /** Where each batch's time went, as git-sync's JSON reports it (docs/json.md, "A batch entry"). */
  records: BatchRecord[];
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

interface SliceFloor {
  slices: number;
  /** The source's pack-objects for the slices, self-contained, one after another. */
  selfContainedMillis: number;
  selfContainedBytes: number;
  /** The same, thin after the first (as the relay's batches are), and the target's index-pack of them. */
  thinMillis: number;
  thinBytes: number;
  indexMillis: number;
  /** The whole history in one pack (reuses the on-disk pack). */
  wholeMillis: number;
  wholeBytes: number;
}

/** The first-parent history of the default branch cut into `slices` ranges of equal commit counts. */
async function sliceEnds(repoDir: string, slices: number): Promise<string[]> {
  const commits = (await git(['rev-list', '--first-parent', '--reverse', 'HEAD'], { cwd: repoDir })).split('\n').filter(Boolean);
  return Array.from({ length: slices }, (_, i) => commits[Math.round(((i + 1) * commits.length) / slices) - 1]!);
}

/**
 * What the servers themselves spend on the slices, with no network and no client: the source's
 * `git pack-objects` for each first-parent slice (self-contained, then thin against the slices
 * before it, as the relay asks: `--thin` with the filter that makes it walk objects), and the
 * target's `git index-pack --fix-thin` of each thin slice into a repository holding the slices
 * before it. No batched relay of this history can take less than the thin packing plus the
 * indexing, whatever the client does.
 */
async function sliceFloor(repoDir: string, scratch: string, ends: readonly string[]): Promise<SliceFloor> {
  const slices = ends.length;
  const floorRepo = await initBare(scratch, `floor-${slices}`);
  const packFile = join(scratch, 'slice.pack');
  const timed = async (script: string, cwd: string): Promise<{ millis: number; out: string }> => {
    const started = performance.now();
    const out = await shell(script, { cwd });
    return { millis: performance.now() - started, out };
  };
  const floor: SliceFloor = { slices, selfContainedMillis: 0, selfContainedBytes: 0, thinMillis: 0, thinBytes: 0, indexMillis: 0, wholeMillis: 0, wholeBytes: 0 };
  let previous: string | null = null;
  for (const end of ends) {
    const revs = `printf '%s\\n' ${quote(end)}${previous === null ? '' : ` ${quote(`^${previous}`)}`}`;
    const whole = await timed(`${revs} | git pack-objects --revs --stdout -q --delta-base-offset | wc -c`, repoDir);
    floor.selfContainedMillis += whole.millis;
    floor.selfContainedBytes += Number(whole.out);
    const thinArgs = previous === null ? '' : ' --thin --filter=tree:2147483647';
    const thin = await timed(`${revs} | git pack-objects --revs --stdout -q --delta-base-offset${thinArgs} > ${quote(packFile)} && wc -c < ${quote(packFile)}`, repoDir);
    floor.thinMillis += thin.millis;
    floor.thinBytes += Number(thin.out);
    const index = await timed(`git index-pack --stdin --fix-thin < ${quote(packFile)} > /dev/null && git update-ref refs/heads/floor ${quote(end)}`, floorRepo);
    floor.indexMillis += index.millis;
    previous = end;
  }
  await rm(packFile, { force: true });
  await rm(floorRepo, { recursive: true, force: true });
  const whole = await timed(`git for-each-ref --format='%(objectname)' | git pack-objects --revs --stdout -q | wc -c`, repoDir);
  floor.wholeMillis = whole.millis;
  floor.wholeBytes = Number(whole.out);
  return floor;
}

interface Chunked {
  wallMillis: number;
  peakRssBytes: number | null;
  pushes: number;
}

/**
 * The documented workaround for a push limit: a full mirror clone, then the default branch
 * pushed in first-parent ranges one after another, then `push --mirror` for everything else.
 */
async function runChunkedPushes(sourceUrl: string, targetUrl: string, scratch: string, slices: number, name: string): Promise<Chunked> {
  const mirror = join(scratch, `${name}.git`);
  const env = isolatedGitEnv();
  let wall = 0;
  let rss = 0;
  const step = async (args: string[], cwd?: string): Promise<void> => {
    const run = await runChecked('git', args, { cwd, env });
    wall += run.wallMillis;
    rss = Math.max(rss, run.maxRssBytes ?? 0);
  };
  try {
    await step(['clone', '--mirror', '--quiet', sourceUrl, mirror]);
    const started = performance.now();
    const head = (await git(['symbolic-ref', 'HEAD'], { cwd: mirror })).trim();
    const ends = await sliceEnds(mirror, slices);
    wall += performance.now() - started;
    for (const end of ends) await step(['push', '--quiet', targetUrl, `${end}:${head}`], mirror);
    await step(['push', '--mirror', '--quiet', targetUrl], mirror);
    return { wallMillis: wall, peakRssBytes: rss === 0 ? null : rss, pushes: ends.length + 1 };
  } finally {
    await rm(mirror, { recursive: true, force: true });
  }
}

interface Measured {
  history: History;
  packBytes: number;
  largestCommit: number;
  limit: number;
  oneShot: Run[];
  batched: Run[];
  chunked: Chunked[];
  floor: SliceFloor | null;
  cuts: DeltaCuts | null;
  /** The floor again with the slices cut at `cuts.bestEnds`. */
  bestCutFloor: SliceFloor | null;
}

async function measureHistory(context: ScenarioContext, history: History): Promise<Measured> {
  const key = `relay-${history.cacheLabel}-${Object.values(history.shape).join('_')}-v1`;
  const { dir, meta } = await cached(context.cacheDir, key, (into) => generateProjectHistory(into, history.shape), context.log);
  const sourcePath = join(dir, meta.repo);
  // Checkpoints are whole commits: the limit must hold the largest one (the initial import).
  const largestCommit = await largestCommitPack(sourcePath);
  const limit = Math.max(Math.ceil(meta.packBytes / history.split), Math.ceil(largestCommit * 1.25)) + 256 * 1024;
  const root = makeTempDir('git-sync-bench-batched-');
  const scratch = makeTempDir('git-sync-bench-batched-scratch-');
  const server = await startGitHttpServer({ root: root.path });
  const measured: Measured = { history, packBytes: meta.packBytes, largestCommit, limit, oneShot: [], batched: [], chunked: [], floor: null, cuts: null, bestCutFloor: null };
  let next = 1;
  const target = async (): Promise<{ name: string; path: string }> => {
    const name = `target-${next++}`;
    return { name, path: await initBare(root.path, name) };
  };
  const bootstrap = async (method: string, extra: string[]): Promise<Run> => {
    const { name, path } = await target();
    const run = await runGitSync('bootstrap', ['--tags', ...extra, server.url('source'), server.url(`${name}.git`)]);
    await server.idle();
    await assertSameRefs(sourcePath, path, `git-sync bootstrap (${method})`);
    const leftovers = await forEachRef(path, ['refs/gitsync/']);
    if (leftovers.size > 0) throw new Error(`${method}: ${leftovers.size} refs/gitsync/* left on the target`);
    await rm(path, { recursive: true, force: true });
    return { wallMillis: run.child.wallMillis, peakRssBytes: run.peakRssBytes ?? Number.NaN, batches: run.result.batchCount, planned: run.result.plannedBatchCount, records: run.result.batches };
  };
  const chunked = async (): Promise<Chunked> => {
    const { name, path } = await target();
    const run = await runChunkedPushes(server.url('source'), server.url(`${name}.git`), scratch.path, measured.batched[0]!.batches, `mirror-${next}`);
    await server.idle();
    await assertSameRefs(sourcePath, path, 'mirror clone + chunked pushes');
    await rm(path, { recursive: true, force: true });
    return run;
  };
  try {
    await symlink(sourcePath, join(root.path, 'source.git'));
    for (let r = 0; r < context.runs; r++) {
      context.log(`batched ${history.label}: one-shot run ${r + 1}/${context.runs}`);
      measured.oneShot.push(await bootstrap('one-shot', []));
      // The chunked pushes take as many ranges as git-sync made batches: batched goes first.
      context.log(`batched ${history.label}: batched run ${r + 1}/${context.runs}`);
      measured.batched.push(await bootstrap('batched', ['--target-max-pack-bytes', String(limit)]));
      context.log(`batched ${history.label}: mirror clone + chunked pushes run ${r + 1}/${context.runs}`);
      measured.chunked.push(await chunked());
    }
    context.log(`batched ${history.label}: the servers' floor`);
    const slices = Math.round(median(measured.batched.map((run) => run.batches)));
    measured.floor = await sliceFloor(sourcePath, scratch.path, await sliceEnds(sourcePath, slices));
    context.log(`batched ${history.label}: delta chains across cut points`);
    measured.cuts = await deltaCuts(sourcePath, slices);
    measured.bestCutFloor = await sliceFloor(sourcePath, scratch.path, measured.cuts.bestEnds);
  } finally {
    await server.close();
    await root.remove();
    await scratch.remove();
  }
  return measured;
}

export const scenario: Scenario = {
  name: 'batched',
  description: 'batched bootstraps (~2 and ~10 checkpoints) vs mirror clone + chunked pushes, the one-shot bootstrap, and the servers\' own floor',
  async run(context: ScenarioContext): Promise<ScenarioReport> {
    const results: Measured[] = [];
    for (const history of context.quick ? QUICK : FULL) results.push(await measureHistory(context, history));
    const goals: Goal[] = [];
    const rows: string[][] = [];
    const floorRows: string[][] = [];
    const batchRows: string[][] = [];
    const cutRows: string[][] = [];
    for (const result of results) {
      const { history } = result;
      const floor = result.floor!;
      const tag = `${history.label}: ${mib(result.packBytes)} pack, largest commit ${mib(result.largestCommit)}, limit ${mib(result.limit)}`;
      const oneWall = median(result.oneShot.map((run) => run.wallMillis));
      const batchWall = median(result.batched.map((run) => run.wallMillis));
      const chunkedWall = median(result.chunked.map((run) => run.wallMillis));
      const batchRss = Math.max(...result.batched.map((run) => run.peakRssBytes));
      const chunkedRss = Math.max(...result.chunked.map((run) => run.peakRssBytes ?? 0));
      const floorMillis = floor.thinMillis + floor.indexMillis;
      rows.push(
        [tag, 'one-shot bootstrap', spread(result.oneShot.map((run) => run.wallMillis)), mib(Math.max(...result.oneShot.map((run) => run.peakRssBytes))), '-'],
        [tag, 'batched bootstrap', spread(result.batched.map((run) => run.wallMillis)), mib(batchRss), result.batched.map((run) => `${run.batches} (${run.planned})`).join(', ')],
        [tag, `mirror clone + ${result.chunked[0]!.pushes - 1} chunked pushes + push --mirror`, spread(result.chunked.map((run) => run.wallMillis)), chunkedRss === 0 ? 'n/a' : mib(chunkedRss), '-'],
      );
      floorRows.push([
        history.label,
        String(floor.slices),
        `${seconds(floor.selfContainedMillis)} (${mib(floor.selfContainedBytes)})`,
        `${seconds(floor.thinMillis)} (${mib(floor.thinBytes)})`,
        seconds(floor.indexMillis),
        seconds(floorMillis),
        `${seconds(floor.wholeMillis)} (${mib(floor.wholeBytes)})`,
        seconds(batchWall),
        ratio(batchWall / floorMillis),
        ratio(batchWall / oneWall),
      ]);
      const cuts = result.cuts!;
      cutRows.push([
        history.label,
        `${cuts.deltas} / ${cuts.newerBase}`,
        mib(cuts.equalCutBytes),
        `${mib(cuts.bestCutBytes)} (${Math.round(100 * (1 - cuts.bestCutBytes / cuts.equalCutBytes))}% less)`,
        `${mib(cuts.leastCutBytes)}-${mib(cuts.mostCutBytes)}`,
        `${seconds(floor.thinMillis)} (${mib(floor.thinBytes)})`,
        `${seconds(result.bestCutFloor!.thinMillis)} (${mib(result.bestCutFloor!.thinBytes)})`,
        `${seconds(floorMillis)} -> ${seconds(result.bestCutFloor!.thinMillis + result.bestCutFloor!.indexMillis)}`,
      ]);
      // The median batched run, batch by batch, then its sums.
      const medianRun = [...result.batched].sort((a, b) => a.wallMillis - b.wallMillis)[Math.floor(result.batched.length / 2)]!;
      const split = (record: Pick<BatchRecord, 'sourceWaitMillis' | 'transferMillis' | 'targetWaitMillis' | 'otherMillis' | 'totalMillis'>): string[] =>
        [seconds(record.sourceWaitMillis), seconds(record.transferMillis), seconds(record.targetWaitMillis), seconds(record.otherMillis), seconds(record.totalMillis)];
      for (const record of medianRun.records) {
        batchRows.push([history.label, String(record.index), String(record.commits), mib(record.packBytes), String(record.attempts), ...split(record)]);
      }
      const sum = (pick: (record: BatchRecord) => number): number => medianRun.records.reduce((total, record) => total + pick(record), 0);
      batchRows.push([
        history.label, 'all', String(sum((r) => r.commits)), mib(sum((r) => r.packBytes)), String(sum((r) => r.attempts)),
        ...split({ sourceWaitMillis: sum((r) => r.sourceWaitMillis), transferMillis: sum((r) => r.transferMillis), targetWaitMillis: sum((r) => r.targetWaitMillis), otherMillis: sum((r) => r.otherMillis), totalMillis: sum((r) => r.totalMillis) }),
      ]);
      goals.push(
        { label: `${history.label}: wall batched / (mirror clone + chunked pushes)`, expected: `<= ${MAX_CHUNKED_RATIO}`, measured: ratio(batchWall / chunkedWall), pass: batchWall / chunkedWall <= MAX_CHUNKED_RATIO },
        { label: `${history.label}: wall batched / floor`, expected: `<= ${MAX_FLOOR_RATIO}`, measured: ratio(batchWall / floorMillis), pass: batchWall / floorMillis <= MAX_FLOOR_RATIO },
        { label: `${history.label}: batched peak RSS`, expected: `< ${mib(MAX_RSS)}`, measured: mib(batchRss), pass: batchRss < MAX_RSS },
      );
    }
    return {
      scenario: 'batched',
      tables: [
        { title: `${context.runs} run(s) each, median (min-max)`, columns: ['history', 'method', 'wall', 'peak RSS', 'batches (planned)'], rows },
        {
          title: "the floor: the servers' own work on the same first-parent slices, one after another (no network, no client)",
          columns: ['history', 'slices', 'source pack-objects, self-contained', 'source pack-objects, thin after the first', 'target index-pack --fix-thin', 'floor (thin + index)', 'whole history, one pack', 'batched wall', 'batched / floor', 'batched / one-shot'],
          rows: floorRows,
        },
        {
          title: 'delta chains across cut points: inflated bytes of objects a cut separates from their newer on-disk delta base (the source re-deltifies them)',
          columns: ['history', 'deltas on disk / base newer', 'equal cuts (as the slices)', 'best cuts within half a slice', 'one cut, least-most (inner 80%)', 'source pack-objects, thin, equal cuts', 'the same, best cuts', 'floor, equal -> best cuts'],
          rows: cutRows,
        },
        {
          title: 'where the median batched run spent its time, batch by batch (from its --json `batches`)',
          columns: ['history', 'batch', 'commits', 'pack', 'attempts', 'source before first byte', 'streaming', 'target after last byte', 'other', 'total'],
          rows: batchRows,
        },
      ],
      goals,
      notes: [
        'git-sync: bootstrap --tags into a fresh empty target; refs checked with for-each-ref, no refs/gitsync/* left',
        'chunked pushes: git clone --mirror, then git push <commit>:<HEAD branch> for as many equal first-parent ranges as git-sync made batches, then git push --mirror; wall is the sum of those git processes (peak RSS their largest); the ranges are equal in commits, not checked against the limit (the bench target has none)',
        'per batch: "source before first byte" is the source counting and starting to pack; "streaming" is both sides moving bytes (the source packing as it goes, the target reading); "target after last byte" is its index-pack, checks and ref updates; "other" is ranges that did not fit and planning between pushes; the time before the first batch (listing, the checkpoint walk) is in the wall but in no batch',
        'floor: self-contained slices must re-deflate and re-delta every object whose delta base lies in a later slice; thin slices may keep deltas against earlier slices (the relay asks for them after its first batch); the target indexes each thin slice with --fix-thin into a repository holding the slices before it; the whole history in one pack reuses the on-disk pack (bitmaps)',
        'delta chains: each object is placed at the first-parent commit that introduces it; a cut after commit p separates an object from its on-disk base when the object comes at or before p and the base after it (bench/lib/delta-cuts.ts); git keeps the newest version whole and deltifies older ones against it, so every file edited on both sides of a cut straddles it wherever the cut goes',
      ],
    };
  },
};
