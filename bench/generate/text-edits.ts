/**
 * Two states of one repository of large text files, for the incremental scenario:
 *
 * - `old.git`: a few dozen source-like text files of a few hundred KB each, with some history
 *   on `main` and a tag, repacked with `git repack -adf` as a server's gc leaves it;
 * - `new.git`: the same repository after a typical working day: `commits` more commits on `main`,
 *   each changing a few lines in one or two of the big files, and an annotated tag on the last.
 *   The new commits stay in the pack fast-import wrote (a server's pushes arrive as packs too).
 *
 * A mirror that is one sync behind holds `old.git`; bringing it to `new.git` is the run users
 * repeat every few minutes.
 */
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { FastImport } from '../lib/fast-import.js';
import { forEachRef, git, initBare, packBytes } from '../lib/repos.js';
import { randomInt, randomSource, sourceLinePool } from './random.js';

export interface TextEditsShape {
  files: number;
  linesPerFile: number;
  /** Commits of `old.git` after the first (each edits a few files). */
  history: number;
  /** Commits `new.git` adds on top of `main`. */
  commits: number;
  /** Branches `topic/N` at `main`'s old tip; `new.git` moves `movedBranches` of them one commit on. */
  branches?: number;
  movedBranches?: number;
  /** Annotated tags `new.git` adds (on `main`'s and the moved branches' new commits), beside `v1.1`. */
  newTags?: number;
  seed: number;
}

export interface TextEditsRepo {
  old: string;
  new: string;
  oldPackBytes: number;
  textBytes: number;
  newRefs: number;
  shape: TextEditsShape;
}

const EPOCH = 1_650_000_000;

function edit(lines: string[], pool: readonly string[], random: () => number): void {
  // A line replaced, a couple inserted, one deleted: a small patch somewhere in the file.
  const at = randomInt(random, lines.length - 4);
  lines[at] = pool[randomInt(random, pool.length)]!;
  lines.splice(at + 2, 0, pool[randomInt(random, pool.length)]!, pool[randomInt(random, pool.length)]!);
  lines.splice(at + 5, 1);
}

function branchName(b: number): string {
  return `refs/heads/topic/${String(b).padStart(3, '0')}`;
}

export async function generateTextEdits(dir: string, shape: TextEditsShape): Promise<TextEditsRepo> {
  const random = randomSource(shape.seed);
  const pool = sourceLinePool(40_000, shape.seed);
  const files = Array.from({ length: shape.files }, () => Array.from({ length: shape.linesPerFile }, () => pool[randomInt(random, pool.length)]!));
  const text = (i: number): string => `${files[i]!.join('\n')}\n`;
  const path = (i: number): string => `src/module-${String(i).padStart(3, '0')}.ts`;

  const oldDir = await initBare(dir, 'old');
  let date = EPOCH;
  const first = FastImport.start(oldDir);
  await first.commit({ ref: 'refs/heads/main', date: date++, message: 'Initial import\n', files: files.map((_, i) => [path(i), text(i)] as const) });
  for (let c = 0; c < shape.history; c++) {
    const touched = new Set([randomInt(random, shape.files), randomInt(random, shape.files)]);
    for (const i of touched) edit(files[i]!, pool, random);
    await first.commit({ ref: 'refs/heads/main', date: date++, message: `Change ${c + 1}\n`, files: [...touched].map((i) => [path(i), text(i)] as const) });
  }
  await first.annotatedTag('v1.0', 'refs/heads/main', date++, 'Release 1.0\n');
  for (let b = 0; b < (shape.branches ?? 0); b++) await first.reset(branchName(b), 'refs/heads/main');
  await first.finish();
  // The old tip's files, where every topic branch starts.
  const atOldTip = files.map((lines) => [...lines]);
  await git(['repack', '-a', '-d', '-f', '-q'], { cwd: oldDir });

  const newDir = join(dir, 'new.git');
  await cp(oldDir, newDir, { recursive: true });
  const day = FastImport.start(newDir);
  for (let c = 0; c < shape.commits; c++) {
    const touched = new Set([randomInt(random, shape.files), ...(random() < 0.5 ? [randomInt(random, shape.files)] : [])]);
    for (const i of touched) edit(files[i]!, pool, random);
    await day.commit({
      ref: 'refs/heads/main',
      date: date++,
      message: `Fix ${c + 1}: adjust the ${c % 2 === 0 ? 'parser' : 'writer'}\n`,
      ...(c === 0 ? { from: 'refs/heads/main^0' } : {}),
      files: [...touched].map((i) => [path(i), text(i)] as const),
    });
  }
  await day.annotatedTag('v1.1', 'refs/heads/main', date++, 'Release 1.1\n');
  let tags = 0;
  for (let b = 0; b < (shape.movedBranches ?? 0); b++) {
    const i = randomInt(random, shape.files);
    const lines = [...atOldTip[i]!];
    edit(lines, pool, random);
    await day.commit({ ref: branchName(b), date: date++, message: `Topic ${b}: tweak\n`, from: `${branchName(b)}^0`, files: [[path(i), `${lines.join('\n')}\n`]] });
    if (tags < (shape.newTags ?? 0)) await day.annotatedTag(`topic-${b}-done`, branchName(b), date++, `Topic ${b} done\n`), tags++;
  }
  await day.finish();

  return {
    old: 'old.git',
    new: 'new.git',
    oldPackBytes: await packBytes(oldDir),
    textBytes: files.reduce((sum, lines) => sum + lines.join('\n').length + 1, 0),
    newRefs: (await forEachRef(newDir)).size,
    shape,
  };
}
