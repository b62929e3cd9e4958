/**
 * A conversation with a source's upload-pack over any transport: discover the protocol version,
 * capabilities, HEAD and refs (v1 advertisement or v2 `ls-refs`), then fetch packs.
 */
import { ProtocolError, UnsupportedError, onSide } from '../errors.js';
import { QUIET_OBSERVER, type RunObserver } from '../observe/observer.js';
import type { GitConnection, Transport } from '../transport/transport.js';
import { screenListedRefs } from '../plan/index.js';
import type { InvalidRefName, Oid, ProtocolPreference, ProtocolVersion, Ref } from '../types.js';
import { AGENT } from '../version.js';
import { readAdvertisement } from './advertisement.js';
import { Capabilities } from './capabilities.js';
import { lsRefsRequest, readLsRefsResponse } from './ls-refs.js';
import {
  fetchRequestV1,
  fetchRequestV2,
  readFetchResponseV1,
  readFetchResponseV2,
  supportsFilter,
  type FetchResponse,
} from './upload-pack.js';
import type { ProgressCallback } from '../wire/sideband.js';
import type { PktLineReader } from '../wire/pktline.js';

export interface UploadPackDiscovery {
  protocol: ProtocolVersion;
  capabilities: Capabilities;
  /** The branch HEAD points at, or null (detached, unknown, no HEAD, or a name git refuses). */
  head: string | null;
  /** The refs whose names git accepts (plan/listed-refs.ts). */
  refs: Ref[];
  /** Names the server listed that git refuses: skipped. */
  invalidRefs: InvalidRefName[];
}

export interface DiscoverOptions {
  protocol: ProtocolPreference;
  /** v2 only: ask the server for refs under these prefixes (an optimisation, not a filter). */
  refPrefixes?: readonly string[];
  /** Where the fetch's wants and haves are counted. */
  observer?: RunObserver;
  signal?: AbortSignal;
  /**
   * The stats phase the listing counts in: `source info-refs` (and `source ls-refs`) by default;
   * `target info-refs` when the target is asked what its HEAD is after a run.
   */
  listingPhase?: 'source' | 'target';
}

export interface SessionFetchOptions {
  wants: readonly Oid[];
  haves: readonly Oid[];
  filter?: string | null;
  /** See FetchRequest.thinPack. */
  thinPack?: boolean;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/**
 * What a current git server offers, as far as an `ls-refs` request depends on it: `agent`,
 * `ls-refs=unborn` (git 2.31 on) and SHA-1. The guess is sent only where the request built from
 * the real advertisement comes out the same, byte for byte.
 */
const LIKELY_V2_CAPABILITIES = new Capabilities([
  ['agent', null],
  ['ls-refs', 'unborn'],
  ['object-format', 'sha1'],
]);

/**
 * What each repository answered last in this process: its v2 capabilities, or `v1` when it spoke
 * v0/v1 to a v2 request. A process that lists the same repositories again (a fleet, a service)
 * guesses from that, so a server that is not what LIKELY_V2_CAPABILITIES says is not sent a
 * request it will not take every time. Bounded: the oldest entry goes first.
 */
const lastAnswers = new Map<string, Capabilities | 'v1'>();
const MAX_REMEMBERED = 10_000;

function remember(repository: string, answer: Capabilities | 'v1'): void {
  lastAnswers.delete(repository);
  lastAnswers.set(repository, answer);
  if (lastAnswers.size > MAX_REMEMBERED) lastAnswers.delete(lastAnswers.keys().next().value!);
}

/** The `ls-refs` to send with the advertisement's request, or null when none should go. */
function guessLsRefs(repository: string, prefixes: readonly string[]): Buffer | null {
  const last = lastAnswers.get(repository) ?? LIKELY_V2_CAPABILITIES;
  if (last === 'v1' || !last.has('ls-refs')) return null;
  return lsRefsRequest(last, { refPrefixes: prefixes, agent: AGENT });
}

/** The answer to the speculated request when it is `body`, else null (and it is dropped). */
async function takeSpeculated(connection: GitConnection, body: Buffer, guess: Buffer | null): Promise<PktLineReader | null> {
  const speculated = connection.speculated;
  if (speculated === undefined) return null;
  if (guess === null || !body.equals(guess)) {
    speculated.drop();
    return null;
  }
  return speculated.take();
}

export class UploadPackSession {
  /** A v0/v1 server on a stateful channel answers one fetch and hangs up. */
  private spent = false;
  /** The last fetch's pack was not read to its end. */
  private unfinished = false;

