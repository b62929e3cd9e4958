/**
 * A realistic, delta-rich project history, generated deterministically with fast-import:
 *
 * - a tree of a few thousand source-like text files in two levels of directories;
 * - a few hundred commits on `main`, each editing a few percent of the files slightly (a line
 *   replaced, lines inserted or deleted, now and then a block rewritten), hot files more often;
 * - a few large binary-ish files, each partly rewritten now and then;
 * - release branches with a few commits each, annotated and lightweight tags.
 *
 * The result is repacked with `git repack -adf`, as a server's gc would leave it.
 */
import { join } from 'node:path';
import { pseudoRandomBytes } from '../../test/helpers/fixtures.js';
import { FastImport } from '../lib/fast-import.js';
import { forEachRef, git, initBare, packBytes } from '../lib/repos.js';
import { randomInt, randomSource, sourceLinePool } from './random.js';

export interface ProjectShape {
  files: number;
  /** Mean lines per file (files vary from 0.3x to 1.7x). */
  meanLines: number;
  /** Commits on main, the first one adding every file. */
  commits: number;
  /** Mean text files each later commit edits. */
  filesPerCommit: number;
  binaries: number;
  binaryBytes: number;
  /** How many times each binary file is rewritten over the history. */
  binaryRewrites: number;
  /** The share of a binary file one rewrite replaces. */
  binaryRewriteShare: number;
  /** `release/N` branches forked along main, three commits each. */
  branches: number;
  /** An annotated tag every this many main commits (and a lightweight one every other time). */
  tagEvery: number;
  seed: number;
}

export interface ProjectRepo {
  /** Repository directory name inside the cache entry. */
  repo: string;
  packBytes: number;
  commits: number;
  objects: number;
  refs: number;
  shape: ProjectShape;
}

const EPOCH = 1_600_000_000;
const LINE_POOL = 50_000;

/** The i-th file's path: `src/<12 top dirs>/<16 sub dirs>/<name>.ts`. */
function filePath(i: number): string {
  return `src/pkg${(i % 12).toString().padStart(2, '0')}/mod${(Math.floor(i / 12) % 16).toString().padStart(2, '0')}/unit${i}.ts`;
}

