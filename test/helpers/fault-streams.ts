/**
 * The fault engine (fault-engine.ts) for the stream transports: local paths, SSH, `git://` and
 * remote helpers. One hub in the test process carries every conversation through the engine:
 *
 * - **A `git` wrapper** (`binDir`, put first on PATH): git-sync's local transport runs
 *   `git upload-pack <path>` / `git receive-pack <path>` from PATH (src/transport/local.ts), and
 *   so do the test remote helpers (remote-helper.ts); while the engine is armed the wrapper hands
 *   its stdin, stdout, stderr and exit status to the hub, which runs the real git service and
 *   pipes it through the engine. Everything else (`git init`, `git symbolic-ref`) runs the real
 *   git directly.
 * - **An ssh wrapper** (`sshCommand`, for GIT_SSH_COMMAND, src/transport/ssh.ts): the same, with
 *   the real ssh (the test sshd's client command) in place of git.
 * - **A TCP proxy in front of `git daemon`** (`daemonProxy`): git-sync connects to it, it connects
 *   to the daemon and passes the daemon request line on, then both directions go through the
 *   engine.
 *
 * The wrapper is a small Node program speaking a framed protocol with the hub over loopback TCP:
 * a JSON header line (argv, environment, cwd), then frames `[type u8][length u32][payload]`: to
 * the hub 1 stdin and 3 stdin's end; from the hub 1 stdout, 2 stderr, 4 exit (`{code}` or
 * `{signal}`), after which the wrapper exits the same way. The wrapper never half-closes its
 * socket, so the socket ending means the wrapper is gone (git-sync killed it): the hub then stops
 * the real service, and a stalled direction lets go. A stream fault then looks to git-sync
 * like the real thing: `close` is the output ending and the program exiting with a failure (128,
 * or 255 as ssh does for a lost connection), `reset` a SIGKILL, `truncate` a clean end with
 * exit 0, `stall` a live process that says nothing.
 *
 *   const engine = new FaultEngine();
 *   const streams = await startStreamFaults({ engine });
 *   process.env.PATH = `${streams.binDir}:${process.env.PATH}`;
 *   engine.arm([{ select: { repo: 'source', phase: 'fetch', index: 1 }, direction: 'response', fault: { kind: 'reset', at: { packBytes: 100 } } }]);
 */
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { Conversation, listenOnLoopback, readEagerly, repoNamed, serviceNamed, waitDrain, type ArmedRepos, type FaultEngine, type Sink } from './fault-engine.js';
import { makeTempDir } from './git.js';

export interface StreamFaultsOptions {
  engine: FaultEngine;
  /** The real ssh command (`ssh -F <config>` of sshd.ts) behind the ssh wrapper. */
  realSshCommand?: string;
}

export interface DaemonProxy {
  readonly port: number;
  /** `git://127.0.0.1:<proxy port>/<name>.git` */
  url(name: string): string;
  close(): Promise<void>;
}

