#!/usr/bin/env node
// Bundles the CLI (dist/src/cli/run.js, as tsc left it, with commander and log-update) into one
// file, dist/git-sync.mjs, which bin/git-sync loads. Why: a CLI run otherwise resolves, reads and
// links about a hundred ES modules before its first request — measured 130-150 ms to
// `--version` against 90 ms bundled on the 2-core CI machine, a large share of a no-op sync of a
// small repository, which fleets of mirrors run thousands of times. The library (the package
// root) stays unbundled. Run by `npm run build` after tsc.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/run.js'],
  outfile: 'dist/git-sync.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // commander is CommonJS: its require() of node built-ins needs a real require in an ES module.
  banner: { js: "import { createRequire as __gitSyncRequire } from 'node:module'; const require = __gitSyncRequire(import.meta.url);" },
  // The distributed fleet's queue client stays out of the bundle: only `git-sync worker` and the
  // `--queue` commands import it (at run time, from node_modules), so a sync never loads it.
  external: ['bullmq', 'ioredis'],
  sourcemap: 'linked',
  logLevel: 'warning',
});
