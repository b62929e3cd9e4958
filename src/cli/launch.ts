/**
 * How `bin/git-sync` starts the CLI (docs/architecture.md, "The CLI's compile cache").
 *
 * A one-shot command (sync, plan, probe, fetch, help, ...) runs `dist/git-sync.cjs`, the CLI
 * bundled as one CommonJS script, compiled through `vm.Script` with V8's code cache: the bytecode
 * V8 compiled in an earlier run of the same bundle, read from a file instead of compiled again.
 * On a no-op sync that is 13 ms of a real-shaped repository's run and 43 ms of one with 10,000
 * refs (the functions a run compiles as it first calls them are in the cache too). Node 20 has
 * no compile cache of its own for modules (`module.enableCompileCache` came with Node 22), and
 * V8's cache is for scripts, not ES modules: hence the CommonJS bundle.
 *
 * Fleet and worker commands, which live for hours and load SQLite, pino, the YAML parser or the
 * queue client on demand, run the ES module bundle `dist/git-sync.mjs` as before.
 *
 * The cache: one file per bundle (its content hash, written by scripts/bundle.mjs beside it),
 * Node version and architecture, under `$GITSYNC_COMPILE_CACHE`, else `$XDG_CACHE_HOME/git-sync`,
 * else `~/.cache/git-sync`; `GITSYNC_COMPILE_CACHE=off` turns it off. It is written after a run
 * of a command that talks to a repository when there was none or V8 refused it (another V8, other
 * flags, a damaged file), but not after a usage error, nor after a relay whose GC pacing changed
 * V8's flags (V8 would refuse that cache at every later start). It is written atomically (a
 * temporary file renamed), 0600, in a directory created 0700; other bundles' files are removed
 * once a month old. It holds V8's bytecode of git-sync's own code, nothing of the run (no URL,
 * ref or credential). Any failure to read or write it only costs the time it would have saved:
 * nothing is printed.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';

/** Commands that run from the ES module bundle: long-lived, with modules loaded on demand. */
const MODULE_COMMANDS = new Set(['fleet', 'worker']);
/** Commands whose run writes the cache: the ones that talk to repositories, so it holds their code. */
const CACHING_COMMANDS = new Set(['sync', 'replicate', 'bootstrap', 'plan', 'probe', 'fetch']);
const OFF = new Set(['0', 'false', 'no', 'off']);
/** Another bundle's cache not written for this long is removed when this one's is written. */
const STALE_CACHE_MILLIS = 30 * 24 * 60 * 60 * 1000;
/**
 * Set on globalThis by the GC pacer (observe/gc-pacer.ts, `V8_FLAGS_CHANGED`) once it has changed
 * V8's flags: a cache made then carries their mark, and V8 would refuse it at every later start.
 * Read by its name: the launcher does not load the bundle's modules.
 */
const V8_FLAGS_CHANGED = Symbol.for('git-sync.v8-flags-changed');

/** Where the cache lives, or null when it is turned off or there is no home to keep it in. */
export function compileCacheDir(env: NodeJS.ProcessEnv): string | null {
  const asked = env['GITSYNC_COMPILE_CACHE']?.trim();
  if (asked !== undefined && asked !== '') return OFF.has(asked.toLowerCase()) ? null : path.resolve(asked);
  const xdg = env['XDG_CACHE_HOME']?.trim();
  if (xdg !== undefined && xdg !== '' && path.isAbsolute(xdg)) return path.join(xdg, 'git-sync');
  let home: string;
  try {
    home = homedir();
  } catch {
    return null;
  }
  return home === '' ? null : path.join(home, '.cache', 'git-sync');
}

/** The cache file of a bundle with this content hash, for this Node and architecture. */
export function compileCacheName(bundleHash: string): string {
  return `cli-${bundleHash}-node${process.versions.node}-${process.arch}.v8`;
}

/** Where this bundle's cache is (its directory and file name), or null when there is none to use. */
function cacheLocation(bundle: string): { dir: string; name: string } | null {
  const dir = compileCacheDir(process.env);
  if (dir === null) return null;
  try {
    return { dir, name: compileCacheName(readFileSync(`${bundle}.hash`, 'utf8').trim()) };
  } catch {
    return null;
  }
}

function readCache(location: { dir: string; name: string } | null): Buffer | undefined {
  if (location === null) return undefined;
  try {
    return readFileSync(path.join(location.dir, location.name));
  } catch {
    return undefined;
  }
}

function writeCache(dir: string, name: string, data: Buffer): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temporary = path.join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(temporary, data, { mode: 0o600 });
    renameSync(temporary, path.join(dir, name));
    // Other bundles' caches go once they are old: a cache in use is never written again, so a
    // second installation sharing the home (another version) only writes its own again after a
    // month, where removing every other one would have two installations replace each other's
    // at every run.
    const stale = Date.now() - STALE_CACHE_MILLIS;
    for (const entry of readdirSync(dir)) {
      if (entry === name || !entry.startsWith('cli-') || !entry.endsWith('.v8')) continue;
      const other = path.join(dir, entry);
      if (statSync(other).mtimeMs < stale) rmSync(other, { force: true });
    }
  } catch {
    // A cache that cannot be written costs the next run its compile time, nothing else.
  }
}

/** Runs the CLI from the bundles in `distDir` (`dist/`) for `process.argv`. */
export async function launch(distDir: string): Promise<void> {
  const command = process.argv[2];
  if (command !== undefined && MODULE_COMMANDS.has(command)) {
    await import(pathToFileURL(path.join(distDir, 'git-sync.mjs')).href);
    return;
  }
  const bundle = path.join(distDir, 'git-sync.cjs');
  // The bundle is written as the function a CommonJS module's code is wrapped in
  // (scripts/bundle.mjs): compiled as it is, it evaluates to that function. It is ASCII (the build
  // fails otherwise), so read as Latin-1 it is the same string, copied byte for byte where V8's
  // UTF-8 decoder takes 3-5 ms longer here over 637 KB.
  const source = readFileSync(bundle, 'latin1');
  const location = cacheLocation(bundle);
  const cached = readCache(location);
  const script = new vm.Script(source, { filename: bundle, cachedData: cached });
  if (location !== null && command !== undefined && CACHING_COMMANDS.has(command) && (cached === undefined || script.cachedDataRejected === true)) {
    process.once('exit', (code) => {
      // A usage error (exit 2) compiled next to nothing worth keeping; after a relay the GC
      // pacer's flags would make V8 refuse the cache at the next start.
      if (code === 2 || (globalThis as Record<symbol, unknown>)[V8_FLAGS_CHANGED] === true) return;
      try {
        writeCache(location.dir, location.name, script.createCachedData());
      } catch {
        // As above: only time is lost.
      }
    });
  }
  const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  const module = { exports: {} };
  run.call(module.exports, module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
}
