/**
 * A scripted, hostile git server for tests of what git-sync does with bytes it does not control
 * (docs/security.md). A script is a list of steps a peer plays to whoever connects: pkt-lines,
 * raw bytes, endless or trickled repeats, reads of the client's request, pauses. The same script
 * runs two ways:
 *
 * - over a pipe, as the program behind `GIT_SSH_COMMAND` (`hostilePipe`): git-sync runs it as it
 *   would run ssh, and the script answers for `git-upload-pack` or `git-receive-pack` by the
 *   service named in the remote command;
 * - over HTTP (`startHostileHttp`): a node:http server answering the smart-HTTP routes, one script
 *   for the advertisement (`GET .../info/refs`) and one for each service's POST;
 * - as a remote helper (`hostileHelper`: `git-remote-<scheme>` on a PATH of its own, its whole
 *   output scripted, handshake included) and as a git daemon (`startHostileDaemon`, git://), both
 *   through the same peer program as the pipe.
 *
 * And `runCliMeasured` runs the real CLI against it, reporting the child's peak RSS, so a test of
 * a memory bound fails when the process grew past it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN } from '../cli/run-cli.js';

/** One thing the peer does. Bytes are given as Buffers (or text, sent as UTF-8). */
export type HostileStep =
  /** Raw bytes, as they are. */
  | { send: Buffer | string }
  /** One pkt-line holding the payload (length prefix added). */
  | { pkt: Buffer | string }
  /** A sideband pkt-line: band 1 (pack), 2 (progress) or 3 (error). */
  | { band: 1 | 2 | 3; data: Buffer | string }
  | { flush: true }
  | { delim: true }
  /** The bytes again and again: `times` times, or until the client goes away when omitted. */
  | { repeat: Buffer | string; times?: number; everyMillis?: number }
  /** Consume the client's request: up to its first flush-pkt, or everything until it ends its side. */
  | { read: 'until-flush' | 'all' }
  | { sleep: number }
  /** Close the connection here (the rest of the script is not played). */
  | { end: true };

/** What a peer plays for each service; `advertisement` is the HTTP GET (over a pipe, it is the service's opening). */
export interface HostileScript {
  uploadPack?: readonly HostileStep[];
  receivePack?: readonly HostileStep[];
  /** HTTP only: the GET .../info/refs answer's steps (a smart advertisement, or anything else). */
  advertisement?: readonly HostileStep[];
  /** HTTP only: status and headers of every answer (default 200 and the smart content types). */
  status?: number;
  headers?: Record<string, string>;
}

/** The pkt-line framing of a payload (a helper for scripts). */
export function pktLine(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0'), 'ascii'), body]);
}

/** A v0/v1 advertisement of `refs` (name -> oid) with `capabilities` on the first line, flush-terminated. */
export function advertisementSteps(refs: ReadonlyArray<readonly [string, string]>, capabilities: string): HostileStep[] {
  const steps: HostileStep[] = [];
  refs.forEach(([name, oid], index) => steps.push({ pkt: index === 0 ? `${oid} ${name}\0${capabilities}\n` : `${oid} ${name}\n` }));
  if (refs.length === 0) steps.push({ pkt: `${'0'.repeat(40)} capabilities^{}\0${capabilities}\n` });
  steps.push({ flush: true });
  return steps;
}

// The peer program, run by node as GIT_SSH_COMMAND. It reads its script from the JSON file named
// by its first argument; bytes travel in the JSON as base64.
const PEER_SOURCE = `
import { readFileSync } from 'node:fs';
const script = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const remoteCommand = process.argv[process.argv.length - 1];
const steps = remoteCommand.startsWith('git-receive-pack') ? script.receivePack : script.uploadPack;
if (!steps) { process.stderr.write('hostile peer: no script for ' + remoteCommand + '\\n'); process.exit(1); }
let input = Buffer.alloc(0);
let inputEnded = false;
let wake = null;
process.stdin.on('data', (chunk) => { input = Buffer.concat([input, chunk]); if (input.length > 1 << 20) input = input.subarray(input.length - 16); wake?.(); });
process.stdin.on('end', () => { inputEnded = true; wake?.(); });
process.stdin.on('error', () => { inputEnded = true; wake?.(); });
let gone = false;
process.stdout.on('error', () => { gone = true; });
const waitInput = () => new Promise((resolve) => { wake = () => { wake = null; resolve(); }; });
const write = (bytes) => new Promise((resolve) => { if (gone) return resolve(); process.stdout.write(bytes) ? resolve() : process.stdout.once('drain', resolve); });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
for (const step of steps) {
  if (gone) break;
  if (step.bytes !== undefined) await write(Buffer.from(step.bytes, 'base64'));
  else if (step.repeat !== undefined) {
    const bytes = Buffer.from(step.repeat, 'base64');
    for (let i = 0; (step.times === undefined || i < step.times) && !gone; i++) { await write(bytes); if (step.everyMillis) await sleep(step.everyMillis); }
  } else if (step.read === 'until-flush') {
    while (!input.includes('0000') && !inputEnded) await waitInput();
    input = Buffer.alloc(0);
  } else if (step.read === 'all') {
    while (!inputEnded) await waitInput();
  } else if (step.sleep !== undefined) await sleep(step.sleep);
  else if (step.end) break;
}
process.stdout.end(() => process.exit(0));
`;

