/**
 * A history packed the way git packs real projects: many commits with long, similar messages
 * (and merges, and annotated tags with long, similar release notes), repacked by git itself
 * with `git repack -adf --window=250 --depth=50`, so that most commits and tags are stored as
 * deltas against other commits and tags, and the bases of some lie more than a megabyte
 * earlier in the pack upload-pack sends (docs/testing.md, "Real-shaped histories").
 *
 * Shape: commit i on `main` has a message from family `i % families`; each family has its own
 * text (about a kilobyte of words, its own length), so the only good delta base for a commit is
 * another commit of its family, `families` commits away. Every commit also carries a unique
 * incompressible trailer (like a signature or a build id), which makes each commit, delta or
 * not, several hundred bytes of the stream: `families` commits span more than a megabyte of it.
 * Every `mergeEvery`-th commit merges a commit made on `side`; every `tagEvery`-th gets an
 * annotated tag. Deterministic: fixed dates, seeded text, one repack thread.
 *
 *   const history = await createDeltifiedHistory(join(dir, 'source.git'), { commits: 4000 });
 *   const reach = await commitDeltaReach(history.path, ['main', '^main~3000'], { filter: true });
 *   assert.ok(reach.farthestBaseBytes > 1 << 20);
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { PackReader } from '../../src/pack/pack-reader.js';
import { git, gitRaw, runGit } from './git.js';
import { randomSource } from './random.js';

export interface DeltifiedHistoryOptions {
  commits: number;
  /** Message families; a commit's delta base is the commit `families` before or after it. Default 1500. */
  families?: number;
  /** Every n-th commit on main is a merge of a commit on `side`; default 50 (0: none). */
  mergeEvery?: number;
  /** Every n-th commit gets an annotated tag `v<n>`; default 100 (0: none). */
  tagEvery?: number;
  /** Threads for the repack's delta search; default 1 (the same deltas on every run), 0: git's choice. */
  threads?: number;
}

export interface DeltifiedHistory {
  path: string;
  /** `main`'s tip. */
  tip: string;
  /** Commits in the repository (main and side). */
  commits: number;
  /** Commits stored as deltas in the repacked repository (`git verify-pack -v`). */
  commitDeltas: number;
  /** Annotated tags, and how many of them are stored as deltas. */
  tags: number;
  tagDeltas: number;
}

const WORDS = [
  'mirror', 'relay', 'pack', 'delta', 'commit', 'branch', 'history', 'stream', 'target', 'source',
  'refs', 'fetch', 'push', 'batch', 'graph', 'parent', 'merge', 'object', 'window', 'depth',
  'server', 'client', 'protocol', 'capability', 'advertise', 'negotiate', 'checksum', 'inflate',
];

/** About `length` characters of words, wrapped at 72 columns, the same for the same seed. */
function prose(seed: number, length: number): string {
  const next = randomSource(seed);
  const lines: string[] = [];
  let line = '';
  let total = 0;
  while (total < length) {
    const word = WORDS[Math.floor(next() * WORDS.length)]!;
    if (line.length + word.length + 1 > 72) {
      lines.push(line);
      total += line.length + 1;
      line = '';
    }
    line += line === '' ? word : ` ${word}`;
  }
  return lines.join('\n');
}

/** A unique incompressible line (base64 of hashed bytes), like a signature or a build id. */
function trailer(i: number, bytes = 600): string {
  const parts: Buffer[] = [];
  for (let k = 0; parts.length * 32 < bytes; k++) parts.push(createHash('sha256').update(`trailer ${i} ${k}`).digest());
  return `Build-Id: ${Buffer.concat(parts).subarray(0, bytes).toString('base64')}`;
}

