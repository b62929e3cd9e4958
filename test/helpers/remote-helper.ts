/**
 * Test remote helpers (gitremote-helpers) that serve local repositories, written as small Node
 * scripts into a temp bin directory to put first on PATH. `<scheme>:///abs/path/repo.git` reaches
 * the repository at that path:
 *
 *   - `git-remote-testproto`: `stateless-connect` (each request run through
 *     `git upload-pack --stateless-rpc` under protocol v2, each response closed with `0002`) and
 *     `connect` (a plain pipe to `git upload-pack` / `git receive-pack`);
 *   - `git-remote-teststateless`: `stateless-connect` only;
 *   - `git-remote-testnone`: neither (a helper of the fetch/import kind);
 *   - `git-remote-testhang`: never answers (for abort tests).
 *
 *   const helpers = await installTestRemoteHelpers();
 *   process.env.PATH = `${helpers.binDir}:${process.env.PATH}`;
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from './git.js';

export type TestHelperMode = 'testproto' | 'teststateless' | 'testnone' | 'testhang';

const CAPABILITIES: Record<TestHelperMode, string[]> = {
  testproto: ['connect', 'stateless-connect'],
  teststateless: ['stateless-connect'],
  testnone: ['fetch', 'option'],
  testhang: [],
};

/** The helper program (CommonJS, run by this Node binary). */
function script(mode: TestHelperMode): string {
  return `#!${process.execPath}
'use strict';
const { spawn } = require('node:child_process');
const MODE = ${JSON.stringify(mode)};
const CAPABILITIES = ${JSON.stringify(CAPABILITIES[mode])};
const url = process.argv[3];
const repo = decodeURIComponent(new URL(url).pathname);

if (MODE === 'testhang') {
  setInterval(() => undefined, 1 << 30);
  return;
}

let buffer = Buffer.alloc(0);
let ended = false;
let waiter = null;
const wake = () => { const w = waiter; waiter = null; if (w) w(); };
const onData = (chunk) => { buffer = Buffer.concat([buffer, chunk]); wake(); };
process.stdin.on('data', onData);
process.stdin.on('end', () => { ended = true; wake(); });
const more = () => new Promise((resolve) => { waiter = resolve; });
const take = (n) => { const out = buffer.subarray(0, n); buffer = buffer.subarray(n); return out; };

async function readLine() {
  for (;;) {
    const newline = buffer.indexOf(10);
    if (newline >= 0) return take(newline + 1).toString('utf8').slice(0, -1);
    if (ended) return null;
    await more();
  }
}

/** One request: pkt-lines up to and including a flush; null at the end of input. */
async function readRequest() {
  const parts = [];
  for (;;) {
    while (buffer.length < 4) { if (ended) return null; await more(); }
    const length = parseInt(buffer.subarray(0, 4).toString('latin1'), 16);
    if (length === 0) { parts.push(take(4)); return Buffer.concat(parts); }
    const size = length < 4 ? 4 : length;
    while (buffer.length < size) { if (ended) return null; await more(); }
    parts.push(take(size));
  }
}

function runGit(args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { env: { ...process.env, GIT_PROTOCOL: 'version=2' }, stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk) => process.stdout.write(chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error('git ' + args.join(' ') + ' exited with ' + code))));
    child.stdin.end(input);
  });
}

async function main() {
  if ((await readLine()) !== 'capabilities') throw new Error('expected "capabilities"');
  process.stdout.write(CAPABILITIES.map((c) => c + '\\n').join('') + '\\n');
  const line = await readLine();
  if (line === null) return;
  const [command, service] = line.split(' ');
  if (command === 'stateless-connect' && CAPABILITIES.includes(command)) {
    process.stdout.write('\\n');
    await runGit(['upload-pack', '--stateless-rpc', '--advertise-refs', repo]);
    for (;;) {
      const request = await readRequest();
      if (request === null) return;
      await runGit(['upload-pack', '--stateless-rpc', repo], request);
      process.stdout.write('0002');
    }
  }
  if (command === 'connect' && CAPABILITIES.includes(command)) {
    process.stdout.write('\\n');
    const child = spawn('git', [service.replace(/^git-/, ''), repo], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout.pipe(process.stdout);
    process.stdin.off('data', onData);
    if (buffer.length > 0) child.stdin.write(buffer);
    if (ended) child.stdin.end(); else process.stdin.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    // When the service ends, so does the connection, as with a real transport: exit at once
    // rather than wait for git-sync to close its end (stdin, still read, would keep this process,
    // and so its stdout, alive: git-sync would see silence instead of the end).
    child.on('close', (code) => process.stdout.write('', () => process.exit(code ?? 1)));
    return;
  }
  throw new Error('unsupported command: ' + line);
}

main().catch((error) => {
  process.stderr.write('git-remote-' + MODE + ': ' + error.message + '\\n');
  process.exit(128);
});
`;
}

export interface TestRemoteHelpers {
  /** Put this first on PATH. */
  readonly binDir: string;
  /** The path of each helper program. */
  readonly programs: Readonly<Record<TestHelperMode, string>>;
}

export async function installTestRemoteHelpers(): Promise<TestRemoteHelpers> {
  const binDir = makeTempDir('gitsync-helpers-').path;
  const programs = {} as Record<TestHelperMode, string>;
  for (const mode of Object.keys(CAPABILITIES) as TestHelperMode[]) {
    const file = join(binDir, `git-remote-${mode}`);
    await writeFile(file, script(mode));
    await chmod(file, 0o755);
    programs[mode] = file;
  }
  return { binDir, programs };
}
