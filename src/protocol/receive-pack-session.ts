/**
 * A conversation with a target's receive-pack: its advertisement (refs and push capabilities)
 * first; pushes are sent on the same connection.
 */
import { ProtocolError, onSide } from '../errors.js';
import type { GitConnection, NewRepository, RequestBody, RequestOptions, Transport } from '../transport/transport.js';
import type { PktLineReader } from '../wire/pktline.js';
import { screenListedRefs } from '../plan/index.js';
import type { InvalidRefName, Ref } from '../types.js';
import { readAdvertisement } from './advertisement.js';
import type { Capabilities } from './capabilities.js';
import { receivePackFeatures, type ReceivePackFeatures } from './receive-pack.js';

export interface ReceivePackDiscovery {
  /** The refs whose names git accepts (plan/listed-refs.ts); HEAD left out. */
  refs: Ref[];
  /** Names the target listed that git refuses: skipped, never deleted or leased. */
  invalidRefs: InvalidRefName[];
  capabilities: Capabilities;
  features: ReceivePackFeatures;
}

export class ReceivePackSession {
  /** receive-pack on a stateful channel takes one push and hangs up. */
  private spent = false;

  private constructor(
    private connection: GitConnection,
    private discovered: ReceivePackDiscovery,
    readonly transport: Transport,
  ) {}

  /** Refs and push capabilities, as the target advertised them. */
  get discovery(): ReceivePackDiscovery {
    return this.discovered;
  }

  /** The target does not exist yet (a local path): it reads as empty until `prepareForPush`. */
  get missing(): boolean {
    return this.connection.missing === true;
  }

  /**
   * `readOnly`: only look (plan, probe, and planning before a push): a target that does not
   * exist yet is not created; `prepareForPush` creates it once the run goes ahead.
   */
  static async open(
    transport: Transport,
    options: { signal?: AbortSignal; readOnly?: boolean; createAs?: NewRepository } = {},
  ): Promise<ReceivePackSession> {
    try {
      return await ReceivePackSession.connect(transport, options);
    } catch (error) {
      throw onSide(error, 'target');
    }
  }

  private static async connect(
    transport: Transport,
    options: { signal?: AbortSignal; readOnly?: boolean; createAs?: NewRepository },
  ): Promise<ReceivePackSession> {
    const connection = await transport.connect('git-receive-pack', {
      protocol: 'v1',
      phase: 'target info-refs',
      signal: options.signal,
      readOnly: options.readOnly,
      createAs: options.createAs,
    });
    try {
      return new ReceivePackSession(connection, await ReceivePackSession.discover(transport, connection), transport);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  private static async discover(transport: Transport, connection: GitConnection): Promise<ReceivePackDiscovery> {
    const advertisement = await readAdvertisement(connection.advertisement);
    // receive-pack has no protocol v2: whatever the client asks, the answer is a ref list.
    if (advertisement.version !== 'v1') throw new ProtocolError(`${transport.displayUrl}: receive-pack answered with a protocol v2 advertisement`);
    if (connection.stateless) await connection.advertisement.close();
    const screened = screenListedRefs(advertisement.refs, null);
    const refs = screened.refs.filter((ref) => ref.name !== 'HEAD');
    return { refs, invalidRefs: screened.invalid, capabilities: advertisement.capabilities, features: receivePackFeatures(advertisement.capabilities) };
  }

  /**
   * Makes a target that does not exist yet (`missing`) real, as `createAs` says, and reads its
   * advertisement (its push capabilities). Nothing happens for a target that exists.
   */
  async prepareForPush(createAs: NewRepository, signal?: AbortSignal): Promise<void> {
    if (!this.missing) return;
    const connection = await this.transport.connect('git-receive-pack', { protocol: 'v1', phase: 'target info-refs', signal, createAs });
    try {
      this.discovered = await ReceivePackSession.discover(this.transport, connection);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
    await this.connection.close().catch(() => undefined);
    this.connection = connection;
  }

  /**
   * Sends one push request (commands and pack) and returns the reader of its report. On a
   * stateful channel every push after the first opens a fresh connection; its advertisement is
   * read and dropped.
   */
  async push(body: RequestBody, options: RequestOptions): Promise<PktLineReader> {
    try {
      return await this.startPush(body, options);
    } catch (error) {
      throw onSide(error, 'target');
    }
  }

  private async startPush(body: RequestBody, options: RequestOptions): Promise<PktLineReader> {
    if (this.spent && !this.connection.stateless) {
      await this.connection.close().catch(() => undefined);
      this.connection = await this.transport.connect('git-receive-pack', { protocol: 'v1', phase: 'target info-refs', signal: options.signal });
      await readAdvertisement(this.connection.advertisement);
    }
    this.spent = true;
    return this.connection.request(body, options);
  }

  /**
   * After a push's report is read: over HTTP the response is read to its end and released, so
   * its connection returns to the pool and its trace line (`GITSYNC_HTTP_TRACE`) is printed; a
   * stateful channel is left as it is (the next push reconnects).
   */
  async finishPush(reader: PktLineReader): Promise<void> {
    if (!this.connection.stateless) return;
    for (let packets = 0; packets < 64 && (await reader.read()) !== null; packets++);
    await reader.close();
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
