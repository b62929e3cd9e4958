/**
 * Remote helpers (gitremote-helpers): a `<scheme>://` URL git-sync has no transport of its own
 * for is handed to `git-remote-<scheme>`, started as git starts it for a URL (`<name> <url>`,
 * the URL doubling as the remote's name). Only the smart protocol is spoken through it. After
 * `capabilities`, `stateless-connect git-upload-pack` turns the helper into a protocol v2
 * channel where every request ends with a flush and every response with a response-end packet;
 * `connect <service>`, when offered, turns it into a plain duplex pipe like ssh, which is what
 * protocol v1 and pushing need.
 */
import { execFile } from 'node:child_process';
import { lazyFsPromises } from '../builtins.js';
import { constants } from 'node:fs';
import path from 'node:path';
import { NetworkError, ProtocolError, RemoteError, ResponseTooLargeError, UnsupportedError, onSide, throwIfAborted } from '../errors.js';
import type { Service } from '../types.js';
import { FLUSH_PKT } from '../wire/pktline.js';
import type { RunObserver } from '../observe/observer.js';
import type { Side } from '../types.js';
import { childEnv } from '../auth/child-env.js';
import { describeExit, spawnChannel } from './child-channel.js';
import type { Endpoint } from './endpoint.js';
import { StreamConnection } from './stream-connection.js';
import type { ConnectOptions, GitConnection, Transport } from './transport.js';

export type HelperEndpoint = Extract<Endpoint, { kind: 'helper' }>;

type HelperConnectCommand = 'stateless-connect' | 'connect';

/** git's helpers list a dozen capabilities at most; a helper that goes on is stopped here. */
export const MAX_HELPER_CAPABILITIES = 256;

