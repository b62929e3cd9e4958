/**
 * A streaming `git fast-import` (Documentation/git-fast-import.txt): commands are written into
 * its stdin as they are generated, with backpressure, so a million-commit history or a
 * gigabyte of file versions never sits in the runner's memory at once.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { isolatedGitEnv } from '../../test/helpers/git.js';

/** Small writes are gathered into chunks of this size before they reach the pipe. */
const CHUNK_BYTES = 1 << 20;

export interface Identity {
  name: string;
  email: string;
}

export const BENCH_IDENTITY: Identity = { name: 'Bench Author', email: 'bench@example.com' };

export interface CommitCommand {
  ref: string;
  mark?: number;
  /** Epoch seconds, for author and committer. */
  date: number;
  message: string;
  /** `:mark`, an oid or a ref expression (`refs/heads/main^0`) for `from`. */
  from?: string;
  merges?: readonly string[];
  /** `[path, content]` pairs written inline (`M 100644 inline path`); null content deletes. */
  files?: Iterable<readonly [string, Buffer | string | null]>;
}

export class FastImport {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  private readonly stdout: Buffer[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private constructor(repoDir: string, args: readonly string[]) {
    this.child = spawn('git', ['fast-import', '--quiet', '--done', ...args], {
      cwd: repoDir,
      // glibc otherwise hands memory back to the OS after nearly every commit (see fixtures.ts).
      env: isolatedGitEnv({ env: { MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024) } }),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.child.stdout.on('data', (chunk: Buffer) => this.stdout.push(chunk));
    // A broken pipe shows as the exit code in finish(); it must not crash the runner.
    this.child.stdin.on('error', () => undefined);
    this.exited = once(this.child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  }

  static start(repoDir: string, args: readonly string[] = []): FastImport {
    return new FastImport(repoDir, args);
  }

  async write(text: string | Buffer): Promise<void> {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= CHUNK_BYTES) await this.flush();
  }

  async data(content: Buffer | string): Promise<void> {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    await this.write(`data ${bytes.length}\n`);
    await this.write(bytes);
    await this.write('\n');
  }

  async commit(command: CommitCommand): Promise<void> {
    const when = `${command.date} +0000`;
    const who = `${BENCH_IDENTITY.name} <${BENCH_IDENTITY.email}> ${when}`;
    await this.write(`commit ${command.ref}\n${command.mark === undefined ? '' : `mark :${command.mark}\n`}author ${who}\ncommitter ${who}\n`);
    await this.data(command.message);
    if (command.from !== undefined) await this.write(`from ${command.from}\n`);
    for (const merge of command.merges ?? []) await this.write(`merge ${merge}\n`);
    for (const [path, content] of command.files ?? []) {
      if (content === null) {
        await this.write(`D ${path}\n`);
      } else {
        await this.write(`M 100644 inline ${path}\n`);
        await this.data(content);
      }
    }
    await this.write('\n');
  }

  async annotatedTag(name: string, from: string, date: number, message: string): Promise<void> {
    await this.write(`tag ${name}\nfrom ${from}\ntagger ${BENCH_IDENTITY.name} <${BENCH_IDENTITY.email}> ${date} +0000\n`);
    await this.data(message);
  }

  /** Point a ref (a lightweight tag, a branch) at `from`. */
  async reset(ref: string, from: string): Promise<void> {
    await this.write(`reset ${ref}\nfrom ${from}\n\n`);
  }

  /** Ends the stream and waits for fast-import; resolves with what it printed (`get-mark` answers). */
  async finish(): Promise<string> {
    await this.write('done\n');
    await this.flush();
    this.child.stdin.end();
    const [code, signal] = await this.exited;
    if (code !== 0) throw new Error(`git fast-import failed (${signal ?? `exit code ${code}`})`);
    return Buffer.concat(this.stdout).toString('utf8');
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const chunk = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.child.stdin.write(chunk)) return;
    const drained = once(this.child.stdin, 'drain').then(() => 'drained' as const, () => 'broken' as const);
    const first = await Promise.race([drained, this.exited.then(() => 'exited' as const)]);
    if (first !== 'drained') throw new Error('git fast-import stopped reading its input');
  }
}
