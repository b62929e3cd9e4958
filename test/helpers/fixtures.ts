/**
 * Repositories for tests, built with the real git CLI.
 *
 * Commits are written with `git fast-import` straight into the object store (no work tree, one
 * process per call, thousands of commits per second); refs, tags, notes and config use the
 * ordinary porcelain/plumbing. Every repository has its own clock that advances one minute per
 * commit or tag, so a fixture built by the same calls always has the same hashes.
 *
 *   const src = await createRepo({ name: 'src', parentDir: server.root });
 *   const c1 = await src.commit('main', { files: { 'a.txt': 'x', 'big.bin': pseudoRandomBytes(1 << 20, 1) } });
 *   await src.commit('feature', { parents: [c1], files: { 'b.txt': 'y' } });
 *   await src.merge('main', 'feature');
 *   await src.annotatedTag('v1', 'main', { message: 'release 1' });
 *   await src.setRef('refs/pull/1/head', 'feature');
 *   await src.linearHistory(10_000, { branch: 'long' });
 */
import { createCipheriv, createHash } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AUTHOR, COMMITTER, FIXED_EPOCH, forEachRef, fsck, git, identityEnv, makeTempDir, revListObjectsCount, runGit,
  type GitOptions, type RefMap,
} from './git.js';

/** Seconds the repository clock advances for each commit or tag. */
const TICK_SECONDS = 60;

/** Written into every fixture: no background gc or maintenance repacking behind a test's back. */
const FIXTURE_CONFIG = '[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n';

export type FileContent = string | Buffer;
export type FileMode = 'file' | 'executable' | 'symlink';
/** A file's new content; `null` deletes the path. A symlink's content is its target. */
export type FileChange = FileContent | { content: FileContent; mode: FileMode } | null;
/** Paths use `/` and may be nested (`dir/sub/file.txt`); directories are implied. */
export type FileChanges = Readonly<Record<string, FileChange>>;

export interface CommitOptions {
  /**
   * Changes relative to the first parent's tree. Default: one file `<branch>.txt` rewritten with
   * the commit message, so every default commit adds a blob and a tree.
   */
  files?: FileChanges;
  /** Default: `<repo name>: commit <n> on <branch>`. */
  message?: string;
  /**
   * Parent revisions (oids, branch names, any rev). Default: the branch's current tip, or none
   * when the branch does not exist. Parents that leave out the tip rewrite the branch (forced).
   */
  parents?: readonly string[];
  /** Start from an empty tree instead of the first parent's tree. */
  emptyTree?: boolean;
  /** Author and committer date, epoch seconds. Default: the repository clock's next tick. */
  date?: number;
}

export interface MergeOptions {
  message?: string;
  /**
   * `merge` (default): the tree `git merge-tree --write-tree` computes; a conflict throws.
   * `ours`: the first parent's tree, as `git merge -s ours` would.
   */
  tree?: 'merge' | 'ours';
  /** Further changes on top of the merged tree (e.g. to resolve a conflict with `tree: 'ours'`). */
  files?: FileChanges;
  date?: number;
}

export interface LinearHistoryOptions {
  /** Default `main`. The history continues from the branch tip when it exists. */
  branch?: string;
  /** Changes for commit `i` (0-based). Default: `history.txt` containing `i`. */
  files?: (i: number) => FileChanges;
  message?: (i: number) => string;
}

export interface TagOptions {
  /** Move an existing tag instead of failing. */
  force?: boolean;
}

export interface AnnotatedTagOptions extends TagOptions {
  /** Default: `tag <name>`. */
  message?: string;
  date?: number;
}

export interface NoteOptions {
  /** Default `refs/notes/commits`. */
  ref?: string;
  date?: number;
}

export type ConfigValue = string | number | boolean;

