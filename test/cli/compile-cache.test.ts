/**
 * The CLI's compile cache (src/cli/launch.ts; docs/architecture.md, "The CLI's compile cache"):
 * where it is written, when, with what permissions; that a cache V8 accepts is kept and one it
 * refuses is replaced; that turning it off or having nowhere to write it changes nothing of a
 * run but its time.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import vm from 'node:vm';
import { compileCacheDir, compileCacheName } from '../../src/cli/launch.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { repoRoot } from '../helpers/streams.js';
import { runCli } from './run-cli.js';

const BUNDLE_HASH = readFileSync(path.join(repoRoot, 'dist', 'git-sync.cjs.hash'), 'utf8').trim();
const CACHE_NAME = compileCacheName(BUNDLE_HASH);

describe("the CLI's compile cache", () => {
  let dir: TempDir;
  let source: FixtureRepo;
  let targets = 0;

  before(async () => {
    dir = makeTempDir('gitsync-compile-cache-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
  });
  after(() => dir.remove());

  const target = (): string => path.join(dir.path, `target-${++targets}.git`);
  const cacheFiles = (cacheDir: string): string[] => (existsSync(cacheDir) ? readdirSync(cacheDir) : []);

  it('finds its directory: GITSYNC_COMPILE_CACHE, else XDG_CACHE_HOME/git-sync, else ~/.cache/git-sync; off turns it off', () => {
    assert.equal(compileCacheDir({ GITSYNC_COMPILE_CACHE: '/var/cache/gs', XDG_CACHE_HOME: '/x' }), '/var/cache/gs');
    for (const off of ['off', 'OFF', '0', 'false', 'no']) assert.equal(compileCacheDir({ GITSYNC_COMPILE_CACHE: off, XDG_CACHE_HOME: '/x' }), null, off);
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/git-sync');
    // A relative XDG_CACHE_HOME is invalid by the XDG rules: ignored.
    assert.match(compileCacheDir({ XDG_CACHE_HOME: 'relative' })!, /[/]\.cache[/]git-sync$/);
    assert.match(compileCacheDir({})!, /[/]\.cache[/]git-sync$/);
    assert.match(CACHE_NAME, new RegExp(`^cli-${BUNDLE_HASH}-node${process.versions.node.replace(/\./g, '\\.')}-${process.arch}\\.v8$`));
  });

  it('is written by a sync, 0600 in a 0700 directory, kept by the next run (V8 took it), and changes nothing of the output', async () => {
    const cacheDir = path.join(dir.path, 'cache-a');
    const first = await runCli(['sync', source.path, target()], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(cacheFiles(cacheDir), [CACHE_NAME]);
    const file = path.join(cacheDir, CACHE_NAME);
    assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(statSync(file).size > 10_000, 'a cache of the compiled CLI');
    const written = statSync(file);
    const again = await runCli(['sync', source.path, target()], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, first.stderr);
    assert.equal(again.stdout.replace(/target-\d+/g, 'T'), first.stdout.replace(/target-\d+/g, 'T'));
    const kept = statSync(file);
    assert.equal(kept.ino, written.ino, 'an accepted cache is not written again');
    assert.equal(kept.mtimeMs, written.mtimeMs);
  });

  it('replaces a cache V8 refuses (damaged, or of another bundle left under this name), and the run goes on; removes month-old caches of other bundles', async () => {
    const cacheDir = path.join(dir.path, 'cache-b');
    await mkdir(cacheDir, { mode: 0o700 });
    const file = path.join(cacheDir, CACHE_NAME);
    const garbage = Buffer.alloc(4096, 0x5a);
    writeFileSync(file, garbage, { mode: 0o600 });
    // Caches of other bundles (another installed version): a month old, removed when this one's
    // is written; recent, kept (removing it would have two installations replace each other's
    // at every run).
    const old = path.join(cacheDir, 'cli-0000000000000000-node0.0.0-x64.v8');
    const recent = path.join(cacheDir, 'cli-1111111111111111-node0.0.0-x64.v8');
    writeFileSync(old, garbage);
    writeFileSync(recent, garbage);
    const monthAgo = new Date(Date.now() - 31 * 24 * 60 * 60 * 1000);
    utimesSync(old, monthAgo, monthAgo);
    const run = await runCli(['sync', source.path, target()], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.deepEqual(cacheFiles(cacheDir).sort(), [CACHE_NAME, path.basename(recent)].sort());
    assert.notDeepEqual(readFileSync(file), garbage);
  });

  it('writes nothing when turned off, for --version and --help, or for a usage error', async () => {
    const xdg = path.join(dir.path, 'xdg');
    const off = await runCli(['sync', source.path, target()], { GITSYNC_COMPILE_CACHE: 'off', XDG_CACHE_HOME: xdg });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(existsSync(xdg), false);
    for (const args of [['--version'], ['--help'], ['sync', '--no-such-flag', 'a', 'b']]) {
      const run = await runCli(args, { GITSYNC_COMPILE_CACHE: '', XDG_CACHE_HOME: xdg });
      assert.notEqual(run.stdout + run.stderr, '', args.join(' '));
      assert.equal(existsSync(xdg), false, args.join(' '));
    }
    // By default, under XDG_CACHE_HOME.
    const cached = await runCli(['plan', source.path, target()], { GITSYNC_COMPILE_CACHE: '', XDG_CACHE_HOME: xdg });
    assert.equal(cached.code, 0, cached.stderr);
    assert.deepEqual(cacheFiles(path.join(xdg, 'git-sync')), [CACHE_NAME]);
  });

  it('costs a run nothing but time when it cannot be written: no message, the same result', async () => {
    // A file where the directory would be.
    const blocked = path.join(dir.path, 'not-a-dir');
    writeFileSync(blocked, 'x');
    const run = await runCli(['sync', source.path, target()], { GITSYNC_COMPILE_CACHE: path.join(blocked, 'cache') });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^CREATE refs\/heads\/main /m);
  });

  it("is not written by a run whose relay had the GC pacer change V8's flags: V8 would refuse it at every start", async () => {
    const cacheDir = path.join(dir.path, 'cache-relay');
    // More than the pacer's 2 MiB of traffic: it changes V8's flags at its first collection.
    const big = await createRepo({ parentDir: dir.path, name: 'big' });
    await big.commit('main', { files: { 'big.bin': pseudoRandomBytes(3 << 20, 7) } });
    const relay = await runCli(['sync', big.path, target()], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(relay.code, 0, relay.stderr);
    assert.deepEqual(cacheFiles(cacheDir), []);
    // A run that moves little writes it; the next relay takes it as it is.
    const small = await runCli(['sync', source.path, target()], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(small.code, 0, small.stderr);
    assert.deepEqual(cacheFiles(cacheDir), [CACHE_NAME]);
    const written = statSync(path.join(cacheDir, CACHE_NAME));
    const again = await runCli(['sync', big.path, target()], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(statSync(path.join(cacheDir, CACHE_NAME)).mtimeMs, written.mtimeMs);
    // And the next small run takes it too: it was made under the flags every run starts with.
    const after = await runCli(['sync', source.path, target()], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(after.code, 0, after.stderr);
    assert.equal(statSync(path.join(cacheDir, CACHE_NAME)).ino, written.ino);
  });

  it("starts a one-shot command without Node's ES module loader, from a bundle that is its own strict wrapper function", async () => {
    const preload = path.join(dir.path, 'esm-loader.cjs');
    writeFileSync(preload, "process.on('exit', () => process.stderr.write(process.moduleLoadList.some((m) => m.includes('modules/esm/module_job')) ? 'esm loader\\n' : 'no esm loader\\n'));\n");
    const run = await runCli(['--version'], { GITSYNC_COMPILE_CACHE: 'off', NODE_OPTIONS: `--require=${preload}` });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^git-sync \d/);
    assert.equal(run.stderr, 'no esm loader\n');
    const bundle = path.join(repoRoot, 'dist', 'git-sync.cjs');
    const text = readFileSync(bundle, 'latin1');
    assert.ok(text.startsWith("(function (exports, require, module, __filename, __dirname) {'use strict';"), text.slice(0, 120));
    const wrapper = new vm.Script(text, { filename: bundle }).runInThisContext() as () => void;
    assert.equal(typeof wrapper, 'function');
    // Only a strict function refuses to be asked for its caller.
    assert.throws(() => (wrapper as unknown as { caller: unknown }).caller, TypeError);
  });

  it('runs fleet commands from the ES module bundle, which writes no cache', async () => {
    const cacheDir = path.join(dir.path, 'cache-fleet');
    const run = await runCli(['fleet', 'status', '--state', path.join(dir.path, 'missing.db')], { GITSYNC_COMPILE_CACHE: cacheDir });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /no fleet state at/);
    assert.equal(existsSync(cacheDir), false);
  });
});
