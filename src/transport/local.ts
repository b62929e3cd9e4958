/**
 * Local paths and file:// URLs: `git upload-pack <path>` / `git receive-pack <path>` as child
 * processes, spoken to over their stdin/stdout exactly like a remote over ssh. Protocol v2 is
 * asked for with `GIT_PROTOCOL=version=2`. A target path that does not exist yet becomes an
 * empty bare repository (docs/usage.md, "Sources and targets": a local mirror needs no server).
 */
import { execFile } from 'node:child_process';
import { lazyFsPromises } from '../builtins.js';
import { abortError, NetworkError, RemoteError, UsageError, throwIfAborted } from '../errors.js';
import type { Service } from '../types.js';
import type { RunObserver } from '../observe/observer.js';
import type { Side } from '../types.js';
import { childEnv } from '../auth/child-env.js';
import { describeExit, spawnChannel, summarizeStderr } from './child-channel.js';
import type { Endpoint } from './endpoint.js';
import { StreamConnection } from './stream-connection.js';
import { FLUSH_PKT, PktLineReader } from '../wire/pktline.js';
import type { ConnectOptions, GitConnection, NewRepository, Transport } from './transport.js';

export type LocalEndpoint = Extract<Endpoint, { kind: 'local' }>;

/**
 * Variables that point git at a particular repository or configuration; inherited by the
 * server process they would make it serve the wrong thing (git clears the same set).
 */
const REPOSITORY_ENV = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_IMPLICIT_WORK_TREE',
  'GIT_COMMON_DIR',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_INDEX_FILE',
  'GIT_GRAFT_FILE',
  'GIT_NO_REPLACE_OBJECTS',
  'GIT_REPLACE_REF_BASE',
  'GIT_PREFIX',
  'GIT_SHALLOW_FILE',
  'GIT_CONFIG',
  'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_COUNT',
  'GIT_PROTOCOL',
];

export function serverEnv(baseEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = childEnv(baseEnv);
  for (const name of REPOSITORY_ENV) delete env[name];
  return env;
}

export interface LocalTransportOptions {
  /** Where the bytes this transport moves are counted. */
  observer?: RunObserver;
  /** Which end of the run this is: named in errors. */
  side?: Side;
  /** Idle timeout while waiting on the peer (StreamConnectionOptions.idleMillis). */
  idleMillis?: number;
  /** The bound on a ref listing (StreamConnectionOptions.maxRefListingBytes). */
  maxRefListingBytes?: number;
  /** The environment git runs in; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** How long a closed connection waits for git to exit before it is killed (default 5 s). */
  exitGraceMillis?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lazyFsPromises().stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * A target that does not exist yet, looked at without creating it (plan, probe): it advertises
 * what an empty repository would — no refs — and refuses pushes.
 */
function missingTarget(displayUrl: string): GitConnection {
  return {
    advertisement: new PktLineReader((async function* empty() {
      yield FLUSH_PKT;
    })()),
    stateless: false,
    missing: true,
    request: () => Promise.reject(new UsageError(`${displayUrl}: the target does not exist yet; sync creates it`)),
    close: async () => undefined,
  };
}

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly displayUrl: string;

  constructor(
    private readonly endpoint: LocalEndpoint,
    private readonly options: LocalTransportOptions = {},
  ) {
    this.displayUrl = endpoint.display;
  }

  async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
    throwIfAborted(options.signal);
    const repoPath = this.endpoint.path;
    const env = serverEnv(this.options.env ?? process.env);
    if (!(await exists(repoPath))) {
      if (service === 'git-upload-pack') {
        throw new UsageError(`${this.displayUrl}: no such repository (${repoPath} does not exist)`);
      }
      if (options.readOnly) return missingTarget(this.displayUrl);
      await this.createBare(repoPath, env, options.createAs ?? { objectFormat: 'sha1', headBranch: null }, options.signal);
    }
    if (service === 'git-upload-pack' && options.protocol === 'v2') env['GIT_PROTOCOL'] = 'version=2';
    const where = this.displayUrl;
    // The path is absolute (parsing resolved it), so it can never be read as an option.
    const args = [service === 'git-upload-pack' ? 'upload-pack' : 'receive-pack', repoPath];
    const channel = spawnChannel({
      command: 'git',
      args,
      env,
      describeFailure(exit) {
        return new RemoteError(`${where}: git ${args[0]} failed (${describeExit(exit)}): ${exit.stderr === '' ? 'no message' : exit.stderr}`);
      },
      describeSpawnError(error) {
        return new NetworkError(where, `${where}: cannot run git (${error.code ?? error.message}); the local transport needs git on PATH`, { cause: error });
      },
    });
    return new StreamConnection(channel, { displayUrl: where, phase: options.phase, observer: this.options.observer, side: this.options.side, idleMillis: this.options.idleMillis, maxRefListingBytes: this.options.maxRefListingBytes, exitGraceMillis: this.options.exitGraceMillis, signal: options.signal });
  }

  async setHead(ref: string, signal?: AbortSignal): Promise<void> {
    const env = serverEnv(this.options.env ?? process.env);
    await new Promise<void>((resolve, reject) => {
      execFile('git', [`--git-dir=${this.endpoint.path}`, 'symbolic-ref', 'HEAD', ref], { env, signal }, (error, _stdout, stderr) => {
        if (error === null) resolve();
        else reject(new RemoteError(`${this.displayUrl}: cannot point HEAD at ${ref}: ${summarizeStderr(String(stderr)) || error.message}`, { cause: error }));
      });
    });
  }

  private createBare(repoPath: string, env: NodeJS.ProcessEnv, how: NewRepository, signal: AbortSignal | undefined): Promise<void> {
    const head = how.headBranch === null ? [] : [`--initial-branch=${how.headBranch}`];
    return new Promise((resolve, reject) => {
      execFile('git', ['init', '--bare', '--quiet', `--object-format=${how.objectFormat}`, ...head, repoPath], { env, signal }, (error, _stdout, stderr) => {
        if (error === null) {
          resolve();
          return;
        }
        if (signal?.aborted) {
          reject(abortError(signal, this.displayUrl));
          return;
        }
        const said = summarizeStderr(String(stderr)) || error.message;
        reject(new UsageError(`${this.displayUrl}: cannot create an empty bare repository at ${repoPath}: ${said}`, { cause: error }));
      });
    });
  }
}
