#!/usr/bin/env node
// `npm run fuzz` (after the build): runs only the fuzz properties (dist/test/**/*.fuzz.test.js)
// with many cases each and a fresh seed, printed first so that a failure can be replayed
// (docs/testing.md, "Fuzzing"). FUZZ_RUNS (default 20000) is the number of cases per property,
// FUZZ_SEED the seed (default: a random one). Arguments narrow the files: `npm run fuzz --
// pktline pack-reader` runs the files whose path contains one of them.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tests = path.join(root, 'dist', 'test');

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return find(full);
    return entry.name.endsWith('.fuzz.test.js') ? [full] : [];
  });
}

const filters = process.argv.slice(2);
const files = find(tests)
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no fuzz tests under ${tests}${filters.length > 0 ? ` matching ${filters.join(', ')}` : ''} (run npm run build first)`);
  process.exit(2);
}

const seed = process.env.FUZZ_SEED?.trim() || String(randomInt(2 ** 31));
const runs = process.env.FUZZ_RUNS?.trim() || '20000';
console.log(`fuzz: seed ${seed}, ${runs} cases per property, ${files.length} files`);
console.log(`replay: FUZZ_SEED=${seed} FUZZ_RUNS=${runs} npm run fuzz${filters.length > 0 ? ` -- ${filters.join(' ')}` : ''}`);

const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', ...files.map((file) => path.relative(root, file))],
  { cwd: root, stdio: 'inherit', env: { ...process.env, FUZZ_SEED: seed, FUZZ_RUNS: runs } },
);
console.log(`fuzz: seed ${seed} ${result.status === 0 ? 'passed' : 'FAILED: replay with the line above'}`);
process.exit(result.status ?? 1);