interface WireStep {
  bytes?: string;
  repeat?: string;
  times?: number;
  everyMillis?: number;
  read?: 'until-flush' | 'all';
  sleep?: number;
  end?: boolean;
}

function toBytes(data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** Steps as bytes to write, or the non-writing step itself. */
function wireSteps(steps: readonly HostileStep[]): WireStep[] {
  return steps.map((step): WireStep => {
    if ('send' in step) return { bytes: toBytes(step.send).toString('base64') };
    if ('pkt' in step) return { bytes: pktLine(step.pkt).toString('base64') };
    if ('band' in step) return { bytes: pktLine(Buffer.concat([Buffer.from([step.band]), toBytes(step.data)])).toString('base64') };
    if ('flush' in step) return { bytes: Buffer.from('0000').toString('base64') };
    if ('delim' in step) return { bytes: Buffer.from('0001').toString('base64') };
    if ('repeat' in step) return { repeat: toBytes(step.repeat).toString('base64'), times: step.times, everyMillis: step.everyMillis };
    if ('read' in step) return { read: step.read };
    if ('sleep' in step) return { sleep: step.sleep };
    return { end: true };
  });
}

/** A hostile peer behind GIT_SSH_COMMAND: give `env` to git-sync and use `url` (any path) as source or target. */
export interface HostilePipe {
  readonly env: Record<string, string>;
  readonly url: string;
  close(): Promise<void>;
}

/** The peer program and its script, written into a fresh temporary directory. */
async function writePeer(script: HostileScript): Promise<{ dir: string; peer: string; scriptFile: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'git-sync-hostile-'));
  const peer = path.join(dir, 'peer.mjs');
  const scriptFile = path.join(dir, 'script.json');
  await writeFile(peer, PEER_SOURCE);
  await writeFile(
    scriptFile,
    JSON.stringify({
      uploadPack: script.uploadPack && wireSteps(script.uploadPack),
      receivePack: script.receivePack && wireSteps(script.receivePack),
    }),
  );
  return { dir, peer, scriptFile };
}