export interface CreateRepoOptions {
  /** Default true. A non-bare repository keeps its work tree checked out at HEAD. */
  bare?: boolean;
  /** Where to create it. Default: a fresh temp dir, removed at process exit. */
  parentDir?: string;
  /** Directory name without `.git` (added for bare repositories); default `repo`. */
  name?: string;
  /** Branch HEAD points at; default `main`. */
  initialBranch?: string;
  /** Repository config written at creation, e.g. `{'uploadpack.allowFilter': true}`. */
  config?: Readonly<Record<string, ConfigValue>>;
  /** Object ids: `sha1` (default) or `sha256`. */
  objectFormat?: 'sha1' | 'sha256';
}

/** `main` -> `refs/heads/main`; full names (`refs/...`) and `HEAD` pass through. */
export function qualifyBranch(ref: string): string {
  return ref.startsWith('refs/') || ref === 'HEAD' ? ref : `refs/heads/${ref}`;
}

/** Deterministic incompressible bytes (AES-CTR keystream of the seed): for big and binary files. */
export function pseudoRandomBytes(size: number, seed: string | number = 0): Buffer {
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

export class FixtureRepo {
  /** The repository directory (the git dir for bare repositories, the work tree otherwise). */
  readonly path: string;
  readonly bare: boolean;
  /** Name used in default messages; distinct repos get distinct default commits. */
  readonly name: string;
  private clock: number;
  private commitCount = 0;
  private readonly cleanup: (() => Promise<void>) | undefined;

  constructor(path: string, options: { bare: boolean; name: string; clock?: number; cleanup?: () => Promise<void> }) {
    this.path = path;
    this.bare = options.bare;
    this.name = options.name;
    this.clock = options.clock ?? FIXED_EPOCH;
    this.cleanup = options.cleanup;
  }

  /** Run git in this repository, dated at the repository clock's current time. */
  git(args: readonly string[], options: GitOptions = {}): Promise<string> {
    return git(args, { ...options, cwd: this.path, env: { ...identityEnv(this.clock), ...options.env } });
  }

  /** The object a revision names, or throws. */
  async revParse(rev: string): Promise<string> {
    return this.git(['rev-parse', '--verify', '--end-of-options', `${rev}^{object}`]);
  }

  /** The object a revision names, or null when it does not resolve. */
  async resolve(rev: string): Promise<string | null> {
    const { stdout, exitCode } = await runGit(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{object}`], { cwd: this.path, okExitCodes: [1] });
    return exitCode === 0 ? stdout.toString('utf8').trim() : null;
  }

  /** Add a commit on `branch` (short name or full ref, created if absent); resolves with its oid. */
  async commit(branch: string, options: CommitOptions = {}): Promise<string> {
    const ref = qualifyBranch(branch);
    const parents = options.parents === undefined
      ? await this.optionalTip(ref)
      : await Promise.all(options.parents.map((p) => this.commitOf(p)));
    this.commitCount += 1;
    const message = options.message ?? `${this.name}: commit ${this.commitCount} on ${shortName(ref)}`;
    const files = options.files ?? { [`${shortName(ref).replaceAll('/', '-')}.txt`]: `${message}\n` };
    const stream = new FastImportStream();
    stream.commit({ ref, mark: 1, date: options.date ?? this.tick(), message, parents, emptyTree: options.emptyTree ?? false, files });
    stream.getMark(1);
    return this.runFastImport(stream, ref);
  }

  /** Merge `other` into `branch` with a two-parent commit; resolves with its oid. */
  async merge(branch: string, other: string, options: MergeOptions = {}): Promise<string> {
    const ref = qualifyBranch(branch);
    const ours = await this.commitOf(ref);
    const theirs = await this.commitOf(other);
    let tree: string;
    if (options.tree === 'ours') {
      tree = await this.revParse(`${ours}^{tree}`);
    } else {
      const { stdout, exitCode } = await runGit(['merge-tree', '--write-tree', '--no-messages', ours, theirs], { cwd: this.path, okExitCodes: [1] });
      if (exitCode !== 0) throw new Error(`merging ${other} into ${branch} conflicts:\n${stdout.toString('utf8')}\nuse {tree: 'ours', files} to resolve`);
      tree = stdout.toString('utf8').split('\n')[0]!;
    }
    this.commitCount += 1;
    const stream = new FastImportStream();
    stream.commit({
      ref, mark: 1, date: options.date ?? this.tick(), parents: [ours, theirs], tree,
      message: options.message ?? `${this.name}: merge ${other} into ${shortName(ref)}`,
      emptyTree: false, files: options.files ?? {},
    });
    stream.getMark(1);
    return this.runFastImport(stream, ref);
  }

  /**
   * `n` commits in a line on one branch, written by a single fast-import (10,000 commits take
   * well under two seconds). Resolves with the new tip.
   */
  async linearHistory(n: number, options: LinearHistoryOptions = {}): Promise<string> {
    if (n < 1) throw new Error('linearHistory needs n >= 1');
    const ref = qualifyBranch(options.branch ?? 'main');
    const stream = new FastImportStream();
    let parents = await this.optionalTip(ref);
    for (let i = 0; i < n; i++) {
      this.commitCount += 1;
      stream.commit({
        ref, mark: i + 1, date: this.tick(), parents, emptyTree: false,
        message: options.message?.(i) ?? `${this.name}: linear ${i} on ${shortName(ref)}`,
        files: options.files?.(i) ?? { 'history.txt': `${i}\n` },
      });
      parents = [`:${i + 1}`];
    }
    stream.getMark(n);
    return this.runFastImport(stream, ref);
  }

  /** Point `refs/tags/<name>` at `target` directly; resolves with the target oid. */
  async lightweightTag(name: string, target: string, options: TagOptions = {}): Promise<string> {
    const oid = await this.revParse(target);
    await this.git(['update-ref', `refs/tags/${name}`, oid, ...(options.force ? [] : [''])]);
    return oid;
  }

  /** Create a tag object for `target` (a commit, tree, blob or another tag); resolves with its oid. */
  async annotatedTag(name: string, target: string, options: AnnotatedTagOptions = {}): Promise<string> {
    const oid = await this.revParse(target);
    const date = options.date ?? this.tick();
    await git(['tag', '--annotate', ...(options.force ? ['--force'] : []), '--message', options.message ?? `tag ${name}`, name, oid], {
      cwd: this.path, env: identityEnv(date),
    });
    return this.revParse(`refs/tags/${name}`);
  }

  /** Attach a note with `git notes` (default ref `refs/notes/commits`); resolves with the notes commit. */
  async note(target: string, message: string, options: NoteOptions = {}): Promise<string> {
    const ref = options.ref ?? 'refs/notes/commits';
    const date = options.date ?? this.tick();
    await git(['notes', `--ref=${ref}`, 'add', '--force', '--message', message, await this.revParse(target)], {
      cwd: this.path, env: identityEnv(date),
    });
    return this.revParse(ref);
  }

  /** Create or move any ref (`refs/pull/1/head`, `refs/custom/x`, a branch); resolves with the oid. */
  async setRef(ref: string, target: string): Promise<string> {
    const oid = await this.revParse(target);
    await this.git(['update-ref', qualifyBranch(ref), oid]);
    await this.syncWorkTree(qualifyBranch(ref));
    return oid;
  }

  async deleteRef(ref: string): Promise<void> {
    await this.git(['update-ref', '-d', qualifyBranch(ref)]);
  }

  /** Point HEAD at a branch (which need not exist yet). */
  async setHead(branch: string): Promise<void> {
    await this.git(['symbolic-ref', 'HEAD', qualifyBranch(branch)]);
    await this.syncWorkTree(qualifyBranch(branch));
  }

  /** The ref HEAD points at, e.g. `refs/heads/main`. */
  async head(): Promise<string> {
    return this.git(['symbolic-ref', 'HEAD']);
  }

  async setConfig(key: string, value: ConfigValue): Promise<void>;
  async setConfig(entries: Readonly<Record<string, ConfigValue>>): Promise<void>;
  async setConfig(keyOrEntries: string | Readonly<Record<string, ConfigValue>>, value?: ConfigValue): Promise<void> {
    const entries = typeof keyOrEntries === 'string' ? { [keyOrEntries]: value! } : keyOrEntries;
    for (const [key, val] of Object.entries(entries)) await this.git(['config', key, String(val)]);
  }

  /** Every ref (or those under `patterns`) -> oid; HEAD excluded. */
  refs(patterns: readonly string[] = []): Promise<RefMap> {
    return forEachRef(this.path, patterns);
  }

  /** `git rev-list --objects --count <args>`. */
  objectCount(args: readonly string[] = ['--all']): Promise<number> {
    return revListObjectsCount(this.path, args);
  }

  /** `git fsck --full --strict`; throws when the repository is not clean. */
  fsck(): Promise<string> {
    return fsck(this.path);
  }

  /** The content of `path` at `rev`, byte for byte. */
  async readFile(rev: string, path: string): Promise<Buffer> {
    return (await runGit(['cat-file', 'blob', `${rev}:${path}`], { cwd: this.path })).stdout;
  }

  /** Feed a raw fast-import stream (for shapes the helpers above do not cover). */
  async fastImport(stream: string | Buffer): Promise<string> {
    const { stdout } = await runGit(['fast-import', '--quiet', '--force', '--done'], {
      cwd: this.path,
      input: stream,
      // glibc otherwise returns heap to the OS after nearly every commit (one brk each way):
      // 10,000 commits on top of an existing one take 1.5 s instead of 0.15 s.
      env: { MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024) },
    });
    return stdout.toString('utf8');
  }

  /** Delete the repository's directory if this module created it. */
  async remove(): Promise<void> {
    await this.cleanup?.();
  }

  private tick(): number {
    this.clock += TICK_SECONDS;
    return this.clock;
  }

  private async optionalTip(ref: string): Promise<string[]> {
    const tip = await this.resolve(ref);
    return tip === null ? [] : [tip];
  }

  private async commitOf(rev: string): Promise<string> {
    return this.revParse(`${rev}^{commit}`);
  }

  private async runFastImport(stream: FastImportStream, ref: string): Promise<string> {
    stream.done();
    const oid = (await this.fastImport(stream.toBuffer())).trim();
    await this.syncWorkTree(ref);
    return oid;
  }

  /** A non-bare fixture keeps its work tree equal to HEAD, so tests can use porcelain in it. */
  private async syncWorkTree(changedRef: string): Promise<void> {
    if (this.bare) return;
    const { stdout } = await runGit(['symbolic-ref', '--quiet', 'HEAD'], { cwd: this.path, okExitCodes: [1] });
    if (stdout.toString('utf8').trim() !== changedRef || (await this.resolve('HEAD')) === null) return;
    await this.git(['reset', '--quiet', '--hard', 'HEAD']);
  }

  /** Start the clock after the newest commit or tag already present (for opened repositories). */
  static async latestDate(path: string): Promise<number> {
    const out = await git(['for-each-ref', '--sort=-creatordate', '--count=1', '--format=%(creatordate:raw)'], { cwd: path });
    const seconds = Number(out.split(' ')[0]);
    return out === '' || Number.isNaN(seconds) ? FIXED_EPOCH : Math.max(seconds, FIXED_EPOCH);
  }
}

/** Create an empty repository (HEAD on an unborn `main`) and wrap it. */
export async function createRepo(options: CreateRepoOptions = {}): Promise<FixtureRepo> {
  const bare = options.bare ?? true;
  const name = options.name ?? 'repo';
  const temp = options.parentDir === undefined ? makeTempDir('gitsync-repo-') : undefined;
  const path = join(options.parentDir ?? temp!.path, bare ? `${name}.git` : name);
  await git(['init', '--quiet', ...(bare ? ['--bare'] : []), `--initial-branch=${options.initialBranch ?? 'main'}`, `--object-format=${options.objectFormat ?? 'sha1'}`, path]);
  await appendFile(join(path, bare ? '' : '.git', 'config'), FIXTURE_CONFIG);
  const repo = new FixtureRepo(path, { bare, name, cleanup: temp?.remove });
  if (options.config !== undefined) await repo.setConfig(options.config);
  return repo;
}

/** Wrap an existing repository (e.g. one a test pushed into); its clock continues after its newest commit. */
export async function openRepo(path: string, options: { name?: string } = {}): Promise<FixtureRepo> {
  const bare = (await git(['rev-parse', '--is-bare-repository'], { cwd: path })) === 'true';
  return new FixtureRepo(path, { bare, name: options.name ?? 'repo', clock: await FixtureRepo.latestDate(path) });
}

export interface CloneRepoOptions {
  parentDir?: string;
  name?: string;
  /** `--mirror` (default: every ref copied) or a plain `--bare` clone (branches and tags only). */
  mirror?: boolean;
}

/** A bare copy of `source` (a fixture, a path or a URL), e.g. a target that starts level with the source. */
export async function cloneRepo(source: FixtureRepo | string, options: CloneRepoOptions = {}): Promise<FixtureRepo> {
  const name = options.name ?? 'clone';
  const temp = options.parentDir === undefined ? makeTempDir('gitsync-repo-') : undefined;
  const path = join(options.parentDir ?? temp!.path, `${name}.git`);
  const from = typeof source === 'string' ? source : source.path;
  await git(['clone', '--quiet', options.mirror === false ? '--bare' : '--mirror', from, path]);
  await appendFile(join(path, 'config'), FIXTURE_CONFIG);
  return new FixtureRepo(path, { bare: true, name, clock: await FixtureRepo.latestDate(path), cleanup: temp?.remove });
}

// ---------------------------------------------------------------------------------------------
// fast-import stream (Documentation/git-fast-import.txt)

const MODE_BITS: Record<FileMode, string> = { file: '100644', executable: '100755', symlink: '120000' };

interface FastImportCommit {
  ref: string;
  mark: number;
  date: number;
  message: string;
  /** Oids or `:mark`s; the first is `from`, the rest `merge`. */
  parents: readonly string[];
  /** Replace the whole tree with this one before applying `files`. */
  tree?: string;
  emptyTree: boolean;
  files: FileChanges;
}

class FastImportStream {
  private readonly parts: Buffer[] = [];

  commit(c: FastImportCommit): void {
    const date = `${c.date} +0000`;
    this.line(`commit ${c.ref}`);
    this.line(`mark :${c.mark}`);
    this.line(`author ${AUTHOR.name} <${AUTHOR.email}> ${date}`);
    this.line(`committer ${COMMITTER.name} <${COMMITTER.email}> ${date}`);
    this.data(c.message);
    const [first, ...rest] = c.parents;
    // Without `from`, fast-import makes a root commit even when the ref already exists.
    if (first !== undefined) this.line(`from ${first}`);
    for (const parent of rest) this.line(`merge ${parent}`);
    if (c.emptyTree) this.line('deleteall');
    if (c.tree !== undefined) this.line(`M 040000 ${c.tree} ""`);
    for (const [path, change] of Object.entries(c.files)) {
      if (change === null) {
        this.line(`D ${quotePath(path)}`);
        continue;
      }
      const { content, mode } = typeof change === 'string' || Buffer.isBuffer(change) ? { content: change, mode: 'file' as const } : change;
      this.line(`M ${MODE_BITS[mode]} inline ${quotePath(path)}`);
      this.data(content);
    }
    this.line('');
  }

  getMark(mark: number): void {
    this.line(`get-mark :${mark}`);
  }

  done(): void {
    this.line('done');
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }

  private line(text: string): void {
    this.parts.push(Buffer.from(`${text}\n`, 'utf8'));
  }

  private data(content: FileContent): void {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    this.line(`data ${bytes.length}`);
    this.parts.push(bytes);
    this.line('');
  }
}

/** fast-import takes paths raw unless they start with `"` or hold a newline; then C-quoted. */
function quotePath(path: string): string {
  if (!path.startsWith('"') && !path.includes('\n')) return path;
  return `"${path.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
}

function shortName(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}