export async function generateProjectHistory(dir: string, shape: ProjectShape): Promise<ProjectRepo> {
  const repoDir = await initBare(dir, 'src');
  const random = randomSource(shape.seed);
  const pool = sourceLinePool(LINE_POOL, shape.seed + 1);
  const randomLines = (n: number): number[] => Array.from({ length: n }, () => randomInt(random, LINE_POOL));
  const render = (path: string, lines: Uint32Array): string => `// ${path}\n${Array.from(lines, (i) => pool[i]).join('\n')}\n`;

  const texts: Uint32Array[] = Array.from({ length: shape.files }, () => Uint32Array.from(randomLines(Math.max(5, Math.round(shape.meanLines * (0.3 + 1.4 * random()))))));
  const binaries: Buffer[] = Array.from({ length: shape.binaries }, (_, b) => pseudoRandomBytes(shape.binaryBytes, `${shape.seed}-binary-${b}`));

  /** A slightly edited copy of `lines`: a few replaced, inserted or deleted lines, rarely a block. */
  const edit = (lines: Uint32Array): Uint32Array => {
    const out = Array.from(lines);
    const edits = 1 + randomInt(random, 4);
    for (let e = 0; e < edits; e++) {
      const at = randomInt(random, out.length);
      const roll = random();
      if (roll < 0.5) out[at] = randomInt(random, LINE_POOL);
      else if (roll < 0.8) out.splice(at, 0, ...randomLines(1 + randomInt(random, 3)));
      else if (roll < 0.95 && out.length > 10) out.splice(at, 1);
      else out.splice(at, Math.min(20, out.length - at), ...randomLines(20));
    }
    return Uint32Array.from(out);
  };
  /** Hot files change more: the square skews picks toward low indices (spread over every directory). */
  const hotFile = (): number => Math.floor(shape.files * random() * random());

  const rewrites = shape.binaries * shape.binaryRewrites;
  const rewriteAt = new Map<number, number>();
  for (let j = 0; j < rewrites; j++) rewriteAt.set(Math.max(1, Math.floor(((j + 1) * shape.commits) / (rewrites + 1))), j % shape.binaries);
  const forkAt = new Map<number, number>();
  for (let b = 0; b < shape.branches; b++) forkAt.set(Math.floor(((b + 1) * shape.commits) / (shape.branches + 1)), b);

  const importer = FastImport.start(repoDir);
  let date = EPOCH;
  for (let c = 0; c < shape.commits; c++) {
    date += 3600;
    const files: [string, Buffer | string][] = [];
    if (c === 0) {
      texts.forEach((lines, i) => files.push([filePath(i), render(filePath(i), lines)]));
      binaries.forEach((bytes, b) => files.push([`assets/blob${b}.bin`, bytes]));
    } else {
      const count = Math.max(1, Math.round(shape.filesPerCommit * (0.5 + random())));
      const touched = new Set<number>();
      for (let k = 0; k < count; k++) touched.add(hotFile());
      for (const i of touched) {
        texts[i] = edit(texts[i]!);
        files.push([filePath(i), render(filePath(i), texts[i]!)]);
      }
      const b = rewriteAt.get(c);
      if (b !== undefined) {
        const length = Math.round(shape.binaryBytes * shape.binaryRewriteShare);
        const at = randomInt(random, shape.binaryBytes - length);
        const next = Buffer.from(binaries[b]!);
        pseudoRandomBytes(length, `${shape.seed}-rewrite-${c}`).copy(next, at);
        binaries[b] = next;
        files.push([`assets/blob${b}.bin`, next]);
      }
    }
    await importer.commit({
      ref: 'refs/heads/main',
      mark: c + 1,
      date,
      message: `Change ${c}: ${c === 0 ? 'initial import' : `update ${files.length} files`}\n\nGenerated history, seed ${shape.seed}.\n`,
      files,
    });
    if (c > 0 && c % shape.tagEvery === 0) {
      await importer.annotatedTag(`v1.${c / shape.tagEvery}`, `:${c + 1}`, date, `Release 1.${c / shape.tagEvery}\n`);
      if ((c / shape.tagEvery) % 2 === 0) await importer.reset(`refs/tags/build-${c}`, `:${c + 1}`);
    }
    const branch = forkAt.get(c);
    if (branch !== undefined) {
      for (let k = 0; k < 3; k++) {
        date += 60;
        const fixes: [string, string][] = [];
        for (let f = 0; f < 5; f++) {
          const i = hotFile();
          fixes.push([filePath(i), render(filePath(i), edit(texts[i]!))]);
        }
        await importer.commit({
          ref: `refs/heads/release/${branch + 1}`,
          date,
          message: `Fix ${k} on release ${branch + 1}\n`,
          ...(k === 0 ? { from: `:${c + 1}` } : {}),
          files: fixes,
        });
      }
    }
  }
  await importer.finish();
  await git(['repack', '-a', '-d', '-f', '-q'], { cwd: repoDir });
  await git(['pack-refs', '--all'], { cwd: repoDir });
  const objects = Number(/in-pack: (\d+)/.exec(await git(['count-objects', '-v'], { cwd: repoDir }))?.[1] ?? NaN);
  return {
    repo: 'src.git',
    packBytes: await packBytes(repoDir),
    commits: Number(await git(['rev-list', '--all', '--count'], { cwd: repoDir })),
    objects,
    refs: (await forEachRef(repoDir)).size,
    shape,
  };
}

/** The generated repository's directory inside its cache entry. */
export function projectRepoPath(entryDir: string, meta: ProjectRepo): string {
  return join(entryDir, meta.repo);
}
