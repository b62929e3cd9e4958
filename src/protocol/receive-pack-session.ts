/**
 * A conversation with a target's receive-pack: its advertisement (refs and push capabilities)
 * first; pushes are sent on the same connection.
 */
import { ProtocolError } from '../errors.js';
import type { Transport, GitConnection } from '../transport/transport.js';
import type { Ref } from '../types.js';
import { readAdvertisement } from './advertisement.js';
import type { Capabilities } from './capabilities.js';
import { receivePackFeatures, type ReceivePackFeatures } from './receive-pack.js';

export interface ReceivePackDiscovery {
  refs: Ref[];
  capabilities: Capabilities;
  features: ReceivePackFeatures;
}

export class ReceivePackSession {
  private constructor(
    readonly connection: GitConnection,
    readonly discovery: ReceivePackDiscovery,
    readonly transport: Transport,
  ) {}

  static async open(transport: Transport, options: { signal?: AbortSignal } = {}): Promise<ReceivePackSession> {
    const connection = await transport.connect('git-receive-pack', {
      protocol: 'v1',
      phase: 'target info-refs',
      signal: options.signal,
    });
    try {
      const advertisement = await readAdvertisement(connection.advertisement, connection.hasServiceHeader ? 'git-receive-pack' : undefined);
      // receive-pack has no protocol v2: whatever the client asks, the answer is a ref list.
      if (advertisement.version !== 'v1') throw new ProtocolError(`${transport.displayUrl}: receive-pack answered with a protocol v2 advertisement`);
      if (transport.kind === 'http') await connection.advertisement.close();
      const refs = advertisement.refs.filter((ref) => ref.name !== 'HEAD');
      return new ReceivePackSession(
        connection,
        { refs, capabilities: advertisement.capabilities, features: receivePackFeatures(advertisement.capabilities) },
        transport,
      );
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