  private constructor(
    private readonly transport: Transport,
    private connection: GitConnection,
    readonly discovery: UploadPackDiscovery,
    private readonly observer: RunObserver,
  ) {}

  static async open(transport: Transport, options: DiscoverOptions): Promise<UploadPackSession> {
    try {
      return await UploadPackSession.discover(transport, options);
    } catch (error) {
      throw onSide(error, options.listingPhase === 'target' ? 'target' : 'source');
    }
  }

  private static async discover(transport: Transport, options: DiscoverOptions): Promise<UploadPackSession> {
    const requested: ProtocolVersion = options.protocol === 'v1' ? 'v1' : 'v2';
    const advertisementPhase = options.listingPhase === 'target' ? 'target info-refs' : 'source info-refs';
    const lsRefsPhase = options.listingPhase === 'target' ? 'target info-refs' : 'source ls-refs';
    // HEAD matches no `refs/` prefix: ask for it too, or its symref target would be lost.
    const prefixes = options.refPrefixes && options.refPrefixes.length > 0 ? [...new Set(['HEAD', ...options.refPrefixes])] : [];
    // The ls-refs a current git server will be asked, sent with the advertisement's request where
    // the transport can (docs/architecture.md, "One round trip for a listing").
    const guess = requested === 'v2' ? guessLsRefs(transport.displayUrl, prefixes) : null;
    const connection = await transport.connect('git-upload-pack', {
      protocol: requested,
      phase: advertisementPhase,
      signal: options.signal,
      ...(guess === null ? {} : { speculate: { body: guess, phase: lsRefsPhase } }),
    });
    try {
      const advertisement = await readAdvertisement(connection.advertisement);
      if (advertisement.version === 'v1') {
        if (requested === 'v2') remember(transport.displayUrl, 'v1');
        if (options.protocol === 'v2') {
          throw new UnsupportedError(`${transport.displayUrl} does not speak protocol v2; use --protocol auto or v1`);
        }
        // Over HTTP the advertisement is its own response: release it. On a stateful channel
        // the same stream carries the fetch response next, so it stays open.
        if (connection.stateless) await connection.advertisement.close();
        const screened = screenListedRefs(advertisement.refs, advertisement.head);
        return new UploadPackSession(
          transport,
          connection,
          { protocol: 'v1', capabilities: advertisement.capabilities, head: screened.head, refs: screened.refs, invalidRefs: screened.invalid },
          options.observer ?? QUIET_OBSERVER,
        );
      }
      if (options.protocol === 'v1') {
        throw new ProtocolError(`${transport.displayUrl} answered with protocol v2 although v1 was requested`);
      }
      const capabilities = advertisement.capabilities;
      remember(transport.displayUrl, capabilities);
      if (connection.stateless) await connection.advertisement.close();
      const body = lsRefsRequest(capabilities, { refPrefixes: prefixes, agent: AGENT });
      const reader = (await takeSpeculated(connection, body, guess)) ?? (await connection.request(body, { phase: lsRefsPhase, signal: options.signal }));
      const listed = await readLsRefsResponse(reader);
      if (connection.stateless) await reader.close();
      const screened = screenListedRefs(listed.refs, listed.head);
      return new UploadPackSession(
        transport,
        connection,
        { protocol: 'v2', capabilities, head: screened.head, refs: screened.refs, invalidRefs: screened.invalid },
        options.observer ?? QUIET_OBSERVER,
      );
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    } finally {
      // Taken and read, not wanted, or the listing failed: either way, let go of it.
      connection.speculated?.drop();
    }
  }

