/**
 * The layers of docs/architecture.md, checked on the real imports: every import that leaves a
 * folder goes to a lower layer (so there is no cycle), `plan/` stays pure (core types only), and
 * `protocol/` never asks which transport it talks through.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/streams.js';

const SRC = path.join(repoRoot, 'src');

/** Lower numbers are lower layers; a folder may import only from strictly lower ones. */
const LAYER: Readonly<Record<string, number>> = {
  core: 0, // types.ts, errors.ts, version.ts, builtins.ts, abort.ts
  observe: 1,
  wire: 2,
  pack: 2,
  auth: 2,
  plan: 2,
  transport: 3,
  protocol: 4,
  execute: 5,
  api: 6,
  fleet: 7, // many mirrors from a manifest, on top of the api (docs/fleet.md)
  cli: 8,
  index: 9, // the package entry point
};

interface Import {
  from: string;
  to: string;
  fromFolder: string;
  toFolder: string;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : name.endsWith('.ts') ? [full] : [];
  });
}

function folderOf(file: string): string {
  const relative = path.relative(SRC, file);
  if (!relative.includes(path.sep)) return relative === 'index.ts' ? 'index' : 'core';
  return relative.split(path.sep)[0]!;
}

function imports(): Import[] {
  const found: Import[] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), match[1]!.replace(/\.js$/, '.ts'));
      found.push({ from: path.relative(SRC, file), to: path.relative(SRC, target), fromFolder: folderOf(file), toFolder: folderOf(target) });
    }
  }
  return found;
}

describe('layers (docs/architecture.md)', () => {
  const all = imports();

  it('knows every folder under src/', () => {
    const folders = new Set(all.flatMap((i) => [i.fromFolder, i.toFolder]));
    for (const folder of folders) assert.ok(folder in LAYER, `src/${folder}/ has no layer: add it to docs/architecture.md and to this test`);
  });

  it('imports only downward, so the folders form no cycle', () => {
    const upward = all.filter((i) => i.fromFolder !== i.toFolder && LAYER[i.fromFolder]! <= LAYER[i.toFolder]!);
    assert.deepEqual(upward.map((i) => `${i.from} -> ${i.to}`), []);
  });

  it('keeps plan/ pure: it imports nothing but the core types and errors', () => {
    const impure = all.filter((i) => i.fromFolder === 'plan' && i.toFolder !== 'plan' && i.toFolder !== 'core');
    assert.deepEqual(impure.map((i) => `${i.from} -> ${i.to}`), []);
    for (const file of sources(path.join(SRC, 'plan'))) {
      assert.doesNotMatch(readFileSync(file, 'utf8'), /from 'node:/, `${path.relative(SRC, file)} does no I/O`);
    }
  });

  it('lets protocol/ reach transports only through their one interface', () => {
    const beyond = all.filter((i) => i.fromFolder === 'protocol' && i.toFolder === 'transport' && i.to !== path.join('transport', 'transport.ts'));
    assert.deepEqual(beyond.map((i) => `${i.from} -> ${i.to}`), []);
  });

  it('never lets protocol/ ask which transport it has', () => {
    for (const file of sources(path.join(SRC, 'protocol'))) {
      assert.doesNotMatch(readFileSync(file, 'utf8'), /transport\.kind|\.kind === '(?:http|ssh|local|git|helper)'/, path.relative(SRC, file));
    }
  });
});
