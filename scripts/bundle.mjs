#!/usr/bin/env node
// Bundles the CLI (dist/src/cli/run.js, as tsc left it, with commander and log-update) into one
// file, dist/git-sync.mjs, which bin/git-sync loads. Why: a CLI run otherwise resolves, reads and
// links about a hundred ES modules before its first request — measured 130-150 ms to
// `--version` against 90 ms bundled on the 2-core CI machine, a large share of a no-op sync of a
// small repository, which fleets of mirrors run thousands of times. The library (the package
// root) stays unbundled. Run by `npm run build` after tsc.
//
// Fleet mode (src/cli/fleet.ts, imported with `import()`) goes into a chunk of its own under
// dist/chunks/, loaded only when a fleet command runs: a one-shot `sync` never reads SQLite,
// pino or the YAML parser. better-sqlite3 (a native addon) and pino (which resolves its own
// files at run time) are not bundled at all: they load from node_modules, as dependencies.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Chunk names carry a content hash: an earlier bundle's would linger beside the new ones.
rmSync(new URL('../dist/chunks', import.meta.url), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { 'git-sync': 'dist/src/cli/run.js' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  // The distributed fleet's queue client (bullmq, ioredis) is not bundled either: only `git-sync
  // worker` and the `--queue` commands import it (src/fleet/queue/, at run time), so a sync never
  // loads it.
  external: ['better-sqlite3', 'pino', 'bullmq', 'ioredis'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // commander is CommonJS: its require() of node built-ins needs a real require in an ES module.
  banner: { js: "import { createRequire as __gitSyncRequire } from 'node:module'; const require = __gitSyncRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});

// The same CLI as one CommonJS script, dist/git-sync.cjs, which bin/git-sync runs for one-shot
// commands through V8's code cache (src/cli/launch.ts; docs/architecture.md, "The CLI's compile
// cache"): V8 caches the compiled code of scripts, not of ES modules. Fleet and worker commands
// run from the ES module bundle above, so here their modules are stubs that say so. Beside it,
// dist/git-sync.cjs.hash names its content: the cache of one bundle is never taken for another's.
const FLEET_MODULES = /^\.\/(fleet|fleet-queue|fleet-serve)\.js$/;
const cjs = 'dist/git-sync.cjs';
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/run.js'],
  outfile: cjs,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['better-sqlite3', 'pino', 'bullmq', 'ioredis'],
  define: { 'import.meta.url': '__gitSyncImportMetaUrl' },
  // The file is the function src/cli/launch.ts compiles and calls, written out: V8 then compiles
  // the file's own string, where wrapping it at every start made a second copy of 637 KB (3-5 ms
  // here). The wrapper opens on the first line, so line numbers stay the bundle's; 'use strict'
  // opens it, as the code was written as ES modules (esbuild's own directive would follow the
  // banner, too late to count).
  banner: { js: "(function (exports, require, module, __filename, __dirname) {'use strict'; const __gitSyncImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  footer: { js: '})' },
  plugins: [
    {
      name: 'fleet-from-the-module-bundle',
      setup(builder) {
        builder.onResolve({ filter: FLEET_MODULES }, (args) => ({ path: args.path, namespace: 'fleet-stub' }));
        builder.onLoad({ filter: /.*/, namespace: 'fleet-stub' }, (args) => ({
          contents: `throw new Error(${JSON.stringify(`git-sync: ${args.path} runs from dist/git-sync.mjs (src/cli/launch.ts)`)});`,
          loader: 'js',
        }));
      },
    },
  ],
  sourcemap: 'linked',
  logLevel: 'warning',
});
const text = readFileSync(new URL(`../${cjs}`, import.meta.url), 'utf8');
// A script run by vm.Script has no module loader for import(): nothing may be left to one.
if (/\bimport\(/.test(text.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, ''))) throw new Error(`${cjs} holds an import() a vm.Script cannot run`);
// ASCII only: esbuild writes strings with escapes, but keeps some comments as they are. One
// character past ASCII makes the whole script a two-byte string, slower to decode at every start
// (9.3 against 7.4 ms here) and twice the memory.
const wide = text.split('\n').findIndex((line) => /[^\x00-\x7f]/.test(line));
if (wide !== -1) throw new Error(`${cjs}:${wide + 1} holds a character past ASCII, in a comment esbuild kept: write that comment in ASCII`);
writeFileSync(new URL(`../${cjs}.hash`, import.meta.url), `${createHash('sha256').update(text).digest('hex').slice(0, 16)}\n`);

// The launcher as one CommonJS file, dist/launch.cjs, which bin/git-sync (CommonJS: bin/package.json)
// requires: a one-shot command then starts without Node's ES module loader, which an ES module
// entry point sets up first (8-9 ms to `--version` here).
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/launch.js'],
  outfile: 'dist/launch.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
});