function data(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

/** Creates the bare repository at `path` (which must not exist) and repacks it as git would. */
export async function createDeltifiedHistory(path: string, options: DeltifiedHistoryOptions): Promise<DeltifiedHistory> {
  const families = options.families ?? 1500;
  const mergeEvery = options.mergeEvery ?? 50;
  const tagEvery = options.tagEvery ?? 100;
  const texts = new Map<number, string>();
  const familyText = (family: number): string => {
    let text = texts.get(family);
    if (text === undefined) {
      text = prose(family + 1, 900 + (family % 400));
      texts.set(family, text);
    }
    return text;
  };
  const notes = prose(99_999, 1500);

  const out: string[] = [];
  let mark = 0;
  let date = 1_600_000_000;
  let previous = 0;
  let sideCommits = 0;
  let tags = 0;
  for (let i = 1; i <= options.commits; i++) {
    const who = `Dev ${i % 23} <dev${i % 23}@example.org>`;
    let merged = 0;
    if (mergeEvery > 0 && i % mergeEvery === 0 && previous > 0) {
      merged = ++mark;
      sideCommits += 1;
      date += 60;
      out.push(`commit refs/heads/side\nmark :${merged}\nauthor ${who} ${date} +0000\ncommitter ${who} ${date} +0000\n`);
      out.push(data(`side work ${i}\n\n${familyText((i + 7) % families)}\n\n${trailer(-i)}\n`));
      out.push(`from :${previous}\nM 100644 inline side/${i % 5}.txt\n${data(`side ${i}\n`)}\n`);
    }
    const current = ++mark;
    date += 60;
    out.push(`commit refs/heads/main\nmark :${current}\nauthor ${who} ${date} +0000\ncommitter ${who} ${date} +0000\n`);
    out.push(data(`${merged > 0 ? 'merge' : 'change'} ${i}: ${WORDS[i % WORDS.length]}\n\n${familyText(i % families)}\n\n${trailer(i)}\nSigned-off-by: ${who}\n`));
    if (previous > 0) out.push(`from :${previous}\n`);
    if (merged > 0) out.push(`merge :${merged}\n`);
    out.push(`M 100644 inline files/${i % 20}.txt\n${data(`content ${i}\n`)}\n`);
    previous = current;
    if (tagEvery > 0 && i % tagEvery === 0) {
      tags += 1;
      date += 60;
      out.push(`tag v${i}\nfrom :${current}\ntagger Release <release@example.org> ${date} +0000\n`);
      out.push(data(`Release ${i}\n\n${notes}\n\n${trailer(1_000_000 + i, 300)}\n`));
    }
  }
  out.push('done\n');

  await runGit(['init', '--quiet', '--bare', '--initial-branch=main', path]);
  await runGit(['fast-import', '--quiet', '--done'], { cwd: path, input: out.join(''), env: { MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024) } });
  await runGit(['repack', '-adf', '-q', '--window=250', '--depth=50'], { cwd: path, config: { 'pack.threads': String(options.threads ?? 1) } });

  const packs = (await git(['count-objects', '-v'], { cwd: path })).match(/^packs: (\d+)$/m);
  if (packs?.[1] !== '1') throw new Error(`expected one pack after repack, count-objects says ${packs?.[1]}`);
  const verify = await verifyPackDeltas(path);
  return {
    path,
    tip: await git(['rev-parse', 'main'], { cwd: path }),
    commits: options.commits + sideCommits,
    commitDeltas: verify.commit,
    tags,
    tagDeltas: verify.tag,
  };
}

/** Objects stored as deltas in the repository's one pack, by type (`git verify-pack -v`). */
async function verifyPackDeltas(path: string): Promise<{ commit: number; tag: number }> {
  const packDir = `${path}/objects/pack`;
  const idx = readdirSync(packDir).find((name) => name.endsWith('.idx'));
  if (idx === undefined) throw new Error(`no pack index in ${packDir}`);
  const lines = (await git(['verify-pack', '-v', `${packDir}/${idx}`], { cwd: path })).split('\n');
  const deltas = { commit: 0, tag: 0 };
  for (const line of lines) {
    const fields = line.split(/\s+/);
    if (fields.length >= 7 && (fields[1] === 'commit' || fields[1] === 'tag')) deltas[fields[1]] += 1;
  }
  return deltas;
}

export interface DeltaReach {
  /** Bytes of the pack. */
  packBytes: number;
  commits: number;
  /** Commits stored as OFS_DELTAs in it. */
  commitDeltas: number;
  /** The largest distance in the stream from a commit delta back to its base. */
  farthestBaseBytes: number;
  /** Commit deltas whose base lies more than 1 MiB back. */
  basesPastOneMiB: number;
}

/**
 * What the pack upload-pack would send for `revs` (pack-objects as upload-pack runs it: reused
 * deltas, offsets for bases, optionally `--filter=tree:0`) says about its commit deltas.
 */
export async function commitDeltaReach(path: string, revs: readonly string[], options: { filter?: boolean } = {}): Promise<DeltaReach> {
  const pack = await gitRaw(['pack-objects', '--revs', '--stdout', '-q', '--delta-base-offset', ...(options.filter ? ['--filter=tree:0'] : [])], {
    cwd: path,
    input: `${revs.join('\n')}\n`,
  });
  const reach: DeltaReach = { packBytes: pack.length, commits: 0, commitDeltas: 0, farthestBaseBytes: 0, basesPastOneMiB: 0 };
  const reader = new PackReader({
    onObject: (object) => {
      if (object.objectType !== 'commit') return;
      reach.commits += 1;
      if (object.baseOffset === undefined) return;
      reach.commitDeltas += 1;
      const distance = object.offset - object.baseOffset;
      reach.farthestBaseBytes = Math.max(reach.farthestBaseBytes, distance);
      if (distance > 1024 * 1024) reach.basesPastOneMiB += 1;
    },
  });
  await reader.write(pack);
  await reader.end();
  return reach;
}
