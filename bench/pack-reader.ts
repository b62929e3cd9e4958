/**
 * Pack reader throughput and memory. Builds a ~240 MB pack with git (190 incompressible 1 MiB
 * blobs plus 100,000 small files in 1,000 commits, which also makes ~65,000 trees), then reads
 * it from a file stream with `readPack` and prints MB/s, objects/s and peak RSS.
 *
 *   node dist/bench/pack-reader.js [--big-mib 190] [--small 100000] [--keep]
 *
 * Every measurement runs in a fresh process (peak RSS is per process and only grows):
 *   mixed                   the whole pack, default options
 *   big blobs only          the random blobs' branch alone (MB/s on large entries)
 *   small objects only      the small files' branch alone (objects/s)
 *   floor                   the same file streamed through SHA-1 only: what any reader costs
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { readPack, type PackSummary } from '../src/pack/pack-reader.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

const BIG_MIB = flag('--big-mib', 190);
const SMALL_FILES = flag('--small', 100_000);
const KEEP = process.argv.includes('--keep');

const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
};

/** Runs git; `feed` writes its stdin, `stdoutTo` receives its stdout. */
async function git(args: string[], cwd: string, feed?: (stdin: Writable) => Promise<void>, stdoutTo?: string): Promise<void> {
  const child = spawn('git', args, { cwd, env: GIT_ENV, stdio: ['pipe', stdoutTo === undefined ? 'ignore' : 'pipe', 'inherit'] });
  const exited = once(child, 'close');
  const output = stdoutTo === undefined ? Promise.resolve() : pipeline(child.stdout!, createWriteStream(stdoutTo));
  if (feed !== undefined) await feed(child.stdin!);
  child.stdin!.end();
  const [code] = (await exited) as [number | null];
  await output;
  if (code !== 0) throw new Error(`git ${args.join(' ')} exited with ${code}`);
}

async function write(stream: Writable, data: string | Buffer): Promise<void> {
  if (!stream.write(data)) await once(stream, 'drain');
}

function data(content: string | Buffer): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content) : content;
  return Buffer.concat([Buffer.from(`data ${body.length}\n`), body, Buffer.from('\n')]);
}

function commitHeader(ref: string, n: number): string {
  return `commit ${ref}\ncommitter Bench <bench@example.com> ${1_700_000_000 + n} +0000\n`;
}

/** Small text files spread over 64 directories, 100 per commit; then the random blobs. */
async function fastImport(stdin: Writable): Promise<void> {
  const perCommit = 100;
  for (let c = 0; c * perCommit < SMALL_FILES; c++) {
    await write(stdin, commitHeader('refs/heads/small', c));
    await write(stdin, data(`small commit ${c}\n`));
    for (let i = c * perCommit; i < Math.min((c + 1) * perCommit, SMALL_FILES); i++) {
      await write(stdin, `M 100644 inline d${i % 64}/f${i}.txt\n`);
      await write(stdin, data(`file ${i}\n${randomBytes(24 + (i % 97)).toString('base64')}\n`));
    }
  }
  const perBigCommit = 10;
  for (let c = 0; c * perBigCommit < BIG_MIB; c++) {
    await write(stdin, commitHeader('refs/heads/big', c));
    await write(stdin, data(`big commit ${c}\n`));
    for (let i = c * perBigCommit; i < Math.min((c + 1) * perBigCommit, BIG_MIB); i++) {
      await write(stdin, `M 100644 inline random/${i}.bin\n`);
      await write(stdin, data(randomBytes(1 << 20)));
    }
  }
  await write(stdin, 'done\n');
}

type Mode = 'default' | 'floor';

interface Measurement {
  megabytes: number;
  seconds: number;
  objects: number;
  /** Peak RSS of the measuring process, which did nothing else. */
  peakRssMb: number;
  summary?: PackSummary;
}

/** Child process: read one pack once, print the measurement as JSON. */
async function measureHere(path: string, mode: Mode): Promise<void> {
  const started = process.hrtime.bigint();
  const source = createReadStream(path, { highWaterMark: 64 * 1024 });
  let summary: PackSummary | undefined;
  if (mode === 'floor') {
    const hash = createHash('sha1');
    for await (const chunk of source) hash.update(chunk as Buffer);
  } else {
    summary = await readPack(source);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const result: Measurement = {
    megabytes: statSync(path).size / 1e6,
    seconds,
    objects: summary?.objectCount ?? 0,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    summary,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function measure(name: string, path: string, mode: Mode): Promise<Measurement & { name: string }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--read', path, '--mode', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`measuring ${name} failed with exit code ${code}`);
  const run = { name, ...(JSON.parse(Buffer.concat(out).toString()) as Measurement) };
  const rate = mode === 'floor' ? '' : `${Math.round(run.objects / run.seconds).toString().padStart(7)} objects/s  `;
  console.log(
    `${name.padEnd(22)} ${run.megabytes.toFixed(1).padStart(6)} MB  ${run.objects.toString().padStart(6)} objects  `
    + `${run.seconds.toFixed(2).padStart(5)} s  ${(run.megabytes / run.seconds).toFixed(0).padStart(4)} MB/s  ${rate}`
    + `peak RSS ${run.peakRssMb.toFixed(0)} MB`,
  );
  return run;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-bench-pack-'));
  try {
    const repo = join(dir, 'repo.git');
    const packs = { mixed: join(dir, 'mixed.pack'), small: join(dir, 'small.pack'), big: join(dir, 'big.pack') };
    const started = Date.now();
    await git(['init', '--quiet', '--bare', repo], dir);
    await git(['fast-import', '--quiet', '--done'], repo, fastImport);
    // Random blobs cannot delta; bigFileThreshold keeps pack-objects from trying.
    const pack = ['-c', 'core.bigFileThreshold=512k', 'pack-objects', '--stdout', '--quiet', '--delta-base-offset'];
    await git([...pack, '--all'], repo, undefined, packs.mixed);
    await git([...pack, '--revs'], repo, (stdin) => write(stdin, 'refs/heads/small\n'), packs.small);
    await git([...pack, '--revs'], repo, (stdin) => write(stdin, 'refs/heads/big\n'), packs.big);
    console.log(`packs generated in ${((Date.now() - started) / 1000).toFixed(1)} s; each run below is a fresh process reading a file in 64 KiB chunks`);
    const runs = [
      await measure('mixed', packs.mixed, 'default'),
      await measure('big blobs only', packs.big, 'default'),
      await measure('small objects only', packs.small, 'default'),
      await measure('floor: read+SHA-1 only', packs.mixed, 'floor'),
    ];
    console.log(JSON.stringify({
      bench: 'pack-reader',
      node: process.version,
      runs: runs.map((run) => ({
        name: run.name,
        megabytes: Number(run.megabytes.toFixed(1)),
        seconds: Number(run.seconds.toFixed(3)),
        mbPerSecond: Number((run.megabytes / run.seconds).toFixed(1)),
        objectsPerSecond: Math.round(run.objects / run.seconds),
        peakRssMb: Number(run.peakRssMb.toFixed(1)),
        objects: run.summary?.objects,
        deltas: run.summary?.deltas,
      })),
    }));
  } finally {
    if (KEEP) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const readAt = process.argv.indexOf('--read');
if (readAt >= 0) await measureHere(process.argv[readAt + 1]!, (process.argv[process.argv.indexOf('--mode') + 1] ?? 'default') as Mode);
else await main();