  get displayUrl(): string {
    return this.transport.displayUrl;
  }

  /**
   * The source's refs under `prefixes` (v2: one more `ls-refs`; v1: the advertisement already
   * holds every ref). For messages that need more of the listing than the run asked for.
   */
  async listRefs(prefixes: readonly string[], signal?: AbortSignal): Promise<Ref[]> {
    try {
      return await this.listMore(prefixes, signal);
    } catch (error) {
      throw onSide(error, 'source');
    }
  }

  private async listMore(prefixes: readonly string[], signal?: AbortSignal): Promise<Ref[]> {
    const matches = (ref: Ref): boolean => prefixes.some((prefix) => ref.name.startsWith(prefix));
    if (this.discovery.protocol === 'v1') return this.discovery.refs.filter(matches);
    const body = lsRefsRequest(this.discovery.capabilities, { refPrefixes: [...prefixes], agent: AGENT });
    const reader = await this.connection.request(body, { phase: 'source ls-refs', signal });
    const listed = await readLsRefsResponse(reader);
    if (this.connection.stateless) await reader.close();
    return screenListedRefs(listed.refs, null).refs.filter(matches);
  }

  get supportsFilter(): boolean {
    return supportsFilter(this.discovery.protocol, this.discovery.capabilities);
  }

  /** Sends one fetch with every want and have and `done`; returns the pack stream. */
  async fetch(options: SessionFetchOptions): Promise<FetchResponse> {
    try {
      return await this.sendFetch(options);
    } catch (error) {
      throw onSide(error, 'source');
    }
  }

  private async sendFetch(options: SessionFetchOptions): Promise<FetchResponse> {
    const { protocol, capabilities } = this.discovery;
    const request = {
      wants: options.wants,
      haves: options.haves,
      filter: options.filter ?? null,
      thinPack: options.thinPack === true,
      progress: options.onProgress !== undefined,
      agent: AGENT,
    };
    const body = protocol === 'v2' ? fetchRequestV2(capabilities, request) : fetchRequestV1(capabilities, request);
    const counters = this.observer.counters('source fetch');
    if (counters !== null) {
      counters.wants += options.wants.length;
      counters.haves += options.haves.length;
    }
    // A stateful channel carries one response after another: after a v1 fetch (the server hangs
    // up) or a response read only in part (a relay aborted mid-pack), the next fetch needs a
    // fresh connection, or it would read the rest of the old pack.
    if (!this.connection.stateless && (this.unfinished || (protocol === 'v1' && this.spent))) await this.reconnect(options.signal);
    this.spent = true;
    this.unfinished = true;
    const reader = await this.connection.request(body, { phase: 'source fetch', signal: options.signal });
    const responseOptions = { onProgress: options.onProgress, signal: options.signal, haves: options.haves.length };
    const response =
      protocol === 'v2'
        ? await readFetchResponseV2(reader, responseOptions)
        : await readFetchResponseV1(reader, capabilities.has('side-band-64k') || capabilities.has('side-band'), responseOptions);
    const session = this;
    const pack = response.pack;
    return {
      ...response,
      pack: (async function* finished(): AsyncGenerator<Buffer> {
        try {
          yield* pack;
        } catch (error) {
          throw onSide(error, 'source');
        }
        session.unfinished = false;
      })(),
    };
  }

  /** Opens a fresh connection for the next fetch; its advertisement is read and dropped. */
  private async reconnect(signal: AbortSignal | undefined): Promise<void> {
    const protocol = this.discovery.protocol;
    await this.connection.close().catch(() => undefined);
    this.connection = await this.transport.connect('git-upload-pack', { protocol, phase: 'source info-refs', signal });
    const advertisement = await readAdvertisement(this.connection.advertisement);
    if (advertisement.version !== protocol) throw new ProtocolError(`${this.transport.displayUrl} changed protocol between two connections`);
    this.unfinished = false;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
