/**
 * The git CLI for tests, isolated from the machine it runs on: no user or system config, a
 * private HOME, no credential prompts, C locale, a fixed identity and fixed dates. Everything a
 * test builds with it is therefore byte-for-byte reproducible (same hashes on every run).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Seconds since the epoch used for every commit and tag unless a fixture clock says otherwise. */
export const FIXED_EPOCH = 1_700_000_000;

export const AUTHOR = { name: 'Fixture Author', email: 'author@example.com' } as const;
export const COMMITTER = { name: 'Fixture Committer', email: 'committer@example.com' } as const;

// ---------------------------------------------------------------------------------------------
// Temporary directories

const KEEP_TEMP = process.env['GITSYNC_TEST_KEEP_TMP'] === '1';
const liveTempDirs = new Set<string>();
let exitHookInstalled = false;

export interface TempDir {
  readonly path: string;
  /** Remove the directory now (idempotent). */
  remove(): Promise<void>;
}

/**
 * A fresh directory under the OS temp dir, removed by `remove()` or, at the latest, when the
 * process exits. Set GITSYNC_TEST_KEEP_TMP=1 to keep them for debugging.
 */
export function makeTempDir(prefix = 'gitsync-test-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  liveTempDirs.add(path);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' handlers must be synchronous.
    process.on('exit', () => {
      if (KEEP_TEMP) return;
      for (const dir of liveTempDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  return {
    path,
    async remove() {
      if (!liveTempDirs.delete(path) || KEEP_TEMP) return;
      await rm(path, { recursive: true, force: true });
    },
  };
}

let sharedHome: string | undefined;

/** The private HOME every helper-run git uses (one per process). */
export function isolatedHome(): string {
  sharedHome ??= makeTempDir('gitsync-home-').path;
  return sharedHome;
}

// ---------------------------------------------------------------------------------------------
// Environment

/** GIT_AUTHOR_* and GIT_COMMITTER_* for a commit made at `epochSeconds` (UTC). */
export function identityEnv(epochSeconds: number = FIXED_EPOCH): Record<string, string> {
  const date = `${epochSeconds} +0000`;
  return {
    GIT_AUTHOR_NAME: AUTHOR.name,
    GIT_AUTHOR_EMAIL: AUTHOR.email,
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_NAME: COMMITTER.name,
    GIT_COMMITTER_EMAIL: COMMITTER.email,
    GIT_COMMITTER_DATE: date,
  };
}

/** Encode config entries as GIT_CONFIG_COUNT/KEY_n/VALUE_n (git >= 2.31). */
export function configEnv(config: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(config);
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(entries.length) };
  entries.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

export interface IsolatedEnvOptions {
  /** Config in command-line scope (GIT_CONFIG_COUNT); none by default. */
  config?: Readonly<Record<string, string>>;
  /** Variables set last (they win); `undefined` removes a variable. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The environment for a git process: the caller's environment minus every GIT_* variable (a test
 * run from inside a git hook inherits GIT_DIR and friends) except GIT_TRACE*, kept for debugging,
 * plus the isolation described above. An empty GIT_ASKPASS with GIT_TERMINAL_PROMPT=0 makes a
 * credential request fail at once instead of asking anyone.
 */
export function isolatedGitEnv(options: IsolatedEnvOptions = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const dropped = (key.startsWith('GIT_') && !key.startsWith('GIT_TRACE')) || key === 'SSH_ASKPASS' || key.startsWith('LC_') || key === 'LANG';
    if (dropped) continue;
    env[key] = value;
  }
  Object.assign(env, {
    HOME: isolatedHome(),
    XDG_CONFIG_HOME: join(isolatedHome(), '.config'),
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    LC_ALL: 'C',
    LANGUAGE: 'C',
    ...identityEnv(),
  });
  if (options.config !== undefined && Object.keys(options.config).length > 0) Object.assign(env, configEnv(options.config));
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Running git

export interface GitOptions {
  cwd?: string;
  /** Written to stdin, then stdin is closed (stdin is empty otherwise). */
  input?: string | Buffer;
  /** Extra environment; wins over the isolation defaults. `undefined` removes a variable. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Extra command-line-scope config (`-c key=value`). */
  config?: Readonly<Record<string, string>>;
  /** Resolve instead of throwing on these non-zero exit codes (e.g. `[1]` for merge-tree conflicts). */
  okExitCodes?: readonly number[];
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
}

export class GitCommandError extends Error {
  readonly args: readonly string[];
  readonly cwd: string | undefined;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(args: readonly string[], cwd: string | undefined, exitCode: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string) {
    const how = signal === null ? `exit code ${exitCode}` : `signal ${signal}`;
    super(`git ${args.join(' ')} failed (${how})${cwd === undefined ? '' : ` in ${cwd}`}:\n${stderr.trim() || stdout.trim()}`);
    this.name = 'GitCommandError';
    this.args = args;
    this.cwd = cwd;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** Run git; resolve with exit code, raw stdout and stderr. Throws on failure (see okExitCodes). */
export function runGit(args: readonly string[], options: GitOptions = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...args], {
      cwd: options.cwd,
      env: isolatedGitEnv({ config: options.config, env: options.env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // git may exit before reading all of stdin (e.g. on a usage error); that is not our error.
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const out = Buffer.concat(stdout);
      const err = Buffer.concat(stderr).toString('utf8');
      if (code === 0 || (code !== null && options.okExitCodes?.includes(code))) {
        resolve({ stdout: out, stderr: err, exitCode: code });
      } else {
        reject(new GitCommandError(args, options.cwd, code, signal, out.toString('utf8'), err));
      }
    });
    child.stdin.end(options.input);
  });
}

/** Run git and return stdout with trailing whitespace trimmed; throws GitCommandError with stderr. */
export async function git(args: readonly string[], options: GitOptions = {}): Promise<string> {
  const { stdout } = await runGit(args, options);
  return stdout.toString('utf8').trimEnd();
}

/** Run git and return stdout byte for byte (for `cat-file blob` and other binary output). */
export async function gitRaw(args: readonly string[], options: GitOptions = {}): Promise<Buffer> {
  return (await runGit(args, options)).stdout;
}

// ---------------------------------------------------------------------------------------------
// Inspecting repositories

/** Ref name -> object id, as `git for-each-ref` sees it (HEAD not included). */
export type RefMap = Map<string, string>;

/** Every ref of a repository (optionally only under `patterns`, e.g. `refs/heads/`). */
export async function forEachRef(repoDir: string, patterns: readonly string[] = []): Promise<RefMap> {
  const out = await git(['for-each-ref', '--format=%(objectname) %(refname)', ...patterns], { cwd: repoDir });
  return parseRefLines(out);
}

export interface LsRemoteOptions {
  /** Force the wire protocol version (`-c protocol.version=N`). */
  protocol?: 0 | 1 | 2;
  /** Restrict to refs matching these patterns (passed after the URL). */
  patterns?: readonly string[];
  env?: GitOptions['env'];
  config?: GitOptions['config'];
}

export interface LsRemoteResult {
  /** Every ref but HEAD and the peeled `^{}` lines; comparable with `forEachRef`. */
  refs: RefMap;
  /** Annotated tag ref -> the object it peels to. */
  peeled: RefMap;
  /** The object HEAD resolves to, or null when the remote has no (born) HEAD. */
  headOid: string | null;
  /** The ref HEAD points at (from `--symref`), or null. */
  headTarget: string | null;
}

/** `git ls-remote --symref <url>`, parsed. */
export async function lsRemote(url: string, options: LsRemoteOptions = {}): Promise<LsRemoteResult> {
  const config: Record<string, string> = { ...options.config };
  if (options.protocol !== undefined) config['protocol.version'] = String(options.protocol);
  const out = await git(['ls-remote', '--symref', url, ...(options.patterns ?? [])], { config, env: options.env });
  const result: LsRemoteResult = { refs: new Map(), peeled: new Map(), headOid: null, headTarget: null };
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [left, name] = line.split('\t') as [string, string];
    if (left.startsWith('ref: ')) {
      if (name === 'HEAD') result.headTarget = left.slice('ref: '.length);
    } else if (name === 'HEAD') {
      result.headOid = left;
    } else if (name.endsWith('^{}')) {
      result.peeled.set(name.slice(0, -3), left);
    } else {
      result.refs.set(name, left);
    }
  }
  return result;
}

/** Number of objects `git rev-list --objects <args>` lists, e.g. `['--all']` or `['main', '^v1']`. */
export async function revListObjectsCount(repoDir: string, args: readonly string[]): Promise<number> {
  return Number(await git(['rev-list', '--objects', '--count', ...args], { cwd: repoDir }));
}

/**
 * `git fsck --full --strict`: throws GitCommandError when the repository is corrupt or
 * incomplete; resolves with fsck's report (dangling objects are reported, not errors).
 */
export async function fsck(repoDir: string): Promise<string> {
  const { stdout, stderr } = await runGit(['fsck', '--full', '--strict', '--no-progress'], { cwd: repoDir });
  return (stdout.toString('utf8') + stderr).trim();
}

function parseRefLines(text: string): RefMap {
  const refs: RefMap = new Map();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const at = line.indexOf(' ');
    refs.set(line.slice(at + 1), line.slice(0, at));
  }
  return refs;
}
