/**
 * How much a batch's cut points could keep delta chains inside the batch (issue 18, item 2).
 *
 * A source repacked by git stores the newest version of a file whole and older versions as
 * deltas against newer ones. A batched relay sends old history first, so every object of a
 * batch whose on-disk base is introduced by a later batch must be re-deltified (or sent whole)
 * by the source: that is the re-delta cost of the floor table. A cut point keeps a chain inside
 * a batch when no such object/base pair straddles it.
 *
 * For each object this finds the first-parent commit that introduces it (objects brought by a
 * merged side branch count at the merge, as the relay's batches take them), reads every
 * on-disk delta's base from `git verify-pack -v`, and counts, for every possible cut after
 * first-parent commit p, the inflated bytes of objects introduced at or before p whose base is
 * introduced after p. It compares the cuts at equal commit counts (as the bench's slices) with
 * the best cut within half a slice either way (moving a cut further would merge or swap
 * batches). When every cut separates about the same bytes, no choice of cut points can keep the
 * chains inside, whatever the graph walk knows.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '../../test/helpers/git.js';

export interface DeltaCuts {
  commits: number;
  deltas: number;
  /** On-disk deltas whose base is introduced by a later first-parent commit. */
  newerBase: number;
  /** Inflated bytes separated from their newer base by the cuts at equal commit counts. */
  equalCutBytes: number;
  /** The same for the best cut within half a slice of each equal cut. */
  bestCutBytes: number;
  /** Those best cuts: the last first-parent commit of each slice but the last, then the branch tip. */
  bestEnds: string[];
  /** Bytes separated by a single cut, the least and the most over every position but the ends. */
  leastCutBytes: number;
  mostCutBytes: number;
}

export async function deltaCuts(repoDir: string, slices: number): Promise<DeltaCuts> {
  const commits = (await git(['rev-list', '--first-parent', '--reverse', 'HEAD'], { cwd: repoDir })).split('\n').filter(Boolean);
  const introducedAt = new Map<string, number>();
  for (let i = 0; i < commits.length; i++) {
    const range = i === 0 ? [commits[i]!] : [commits[i]!, `^${commits[i - 1]!}`];
    for (const line of (await git(['rev-list', '--objects', ...range], { cwd: repoDir })).split('\n')) {
      const oid = line.slice(0, 40);
      if (oid.length === 40 && !introducedAt.has(oid)) introducedAt.set(oid, i);
    }
  }
  const n = commits.length;
  // separated[p] = bytes a cut after commit p separates, built as a difference array.
  const change = new Float64Array(n + 1);
  let deltas = 0;
  let newerBase = 0;
  const packDir = join(repoDir, 'objects', 'pack');
  for (const idx of (await readdir(packDir)).filter((name) => name.endsWith('.idx'))) {
    for (const line of (await git(['verify-pack', '-v', join(packDir, idx)], { cwd: repoDir })).split('\n')) {
      // "<oid> <type> <size> <size-in-pack> <offset> <depth> <base-oid>" for a delta.
      const fields = line.split(/\s+/);
      if (fields.length < 7 || fields[0]!.length !== 40) continue;
      deltas++;
      const object = introducedAt.get(fields[0]!);
      const base = introducedAt.get(fields[6]!);
      if (object === undefined || base === undefined || base <= object) continue;
      newerBase++;
      const bytes = Number(fields[2]);
      change[object] += bytes;
      change[base] -= bytes;
    }
  }
  const separated = new Float64Array(n);
  for (let p = 0, running = 0; p < n; p++) separated[p] = running += change[p]!;
  let equalCutBytes = 0;
  let bestCutBytes = 0;
  const bestEnds: string[] = [];
  const reach = Math.floor(n / slices / 2);
  for (let s = 1; s < slices; s++) {
    const cut = Math.round((s * n) / slices) - 1;
    let best = cut;
    for (let p = Math.max(0, cut - reach); p <= Math.min(n - 2, cut + reach); p++) if (separated[p]! < separated[best]!) best = p;
    equalCutBytes += separated[cut]!;
    bestCutBytes += separated[best]!;
    bestEnds.push(commits[best]!);
  }
  bestEnds.push(commits[n - 1]!);
  // The first and last tenth are left out: a cut there makes a batch of a few commits.
  const inner = Array.from(separated.slice(Math.floor(n / 10), Math.ceil((9 * n) / 10)));
  return { commits: n, deltas, newerBase, equalCutBytes, bestCutBytes, bestEnds, leastCutBytes: Math.min(...inner), mostCutBytes: Math.max(...inner) };
}
