/**
 * The git daemon protocol (gitprotocol-pack, "Git Transport"): a TCP connection (port 9418 by
 * default) opened with one pkt-line naming the service, the repository path and the host, plus
 * `version=2` as an extra parameter when protocol v2 is wanted; after that the socket carries
 * the same conversation as an ssh channel. No authentication: git:// is read-mostly and public.
 */
import net from 'node:net';
import { abortError, GitSyncError, NetworkError, TimeoutError, throwIfAborted } from '../errors.js';
import type { Service } from '../types.js';
import { pktLine } from '../wire/pktline.js';
import type { RunObserver } from '../observe/observer.js';
import type { Side } from '../types.js';
import type { ProtocolVersion } from '../types.js';
import type { Endpoint } from './endpoint.js';
import { StreamConnection, type ByteChannel } from './stream-connection.js';
import type { ConnectOptions, GitConnection, Transport } from './transport.js';

export type GitDaemonEndpoint = Extract<Endpoint, { kind: 'git' }>;

export const DEFAULT_GIT_DAEMON_PORT = 9418;
export const DEFAULT_CONNECT_TIMEOUT_MILLIS = 30_000;

/**
 * `git-upload-pack /path\0host=example.com[:port]\0[\0version=2\0]` as one pkt-line. As git
 * does, `/~user/repo` is sent as `~user/repo` so the daemon can expand the user's directory.
 */
export function daemonRequest(service: Service, endpoint: GitDaemonEndpoint, protocol: ProtocolVersion): Buffer {
  const repoPath = endpoint.path.startsWith('/~') ? endpoint.path.slice(1) : endpoint.path;
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  const hostParameter = endpoint.port === null ? host : `${host}:${endpoint.port}`;
  let request = `${service} ${repoPath}\0host=${hostParameter}\0`;
  if (protocol === 'v2') request += '\0version=2\0';
  return pktLine(request);
}

function describeSocketError(where: string, error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return `${where}: ${code ? `${code} ` : ''}${error.message}`;
}

function socketChannel(socket: net.Socket, where: string): ByteChannel {
  let lastError: Error | null = null;
  socket.on('error', (error) => {
    lastError ??= error;
  });
  const finished = new Promise<GitSyncError | null>((resolve) => {
    socket.once('close', () => {
      resolve(lastError === null ? null : new NetworkError(where, describeSocketError(where, lastError), { cause: lastError, transient: true }));
    });
  });
  return {
    input: socket,
    output: socket,
    finished,
    terminate: () => socket.destroy(),
  };
}

export interface GitDaemonTransportOptions {
  /** Where the bytes this transport moves are counted. */
  observer?: RunObserver;
  /** Which end of the run this is: named in errors. */
  side?: Side;
  /** Idle timeout while waiting on the peer (StreamConnectionOptions.idleMillis). */
  idleMillis?: number;
  /** The bound on a ref listing (StreamConnectionOptions.maxRefListingBytes). */
  maxRefListingBytes?: number;
  connectTimeoutMillis?: number;
}

export class GitDaemonTransport implements Transport {
  readonly kind = 'git' as const;
  readonly displayUrl: string;

  constructor(
    private readonly endpoint: GitDaemonEndpoint,
    private readonly options: GitDaemonTransportOptions = {},
  ) {
    this.displayUrl = endpoint.display;
  }

  async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
    throwIfAborted(options.signal);
    const socket = await this.open(options.signal);
    const where = this.displayUrl;
    const connection = new StreamConnection(socketChannel(socket, where), {
      displayUrl: where,
      phase: options.phase,
      observer: this.options.observer, side: this.options.side, idleMillis: this.options.idleMillis, maxRefListingBytes: this.options.maxRefListingBytes,
      signal: options.signal,
      // git daemon refuses with an ERR packet, but a server past its connection limit, or
      // something else on the port, may just hang up.
      silentEnd: () =>
        new NetworkError(where, `${where}: the server closed the connection without a word; check that a git daemon serving ${service} listens there`),
    });
    await connection.send(daemonRequest(service, this.endpoint, options.protocol));
    return connection;
  }

  private open(signal: AbortSignal | undefined): Promise<net.Socket> {
    const host = this.endpoint.host;
    const port = this.endpoint.port ?? DEFAULT_GIT_DAEMON_PORT;
    const where = this.displayUrl;
    const timeoutMillis = this.options.connectTimeoutMillis ?? DEFAULT_CONNECT_TIMEOUT_MILLIS;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        socket.off('error', onError);
      };
      const fail = (error: GitSyncError): void => {
        cleanup();
        socket.destroy();
        reject(error);
      };
      const onConnect = (): void => {
        cleanup();
        resolve(socket);
      };
      const onError = (error: Error): void => {
        fail(new NetworkError(where, `${describeSocketError(where, error)}; is a git daemon listening on ${host}:${port}?`, { cause: error, transient: true }));
      };
      const onAbort = (): void => fail(abortError(signal!, where));
      const timer = setTimeout(() => fail(new TimeoutError('connect', where, timeoutMillis, `${where}: no connection to ${host}:${port} within ${timeoutMillis} ms`)), timeoutMillis);
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
