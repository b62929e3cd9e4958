/**
 * Long histories made of commits only: a linear `main` with a side commit merged back every
 * thousand commits, every commit but the first reusing one tree, generated with one streaming
 * fast-import. Two uses:
 *
 * - `generateFastForward`: a source with a base history plus N new commits on `main` (each
 *   editing one of a few hundred small files), and a target holding only the base;
 * - `generateCommitsPack`: a pack of nothing but commits (`git rev-list --all | git
 *   pack-objects --stdout` packs exactly the listed objects), for timing the commit extractor.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FastImport } from '../lib/fast-import.js';
import { quote, shell } from '../lib/process.js';
import { git, initBare, isolatedGitEnv, packBytes } from '../lib/repos.js';

const EPOCH = 1_500_000_000;
/** A side commit forks from main this many commits back and is merged this often. */
const MERGE_EVERY = 1000;
const SIDE_FORK_BACK = 10;
const SMALL_FILES = 200;

export interface FastForwardRepos {
  source: string;
  target: string;
  baseTip: string;
  newTip: string;
  newCommits: number;
  /** `git rev-list base..new | git pack-objects`: what a `filter tree:0` fetch should send. */
  commitsOnlyPackBytes: number;
  /** `pack-objects --revs new ^base`: what an unfiltered fetch sends. */
  rangePackBytes: number;
}

function smallFile(i: number, revision: number): [string, string] {
  const path = `src/dir${i % 20}/file${i}.txt`;
  const lines = Array.from({ length: 12 }, (_, l) => `line ${l} of file ${i}: ${l === revision % 12 ? `revision ${revision}` : 'unchanged text'}`);
  return [path, `${lines.join('\n')}\n`];
}

/** Appends `count` commits to main (one small file edited each), starting after commit `first`. */
async function appendEdits(repoDir: string, first: number, count: number, from: string | null): Promise<void> {
  const importer = FastImport.start(repoDir);
  for (let k = 0; k < count; k++) {
    const n = first + k;
    const files: [string, string][] = n === 0 ? Array.from({ length: SMALL_FILES }, (_, i) => smallFile(i, 0)) : [smallFile(n % SMALL_FILES, n)];
    await importer.commit({
      ref: 'refs/heads/main',
      date: EPOCH + n * 60,
      message: `commit ${n}\n`,
      ...(k === 0 && from !== null ? { from } : {}),
      files,
    });
  }
  await importer.finish();
}

export async function generateFastForward(dir: string, baseCommits: number, newCommits: number): Promise<FastForwardRepos> {
  const source = await initBare(dir, 'src');
  const target = await initBare(dir, 'tgt');
  await appendEdits(source, 0, baseCommits, null);
  await git(['push', '--quiet', '--mirror', target], { cwd: source });
  await appendEdits(source, baseCommits, newCommits, 'refs/heads/main^0');
  for (const repo of [source, target]) await git(['repack', '-a', '-d', '-f', '-q'], { cwd: repo });
  const baseTip = await git(['rev-parse', 'refs/heads/main'], { cwd: target });
  const newTip = await git(['rev-parse', 'refs/heads/main'], { cwd: source });
  const env = isolatedGitEnv();
  const commitsOnly = await shell(`git rev-list ${baseTip}..${newTip} | git pack-objects --stdout -q | wc -c`, { cwd: source, env });
  const range = await shell(`printf '%s\\n^%s\\n' ${newTip} ${baseTip} | git pack-objects --revs --stdout -q | wc -c`, { cwd: source, env });
  return {
    source: 'src.git',
    target: 'tgt.git',
    baseTip,
    newTip,
    newCommits,
    commitsOnlyPackBytes: Number(commitsOnly),
    rangePackBytes: Number(range),
  };
}

export interface CommitsPack {
  /** File name of the pack inside the cache entry. */
  pack: string;
  commits: number;
  merges: number;
  packBytes: number;
  /** The generating repository's own pack (deleted once the commits pack is written). */
  repoPackBytes: number;
}

/** `total` commits in all: main, plus a side commit merged back every MERGE_EVERY. */
export async function generateCommitsPack(dir: string, total: number): Promise<CommitsPack> {
  const repoDir = await initBare(dir, 'history');
  const importer = FastImport.start(repoDir);
  let written = 0;
  let merges = 0;
  let mainIndex = 0;
  let sideMark = 0;
  // Marks only where a side commit forks (mark 1, 2, ... reused) and for the side commit.
  const FORK_MARK = 1;
  const SIDE_MARK = 2;
  while (written < total) {
    const i = mainIndex++;
    const isFork = i % MERGE_EVERY === MERGE_EVERY - SIDE_FORK_BACK;
    const mergesSide = i % MERGE_EVERY === 0 && sideMark !== 0;
    await importer.commit({
      ref: 'refs/heads/main',
      ...(isFork ? { mark: FORK_MARK } : {}),
      date: EPOCH + written,
      message: mergesSide ? `Merge side ${i / MERGE_EVERY}\n` : `commit ${i} on main\n`,
      ...(mergesSide ? { merges: [`:${SIDE_MARK}`] } : {}),
      files: i === 0 ? [['README', 'a long history\n']] : [],
    });
    written += 1;
    if (mergesSide) {
      merges += 1;
      sideMark = 0;
    }
    if (isFork && written < total) {
      await importer.commit({ ref: 'refs/heads/side', mark: SIDE_MARK, date: EPOCH + written, message: `side work before ${i + SIDE_FORK_BACK}\n`, from: `:${FORK_MARK}` });
      written += 1;
      sideMark = SIDE_MARK;
    }
  }
  await importer.finish();
  const commits = Number(await git(['rev-list', '--all', '--count'], { cwd: repoDir }));
  if (commits !== total) throw new Error(`generated ${commits} commits, wanted ${total}`);
  const repoPackBytes = await packBytes(repoDir);
  const pack = 'commits.pack';
  await shell(`git rev-list --all | git pack-objects --stdout -q > ${quote(join(dir, pack))}`, { cwd: repoDir, env: isolatedGitEnv() });
  const packSize = Number(await shell(`wc -c < ${quote(join(dir, pack))}`));
  await rm(repoDir, { recursive: true, force: true });
  return { pack, commits, merges, packBytes: packSize, repoPackBytes };
}