export interface StreamFaults {
  /**
   * Put first on PATH: its `git` sends upload-pack and receive-pack through the engine. (The git
   * client itself finds its own exec-path first: give it `--upload-pack=<binDir>/git upload-pack`.)
   */
  readonly binDir: string;
  /** For GIT_SSH_COMMAND (only with `realSshCommand`). */
  readonly sshCommand: string | null;
  /** A fault proxy in front of a `git daemon` listening on 127.0.0.1:`daemonPort`. */
  daemonProxy(daemonPort: number): Promise<DaemonProxy>;
  /** Conversations still open (wrapper connections, git:// connections) for one of `repos`. */
  openConversations(repos?: readonly string[]): number;
  /**
   * Resolves once every conversation (of one of `repos`, when given) is over and every real
   * service process it started has exited.
   */
  idle(repos?: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

const FRAME_STDOUT = 1;
const FRAME_STDERR = 2;
const FRAME_EXIT = 4;
/** From the wrapper: stdin bytes, and stdin's end. */
const FRAME_STDIN = 1;
const FRAME_STDIN_END = 3;
/** How long the hub waits for a stopped service process before SIGKILL. */
const KILL_GRACE_MS = 1000;

/** The wrapper program: a dumb framed relay between its stdio and the hub. */
function relayScript(port: number): string {
  return `#!${process.execPath}
'use strict';
const net = require('node:net');
const socket = net.connect({ host: '127.0.0.1', port: ${port}, allowHalfOpen: true });
socket.setNoDelay(true);
const [kind, ...argv] = process.argv.slice(2);
socket.write(JSON.stringify({ kind, argv, env: process.env, cwd: process.cwd() }) + '\\n');
process.stdin.on('error', () => undefined);
process.stdout.on('error', () => undefined);
const frame = (type, payload) => {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
};
process.stdin.on('data', (chunk) => {
  if (!socket.write(frame(${FRAME_STDIN}, chunk))) {
    process.stdin.pause();
    socket.once('drain', () => process.stdin.resume());
  }
});
process.stdin.on('end', () => socket.write(frame(${FRAME_STDIN_END}, Buffer.alloc(0))));
let buffer = Buffer.alloc(0);
let exited = false;
socket.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  while (buffer.length >= 5) {
    const length = buffer.readUInt32BE(1);
    if (buffer.length < 5 + length) break;
    const type = buffer[0];
    const payload = buffer.subarray(5, 5 + length);
    buffer = buffer.subarray(5 + length);
    if (type === ${FRAME_STDOUT}) process.stdout.write(payload);
    else if (type === ${FRAME_STDERR}) process.stderr.write(payload);
    else if (type === ${FRAME_EXIT}) {
      exited = true;
      const status = JSON.parse(payload.toString('utf8'));
      if (status.signal) process.kill(process.pid, status.signal);
      else process.exit(status.code);
    }
  }
});
socket.on('error', () => undefined);
socket.on('close', () => {
  if (exited) return;
  process.stderr.write('fault wrapper: lost the fault hub\\n');
  process.exit(128);
});
`;
}

function frame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Single-quoted for sh. */
function shq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Undoes git's remote-shell quoting of a path (`'a'\\''b'` is `a'b`). */
function shellUnquote(text: string): string {
  return text.replace(/'\\(.)'/g, '$1').replace(/^'|'$/g, '');
}

interface Header {
  kind: 'git' | 'ssh';
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * Bytes a socket delivers, with `first` in front (what came after the header line), read
 * eagerly (readEagerly): a stall learns at once that the client went away. The socket is not
 * destroyed when its input ends: a half-closed peer still reads what comes back.
 */
function socketInput(first: Buffer, socket: net.Socket): AsyncGenerator<Buffer> {
  return readEagerly(socket, first);
}

/**
 * The wrapper's stdin, unframed from what its socket delivers after the header line: ends at the
 * stdin-end frame, or when the socket ends first (the wrapper is gone).
 */
function wrapperStdin(first: Buffer, socket: net.Socket): AsyncGenerator<Buffer> {
  const chunks = socketInput(Buffer.alloc(0), socket);
  return (async function* stdin(): AsyncGenerator<Buffer> {
    let buffer = first;
    for (;;) {
      while (buffer.length >= 5) {
        const length = buffer.readUInt32BE(1);
        if (buffer.length < 5 + length) break;
        const type = buffer[0];
        const payload = buffer.subarray(5, 5 + length);
        buffer = buffer.subarray(5 + length);
        if (type === FRAME_STDIN_END) return;
        if (type === FRAME_STDIN && payload.length > 0) yield payload;
      }
      const next = await chunks.next();
      if (next.done === true) return;
      buffer = buffer.length === 0 ? next.value : Buffer.concat([buffer, next.value]);
    }
  })();
}


function readHeaderLine(socket: net.Socket): Promise<{ line: string; rest: Buffer } | null> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const newline = buffer.indexOf(0x0a);
      if (newline === -1) return;
      cleanup();
      socket.pause();
      resolve({ line: buffer.subarray(0, newline).toString('utf8'), rest: buffer.subarray(newline + 1) });
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

export async function startStreamFaults(options: StreamFaultsOptions): Promise<StreamFaults> {
  const { engine } = options;
  const dir = makeTempDir('gitsync-fault-streams-');
  const binDir = join(dir.path, 'bin');
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  const armedDir = join(dir.path, 'armed');
  const live = new Map<net.Socket, { repo: string; over: Promise<void> }>();
  /** The real service processes, with the repository each serves. */
  const children = new Map<ChildProcessWithoutNullStreams, string>();
  const servers = new Set<net.Server>();

  // Not half-open: the wrapper never half-closes, so its socket's end is the wrapper's exit.
  const hub = net.createServer({ allowHalfOpen: false }, (socket) => {
    const over = serveWrapper(socket).catch((error: unknown) => {
      if (process.env['GITSYNC_FAULT_DEBUG']) process.stderr.write(`fault hub: ${String(error)}\n`);
      socket.destroy();
    });
    live.set(socket, { repo: '', over });
    void over.finally(() => live.delete(socket));
  });
  servers.add(hub);
  const hubPort = await listenOnLoopback(hub);

  mkdirSync(binDir, { recursive: true });
  const relay = join(dir.path, 'relay.cjs');
  await writeFile(relay, relayScript(hubPort));
  const gitWrapper = join(binDir, 'git');
  // Intercepted only while a rule set names the repository (or all): `armed/all`, `armed/<repo>`.
  // The repository is the last argument (`/srv/c7-source.git`; for ssh `git-upload-pack '/srv/c7-source.git'`).
  const armedTest = [
    'for last; do :; done',
    'repo=${last##*/}',
    "repo=${repo%\\'}",
    'repo=${repo%.git}',
    `armed() { [ -e ${shq(armedDir)}/all ] || { [ -n "$repo" ] && [ -e ${shq(armedDir)}/"r-$repo" ]; }; }`,
  ];
  await writeFile(
    gitWrapper,
    [
      '#!/bin/sh',
      'case "$1" in',
      '  upload-pack|receive-pack)',
      ...armedTest.map((line) => `    ${line}`),
      `    if armed; then exec ${shq(process.execPath)} ${shq(relay)} git "$@"; fi ;;`,
      'esac',
      `exec ${shq(realGit)} "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(gitWrapper, 0o755);
  let sshCommand: string | null = null;
  if (options.realSshCommand !== undefined) {
    // Named `ssh`: git and git-sync tell ssh's option dialect from the program's name.
    mkdirSync(join(dir.path, 'ssh-bin'));
    const sshWrapper = join(dir.path, 'ssh-bin', 'ssh');
    await writeFile(
      sshWrapper,
      ['#!/bin/sh', ...armedTest, `if armed; then exec ${shq(process.execPath)} ${shq(relay)} ssh "$@"; fi`, `exec ${options.realSshCommand} "$@"`, ''].join('\n'),
    );
    await chmod(sshWrapper, 0o755);
    sshCommand = sshWrapper;
  }
  // The wrapper only costs a Node start for a repository some rule set names (or while one
  // records everything). Arming is synchronous, and so are the files, so a run started right
  // after arming sees them.
  mkdirSync(armedDir);
  const marked = new Set<string>();
  const syncArmed = (armed: ArmedRepos): void => {
    const wanted = new Set(armed === 'all' ? ['all'] : [...armed].map((repo) => `r-${repo}`));
    for (const name of marked) {
      if (wanted.has(name)) continue;
      rmSync(join(armedDir, name), { force: true });
      marked.delete(name);
    }
    for (const name of wanted) {
      if (marked.has(name)) continue;
      writeFileSync(join(armedDir, name), '');
      marked.add(name);
    }
  };
  syncArmed(engine.armed ? engine.armedRepos : new Set());
  const unsubscribe = engine.onArmedChange(syncArmed);

  async function serveWrapper(socket: net.Socket): Promise<void> {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const head = await readHeaderLine(socket);
    if (head === null) return;
    const header = JSON.parse(head.line) as Header;
    let service;
    let repoPath: string;
    let command: string;
    let args: string[];
    let advertisement = true;
    if (header.kind === 'git') {
      service = serviceNamed(header.argv[0] ?? '');
      const operands = header.argv.slice(1).filter((arg) => !arg.startsWith('--'));
      repoPath = operands[operands.length - 1] ?? '';
      const stateless = header.argv.includes('--stateless-rpc');
      advertisement = !stateless || header.argv.includes('--advertise-refs') || header.argv.includes('--http-backend-info-refs');
      command = realGit;
      args = header.argv;
    } else {
      const remote = header.argv[header.argv.length - 1] ?? '';
      const match = /^(git-upload-pack|git-receive-pack) (.*)$/.exec(remote);
      service = match === null ? null : serviceNamed(match[1]!);
      repoPath = match === null ? '' : shellUnquote(match[2]!);
      command = 'sh';
      args = ['-c', `${options.realSshCommand} "$@"`, 'ssh', ...header.argv];
    }
    if (service === null) throw new Error(`fault hub: cannot tell the service of ${JSON.stringify(header.argv)}`);
    const repo = repoNamed(repoPath);
    const entry = live.get(socket);
    if (entry !== undefined) entry.repo = repo;
    const failCode = header.kind === 'ssh' ? 255 : 128;

    const child = spawn(command, args, { env: header.env, cwd: header.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    children.set(child, repo);
    const childClosed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('close', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      });
      child.once('error', () => {
        children.delete(child);
        resolve({ code: 127, signal: null });
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdout.on('error', () => undefined);
    let killTimer: NodeJS.Timeout | undefined;
    const stopChild = (): void => {
      if (child.exitCode !== null || child.signalCode !== null || killTimer !== undefined || child.pid === undefined) return;
      const group = (signal: NodeJS.Signals): void => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // gone already
        }
      };
      group('SIGTERM');
      killTimer = setTimeout(() => group('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    void childClosed.then(() => clearTimeout(killTimer));

    let finished = false;
    const send = async (type: number, payload: Buffer): Promise<void> => {
      if (socket.destroyed || finished) return;
      if (!socket.write(frame(type, payload))) await waitDrain(socket);
    };
    /** The wrapper exits: as the real service did, or as the fault says. */
    const exitWith = (status: { code: number } | { signal: NodeJS.Signals }, message?: string): void => {
      if (finished) return;
      if (message !== undefined) socket.write(frame(FRAME_STDERR, Buffer.from(`${message}\n`)));
      socket.end(frame(FRAME_EXIT, Buffer.from(JSON.stringify(status))));
      finished = true;
      stopChild();
    };
    child.stderr.on('data', (chunk: Buffer) => void send(FRAME_STDERR, chunk));
    // The wrapper went away (git-sync stopped it): the real service goes too.
    void gone.then(() => {
      finished = true;
      stopChild();
    });

    const conversation = new Conversation(engine, { carrier: 'stream', repo, service, protocol: /version=2/.test(header.env['GIT_PROTOCOL'] ?? '') ? 'v2' : 'v0', advertisement });
    const broken = {
      close: () => exitWith({ code: failCode }, header.kind === 'ssh' ? 'Connection to 127.0.0.1 closed by remote host.' : 'fatal: the remote end hung up unexpectedly'),
      reset: () => exitWith({ signal: 'SIGKILL' }),
    };
    const requestSink: Sink = {
      gone,
      async write(chunk) {
        if (child.stdin.destroyed) return;
        if (!child.stdin.write(chunk)) await waitDrain(child.stdin);
      },
      end: () => child.stdin.end(),
      fail: broken.close,
      close: broken.close,
      reset: broken.reset,
    };
    let stdoutOver = false;
    const responseSink: Sink = {
      gone,
      write: (chunk) => send(FRAME_STDOUT, chunk),
      end: () => {
        stdoutOver = true;
      },
      fail: () => exitWith({ code: 128 }),
      close: broken.close,
      reset: broken.reset,
    };
    const truncated = { value: false };
    const truncatingSink: Sink = {
      ...responseSink,
      end: () => {
        // The response ended before the service's own end: a clean end (truncate) or the real one.
        if (child.exitCode === null && child.signalCode === null && !child.stdout.readableEnded) {
          truncated.value = true;
          exitWith({ code: 0 });
        }
        responseSink.end();
      },
    };
    const requestPiped = conversation.pipeRequest(wrapperStdin(head.rest, socket), requestSink).catch(() => undefined);
    await conversation.pipeResponse(child.stdout, truncatingSink).catch(() => broken.close());
    const status = await childClosed;
    if (stdoutOver && !finished) exitWith(status.signal !== null ? { signal: status.signal } : { code: status.code ?? 128 });
    await gone;
    await requestPiped;
  }

  async function serveDaemonClient(client: net.Socket, daemonPort: number): Promise<void> {
    client.setNoDelay(true);
    client.on('error', () => undefined);
    // A stall lets go once the client has stopped talking: git-sync ends its side of a git://
    // connection (a farewell) or destroys it, and a half-open socket does not tell the two apart.
    const gone = new Promise<void>((resolve) => {
      client.once('close', () => resolve());
      client.once('end', () => resolve());
    });
    // The first pkt-line names the service, the repository and the protocol.
    const first = await new Promise<{ line: Buffer; rest: Buffer } | null>((resolve) => {
      let buffer = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        buffer = Buffer.concat([buffer, chunk]);
        if (buffer.length < 4) return;
        const length = parseInt(buffer.subarray(0, 4).toString('latin1'), 16);
        if (!(length > 4) || buffer.length < length) return;
        client.off('data', onData);
        client.pause();
        resolve({ line: buffer.subarray(0, length), rest: buffer.subarray(length) });
      };
      client.on('data', onData);
      client.once('close', () => resolve(null));
    });
    if (first === null) return;
    const text = first.line.subarray(4).toString('latin1');
    const [request = '', ...extra] = text.split('\0');
    const space = request.indexOf(' ');
    const service = serviceNamed(request.slice(0, space));
    if (service === null) {
      client.destroy();
      return;
    }
    const repo = repoNamed(request.slice(space + 1));
    const entry = live.get(client);
    if (entry !== undefined) entry.repo = repo;
    const upstream = net.connect({ host: '127.0.0.1', port: daemonPort, allowHalfOpen: true });
    upstream.setNoDelay(true);
    upstream.on('error', () => undefined);
    const upstreamClosed = new Promise<void>((resolve) => upstream.once('close', () => resolve()));
    void gone.then(() => upstream.destroy());
    upstream.write(first.line);
    const conversation = new Conversation(engine, {
      carrier: 'stream',
      repo,
      service,
      protocol: extra.includes('version=2') ? 'v2' : 'v0',
      advertisement: true,
    });
    let dropped = false;
    const drop = (how: 'close' | 'reset'): void => {
      // The first way the connection ends is the one the client sees.
      if (dropped) return;
      dropped = true;
      // (An RST that reaches the client before it has read what came just before reads there
      // as a plain end of stream, as on any Linux connection.)
      if (how === 'reset') client.resetAndDestroy();
      else client.destroySoon();
      upstream.destroy();
    };
    const write = (socket: net.Socket) => async (chunk: Buffer): Promise<void> => {
      if (socket.destroyed) return;
      if (!socket.write(chunk)) await waitDrain(socket);
    };
    const requestSink: Sink = {
      gone,
      write: write(upstream),
      end: () => upstream.end(),
      fail: () => drop('close'),
      close: () => drop('close'),
      reset: () => drop('reset'),
    };
    const responseSink: Sink = {
      gone,
      write: write(client),
      end: () => {
        client.end();
        upstream.destroy();
      },
      fail: () => {
        client.end();
        upstream.destroy();
      },
      close: () => drop('close'),
      reset: () => drop('reset'),
    };
    const requestPiped = conversation.pipeRequest(socketInput(first.rest, client), requestSink).catch(() => drop('close'));
    // The daemon's connection failing (a reset: its service exited with our bytes unread) is
    // passed on as one, as a router would: never as the clean end of a shorter answer.
    await conversation.pipeResponse(upstream.iterator({ destroyOnReturn: false }), responseSink).catch(() => drop('reset'));
    await requestPiped;
    await gone;
    await upstreamClosed;
  }

  const idle = async (repos?: readonly string[]): Promise<void> => {
    const ours = (repo: string): boolean => repos === undefined || repos.includes(repo);
    for (;;) {
      // A conversation whose repository is not known yet (its first line is on its way) may be ours.
      const conversations = [...live.values()].filter((entry) => entry.repo === '' || ours(entry.repo));
      const processes = [...children.values()].filter(ours);
      if (conversations.length === 0 && processes.length === 0) return;
      await Promise.all(conversations.map((entry) => entry.over));
      if (processes.length > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  let closing: Promise<void> | null = null;
  return {
    binDir,
    sshCommand,
    async daemonProxy(daemonPort) {
      const clients = new Set<net.Socket>();
      const server = net.createServer({ allowHalfOpen: true }, (client) => {
        clients.add(client);
        client.once('close', () => clients.delete(client));
        const over = serveDaemonClient(client, daemonPort).catch(() => {
          client.destroy();
        });
        live.set(client, { repo: '', over });
        void over.finally(() => live.delete(client));
      });
      servers.add(server);
      const port = await listenOnLoopback(server);
      return {
        port,
        url: (name) => `git://127.0.0.1:${port}/${name.endsWith('.git') ? name : `${name}.git`}`,
        close: () => {
          // server.close waits for every connection: one still open (a test that failed
          // mid-conversation) would keep the test file, and the daemon behind it, alive.
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          engine.releaseStalls();
          for (const client of clients) client.destroy();
          return closed;
        },
      };
    },
    openConversations(repos) {
      let open = 0;
      for (const [socket, entry] of live) {
        if (socket.destroyed) continue;
        if (repos === undefined || repos.includes(entry.repo)) open += 1;
      }
      return open;
    },
    idle,
    close() {
      closing ??= (async () => {
        unsubscribe();
        engine.releaseStalls();
        for (const socket of live.keys()) socket.destroy();
        for (const child of children.keys()) {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await Promise.all([...servers].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
        await idle();
        await dir.remove();
      })();
      return closing;
    },
  };
}
