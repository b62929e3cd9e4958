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
import { rmSync } from 'node:fs';
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