async function isExecutable(file: string): Promise<boolean> {
  try {
    await lazyFsPromises().access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function gitExecPath(env: NodeJS.ProcessEnv): Promise<string | null> {
  if (env['GIT_EXEC_PATH']) return Promise.resolve(env['GIT_EXEC_PATH']);
  return new Promise((resolve) => {
    execFile('git', ['--exec-path'], { env }, (error, stdout) => resolve(error === null ? String(stdout).trim() : null));
  });
}

/** Where git would find the program: PATH first, then git's own exec-path; null when nowhere. */
export async function findHelper(program: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, program);
    if (await isExecutable(candidate)) return candidate;
  }
  const execPath = await gitExecPath(env);
  if (execPath !== null && execPath !== '') {
    const candidate = path.join(execPath, program);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

/** Which channel to ask the helper for, given what it offers; throws when none will do. */
export function chooseHelperConnectCommand(where: string, program: string, capabilities: ReadonlySet<string>, service: Service, protocol: ConnectOptions['protocol']): HelperConnectCommand {
  const stateless = capabilities.has('stateless-connect');
  const connect = capabilities.has('connect');
  if (service === 'git-receive-pack') {
    if (connect) return 'connect';
    throw new UnsupportedError(
      stateless
        ? `${where}: ${program} offers only stateless-connect, which git-sync can use for fetching but not for pushing; push to this repository over another URL (https, ssh)`
        : `${where}: ${program} offers neither connect nor stateless-connect; git-sync cannot push through it`,
    );
  }
  if (protocol === 'v2' && stateless) return 'stateless-connect';
  if (connect) return 'connect';
  if (stateless) {
    throw new UnsupportedError(`${where}: ${program} offers only stateless-connect, which carries protocol v2; use --protocol auto or v2`);
  }
  throw new UnsupportedError(`${where}: ${program} does not offer stateless-connect (nor connect); git-sync speaks only the smart protocol and cannot fetch through it`);
}

export interface RemoteHelperTransportOptions {
  /** Where the bytes this transport moves are counted. */
  observer?: RunObserver;
  /** Which end of the run this is: named in errors. */
  side?: Side;
  /** Idle timeout while waiting on the peer (StreamConnectionOptions.idleMillis). */
  idleMillis?: number;
  /** The bound on a ref listing (StreamConnectionOptions.maxRefListingBytes). */
  maxRefListingBytes?: number;
  /** The environment the helper runs in (and PATH is searched); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export class RemoteHelperTransport implements Transport {
  readonly kind = 'helper' as const;
  readonly displayUrl: string;
  private readonly program: string;

  constructor(
    private readonly endpoint: HelperEndpoint,
    private readonly options: RemoteHelperTransportOptions = {},
  ) {
    this.displayUrl = endpoint.display;
    this.program = `git-remote-${endpoint.scheme}`;
  }

  async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
    throwIfAborted(options.signal);
    const baseEnv = childEnv(this.options.env ?? process.env);
    const file = await findHelper(this.program, baseEnv);
    if (file === null) {
      throw new UnsupportedError(`${this.displayUrl}: ${this.program} not found on PATH; git-sync reaches ${this.endpoint.scheme}:// URLs through that remote helper, as git does`);
    }
    throwIfAborted(options.signal);
    const env = { ...baseEnv };
    delete env['GIT_PROTOCOL'];
    if (options.protocol === 'v2') env['GIT_PROTOCOL'] = 'version=2';
    const program = this.program;
    const where = this.displayUrl;
    const channel = spawnChannel({
      command: file,
      args: [this.endpoint.address, this.endpoint.address],
      env,
      describeFailure(exit) {
        return new RemoteError(`${where}: ${program} failed (${describeExit(exit)}): ${exit.stderr === '' ? 'no message' : exit.stderr}`);
      },
      describeSpawnError(error) {
        return new NetworkError(where, `${where}: cannot run ${file} (${error.code ?? error.message})`, { cause: error });
      },
    });
    // Until the handshake has chosen a mode the connection is a line channel with no framing.
    const connection = new StreamConnection(channel, {
      displayUrl: where,
      phase: options.phase,
      observer: this.options.observer, side: this.options.side, idleMillis: this.options.idleMillis, maxRefListingBytes: this.options.maxRefListingBytes,
      signal: options.signal,
      framing: { farewell: null },
    });
    try {
      const capabilities = await this.readCapabilities(connection);
      const mode = chooseHelperConnectCommand(where, program, capabilities, service, options.protocol);
      await connection.send(Buffer.from(`${mode} ${service}\n`));
      const reply = await connection.readLine();
      if (reply === null) throw new ProtocolError(`${where}: ${program} exited without answering "${mode} ${service}"`);
      if (reply === 'fallback') {
        throw new UnsupportedError(`${where}: ${program} cannot open a smart-protocol channel to ${service} (it answered "fallback"); git-sync does not speak the dumb protocols`);
      }
      if (reply !== '') throw new ProtocolError(`${where}: ${program} answered "${mode} ${service}" with ${JSON.stringify(reply.slice(0, 80))}`);
      // A `connect` pipe ends politely with a flush like ssh; under stateless-connect a flush
      // would be a request, and each response carries a response-end packet.
      connection.setFraming(mode === 'connect' ? { responseEnd: false, farewell: FLUSH_PKT } : { responseEnd: true, farewell: null });
      return connection;
    } catch (error) {
      await connection.close();
      throw error;
    }
  }

  /** `capabilities`, answered one per line up to a blank line; `*` marks a mandatory one. */
  private async readCapabilities(connection: StreamConnection): Promise<Set<string>> {
    await connection.send(Buffer.from('capabilities\n'));
    const capabilities = new Set<string>();
    for (let lines = 0; ; lines++) {
      const line = await connection.readLine();
      if (line === null) throw new ProtocolError(`${this.displayUrl}: ${this.program} exited before listing its capabilities`);
      if (line === '') return capabilities;
      if (lines === MAX_HELPER_CAPABILITIES) {
        const error = new ResponseTooLargeError('helper-capabilities', MAX_HELPER_CAPABILITIES, 'lines', `${this.displayUrl}: ${this.program} lists more than ${MAX_HELPER_CAPABILITIES} capabilities; stopped reading them`);
        throw this.options.side === undefined ? error : onSide(error, this.options.side);
      }
      capabilities.add(line.replace(/^\*/, '').split(' ')[0]!);
    }
  }
}
