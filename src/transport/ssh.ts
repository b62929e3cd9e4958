/**
 * SSH through the user's own `ssh` (gitprotocol-pack, "SSH Transport"): the remote runs
 * `git-upload-pack '<path>'` (or receive-pack) and its stdin/stdout become the channel. The ssh
 * program is chosen as git chooses it: `GIT_SSH_COMMAND` (a shell command, arguments appended),
 * else `GIT_SSH` (a program), else `ssh`; `~/.ssh/config` and the agent apply as usual. Protocol
 * v2 is asked for through `GIT_PROTOCOL=version=2` and `-o SendEnv=GIT_PROTOCOL`; a server
 * whose sshd does not accept that variable answers v0, which the protocol code handles.
 */
import path from 'node:path';
import { NetworkError, RemoteError, UsageError, throwIfAborted } from '../errors.js';
import type { Service } from '../types.js';
import type { RunObserver } from '../observe/observer.js';
import type { Side } from '../types.js';
import type { ProtocolVersion } from '../types.js';
import { childEnv } from '../auth/child-env.js';
import { describeExit, spawnChannel } from './child-channel.js';
import type { Endpoint } from './endpoint.js';
import { StreamConnection } from './stream-connection.js';
import type { ConnectOptions, GitConnection, Transport } from './transport.js';

export type SshEndpoint = Extract<Endpoint, { kind: 'ssh' }>;

/** What OpenSSH prints when the connection, not the login, failed: worth another try. */
const SSH_TRANSIENT = /connection (?:reset|refused|timed out|closed)|broken pipe|kex_exchange_identification|network is unreachable|no route to host|connection to \S+ closed by remote host/i;

/** The option dialects git knows (`GIT_SSH_VARIANT`, git-config `ssh.variant`). */
export type SshVariant = 'ssh' | 'simple' | 'plink' | 'putty' | 'tortoiseplink';

export interface SshInvocation {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * Quotes one word for the remote POSIX shell as git does: inside single quotes, with `'` and
 * `!` (csh history) closed out and escaped, so nothing in the path is interpreted.
 */
export function shellQuote(text: string): string {
  return `'${text.replace(/['!]/g, (c) => `'\\${c}'`)}'`;
}

/** The program's dialect: `GIT_SSH_VARIANT` when set, else from its name; unknown names speak OpenSSH. */
export function sshVariant(program: string, env: NodeJS.ProcessEnv): SshVariant {
  const explicit = env['GIT_SSH_VARIANT']?.toLowerCase();
  if (explicit === 'ssh' || explicit === 'simple' || explicit === 'plink' || explicit === 'putty' || explicit === 'tortoiseplink') {
    return explicit;
  }
  const name = path.basename(program.replace(/\\/g, '/')).toLowerCase().replace(/\.exe$/, '');
  if (name === 'plink' || name === 'tortoiseplink') return name;
  return 'ssh';
}

/** The first word of a shell command (the program GIT_SSH_COMMAND runs), unquoted. */
function firstWord(command: string): string {
  const match = /^\s*(?:'([^']*)'|"([^"]*)"|(\S+))/.exec(command);
  return match?.[1] ?? match?.[2] ?? match?.[3] ?? '';
}

/** The ssh command line for one service; pure, so the argument layout is testable. */
export function sshInvocation(endpoint: SshEndpoint, service: Service, protocol: ProtocolVersion, baseEnv: NodeJS.ProcessEnv): SshInvocation {
  const env = childEnv(baseEnv);
  delete env['GIT_PROTOCOL'];
  const sshCommand = baseEnv['GIT_SSH_COMMAND'] ?? '';
  const sshProgram = baseEnv['GIT_SSH'] ?? '';
  const program = sshCommand !== '' ? firstWord(sshCommand) : sshProgram !== '' ? sshProgram : 'ssh';
  const variant = sshVariant(program, baseEnv);
  const destination = endpoint.user === null ? endpoint.host : `${endpoint.user}@${endpoint.host}`;
  const remoteCommand = `${service} ${shellQuote(endpoint.path)}`;

  const args: string[] = [];
  if (variant === 'ssh') {
    args.push('-o', 'BatchMode=yes');
    if (protocol === 'v2') {
      env['GIT_PROTOCOL'] = 'version=2';
      args.push('-o', 'SendEnv=GIT_PROTOCOL');
    }
    if (endpoint.port !== null) args.push('-p', String(endpoint.port));
    // Parsing already refused hosts and users starting with "-"; `--` keeps the destination
    // from ever being read as an option, whatever a future parser lets through.
    args.push('--', destination, remoteCommand);
  } else if (variant === 'simple') {
    if (endpoint.port !== null) {
      throw new UsageError(`${endpoint.display}: ssh variant 'simple' does not support setting a port; use an ssh config Host entry`);
    }
    args.push(destination, remoteCommand);
  } else {
    args.push('-batch');
    if (endpoint.port !== null) args.push('-P', String(endpoint.port));
    args.push(destination, remoteCommand);
  }

  if (sshCommand !== '') {
    // As git runs it: the command through the shell, our arguments appended as "$@".
    return { command: 'sh', args: ['-c', `${sshCommand} "$@"`, sshCommand, ...args], env };
  }
  return { command: program, args, env };
}

export interface SshTransportOptions {
  /** Where the bytes this transport moves are counted. */
  observer?: RunObserver;
  /** Which end of the run this is: named in errors. */
  side?: Side;
  /** Idle timeout while waiting on the peer (StreamConnectionOptions.idleMillis). */
  idleMillis?: number;
  /** The bound on a ref listing (StreamConnectionOptions.maxRefListingBytes). */
  maxRefListingBytes?: number;
  /** The environment ssh runs in (and GIT_SSH_COMMAND / GIT_SSH are read from); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  readonly displayUrl: string;

  constructor(
    private readonly endpoint: SshEndpoint,
    private readonly options: SshTransportOptions = {},
  ) {
    this.displayUrl = endpoint.display;
  }

  async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
    throwIfAborted(options.signal);
    const invocation = sshInvocation(this.endpoint, service, options.protocol, this.options.env ?? process.env);
    const where = this.displayUrl;
    const channel = spawnChannel({
      ...invocation,
      describeFailure(exit) {
        const said = exit.stderr === '' ? 'no message' : exit.stderr;
        // OpenSSH exits with 255 for its own failures; any other status is the remote command's.
        if (exit.code === 255) {
          return new NetworkError(where, `${where}: ssh failed (${describeExit(exit)}): ${said}; check the host name, your keys or ssh-agent, and ~/.ssh/config (ssh runs with BatchMode=yes)`, {
            transient: SSH_TRANSIENT.test(exit.stderr),
          });
        }
        return new RemoteError(`${where}: ${service} over ssh failed (${describeExit(exit)}): ${said}`);
      },
      describeSpawnError(error) {
        return new NetworkError(where, `${where}: cannot run ${JSON.stringify(invocation.command)} (${error.code ?? error.message}); install OpenSSH or set GIT_SSH_COMMAND`, { cause: error });
      },
    });
    return new StreamConnection(channel, { displayUrl: where, phase: options.phase, observer: this.options.observer, side: this.options.side, idleMillis: this.options.idleMillis, maxRefListingBytes: this.options.maxRefListingBytes, signal: options.signal });
  }
}