export async function hostilePipe(script: HostileScript, repoPath = '/hostile/repo.git'): Promise<HostilePipe> {
  const { dir, peer, scriptFile } = await writePeer(script);
  return {
    env: { GIT_SSH_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(peer)} ${JSON.stringify(scriptFile)}`, GIT_SSH_VARIANT: 'ssh' },
    url: `ssh://hostile.invalid${repoPath}`,
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A hostile remote helper: `git-remote-<scheme>` on a PATH of its own, playing the `uploadPack`
 * steps from its first byte on (its answer to `capabilities` included). Give `env` to git-sync
 * and use `url`.
 */
export async function hostileHelper(script: HostileScript, scheme = 'hostile'): Promise<HostilePipe> {
  const { dir, peer, scriptFile } = await writePeer(script);
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  const program = path.join(bin, `git-remote-${scheme}`);
  await writeFile(program, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(peer)} ${JSON.stringify(scriptFile)} "$@"\n`);
  await chmod(program, 0o755);
  return {
    env: { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` },
    url: `${scheme}://hostile.invalid/repo.git`,
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A hostile `git daemon` on loopback (git://): each connection's request line picks the script, played as over a pipe. */
export interface HostileDaemon {
  readonly url: string;
  close(): Promise<void>;
}

export async function startHostileDaemon(script: HostileScript, repoPath = '/repo.git'): Promise<HostileDaemon> {
  const { dir, peer, scriptFile } = await writePeer(script);
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) return;
      const length = parseInt(head.subarray(0, 4).toString('latin1'), 16);
      if (head.length < length) return;
      socket.off('data', onData);
      // The request line's first word is the service (git-upload-pack or git-receive-pack).
      const service = head.subarray(4, length).toString('latin1').split(' ')[0]!;
      const child = spawn(process.execPath, [peer, scriptFile, service], { stdio: ['pipe', 'pipe', 'ignore'] });
      children.add(child);
      child.on('close', () => {
        children.delete(child);
        socket.end();
      });
      child.stdin.on('error', () => undefined);
      child.stdin.write(head.subarray(length));
      socket.pipe(child.stdin);
      child.stdout.pipe(socket);
      socket.on('close', () => child.kill('SIGKILL'));
    };
    socket.on('data', onData);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `git://127.0.0.1:${port}${repoPath}`,
    close: async () => {
      for (const child of children) child.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A hostile smart-HTTP server on loopback. `requests` records every request line it got. */
export interface HostileHttp {
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startHostileHttp(script: HostileScript, repoPath = '/repo.git'): Promise<HostileHttp> {
  const requests: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    const url = new URL(request.url ?? '/', 'http://x');
    const service = url.searchParams.get('service') ?? (url.pathname.endsWith('git-receive-pack') ? 'git-receive-pack' : 'git-upload-pack');
    const isAdvertisement = url.pathname.endsWith('/info/refs');
    const steps = isAdvertisement ? script.advertisement : service === 'git-receive-pack' ? script.receivePack : script.uploadPack;
    if (steps === undefined) {
      response.writeHead(404).end('no script\n');
      return;
    }
    const kind = isAdvertisement ? `application/x-${service}-advertisement` : `application/x-${service}-result`;
    response.writeHead(script.status ?? 200, { 'content-type': kind, 'cache-control': 'no-cache', ...script.headers });
    void play(steps, request, response);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${repoPath}`,
    requests,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function play(steps: readonly HostileStep[], request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  let gone = false;
  response.on('close', () => (gone = true));
  const write = (bytes: Buffer): Promise<void> =>
    new Promise((resolve) => {
      if (gone) return resolve();
      if (response.write(bytes)) return resolve();
      // Whichever event comes first removes the other's listener: a long play would pile them up.
      const done = (): void => {
        response.off('drain', done).off('close', done);
        resolve();
      };
      response.once('drain', done).once('close', done);
    });
  const requestDone = new Promise<void>((resolve) => {
    request.on('end', resolve).on('close', resolve).on('error', resolve);
  });
  request.resume();
  for (const step of wireSteps(steps)) {
    if (gone) return;
    if (step.bytes !== undefined) await write(Buffer.from(step.bytes, 'base64'));
    else if (step.repeat !== undefined) {
      const bytes = Buffer.from(step.repeat, 'base64');
      for (let i = 0; (step.times === undefined || i < step.times) && !gone; i++) {
        await write(bytes);
        if (step.everyMillis !== undefined) await new Promise((resolve) => setTimeout(resolve, step.everyMillis));
      }
    } else if (step.read !== undefined) await requestDone;
    else if (step.sleep !== undefined) await new Promise((resolve) => setTimeout(resolve, step.sleep));
    else if (step.end) break;
  }
  if (!gone) response.end();
}

/** A CLI run with the child's peak resident set size (bytes), read by the child itself at exit. */
export interface MeasuredRun {
  code: number;
  stdout: string;
  stderr: string;
  peakRssBytes: number;
}

/**
 * Runs `bin/git-sync` as test/cli/run-cli.ts does, with a preload that writes the process's own
 * `maxRSS` at exit, and a kill after `killAfterMillis` (the run is reported, code 137) so a test
 * of an unbounded read ends even when the bound is missing.
 */
export async function runCliMeasured(args: readonly string[], env: Record<string, string | undefined> = {}, killAfterMillis = 60_000): Promise<MeasuredRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'git-sync-rss-'));
  const preload = path.join(dir, 'peak.cjs');
  const out = path.join(dir, 'peak');
  await writeFile(
    preload,
    `process.on('exit', () => { require('node:fs').writeFileSync(${JSON.stringify(out)}, String(process.resourceUsage().maxRSS * 1024)); });\n`,
  );
  try {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', preload, BIN, ...args], {
        env: {
          ...process.env,
          HTTP_PROXY: undefined, http_proxy: undefined, HTTPS_PROXY: undefined, https_proxy: undefined, ALL_PROXY: undefined, all_proxy: undefined,
          GIT_ASKPASS: '', SSH_ASKPASS: undefined, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', NO_COLOR: '1',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMillis);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 128), stdout, stderr });
      });
    });
    const peak = await readFile(out, 'utf8').catch(() => '');
    // Killed, the child wrote nothing: its peak is unknown, so report it as past any bound.
    return { ...result, peakRssBytes: peak === '' ? Number.POSITIVE_INFINITY : Number(peak) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
