/**
 * Upload-pack fetch conversations for protocol v1 (gitprotocol-pack, "Packfile Negotiation") and
 * v2 (gitprotocol-v2, "fetch"). git-sync always negotiates in one round: every want and every
 * have, then `done`, so the server answers with its acknowledgments and the pack at once. A
 * thin pack (deltas against objects only the haves reach) is asked for only when the caller says
 * so: the relay does when the pack's receiver holds every have (docs/protocol.md, "Thin packs").
 */
import { ProtocolError, RemoteError, ResponseTooLargeError, UnsupportedError } from '../errors.js';
import { isOid, type Oid } from '../types.js';
import type { Capabilities } from './capabilities.js';
import { v2CommandHeader } from './ls-refs.js';
import { DELIM_PKT, FLUSH_PKT, PktLineReader, describePacket, packetText, pktLine, type Packet } from '../wire/pktline.js';
import { demuxSideband, type ProgressCallback } from '../wire/sideband.js';

export interface FetchRequest {
  wants: readonly Oid[];
  haves: readonly Oid[];
  /** An object filter such as `tree:0`; the server must offer `filter`. */
  filter?: string | null;
  /** Ask the server for progress messages (band 2); otherwise send `no-progress`. */
  progress?: boolean;
  /**
   * Ask for a thin pack: deltas may name bases the pack leaves out, objects the haves reach. Only
   * for a receiver that holds them (the pack is not self-contained). v1: when the server offers
   * `thin-pack`.
   */
  thinPack?: boolean;
  agent?: string;
}

export interface FetchResponse {
  /** Haves the server acknowledged as common. */
  acks: Oid[];
  /** `shallow` / `unshallow` lines, when the server sent any. */
  shallow: Oid[];
  unshallow: Oid[];
  /** The raw pack bytes, demultiplexed when sideband was negotiated. Consume it exactly once. */
  pack: AsyncGenerator<Buffer>;
}

export interface FetchResponseOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * How many haves the request sent: the lines before the pack (acknowledgments, and the packets
   * around them) may number at most that plus ACK_SLACK_LINES. Default: none sent.
   */
  haves?: number;
}

/**
 * Lines a fetch response may hold before its pack beyond one per have: git sends one `ACK` per
 * common have at most (v2), or a single `ACK`/`NAK` (v1, which git-sync asks no multi_ack of),
 * plus section headers and delimiters. A server that acknowledges without end is stopped there
 * (docs/security.md, "Bounded memory and time").
 */
export const ACK_SLACK_LINES = 64;

/** Counts the lines before the pack; throws once there are more than the request can explain. */
function negotiationBudget(options: FetchResponseOptions): () => void {
  const limit = (options.haves ?? 0) + ACK_SLACK_LINES;
  let lines = 0;
  return () => {
    if (++lines > limit) {
      throw new ResponseTooLargeError('acknowledgments', limit, 'lines', `the fetch response has more than ${limit} lines before its pack (for ${options.haves ?? 0} haves); stopped reading it`);
    }
  };
}

function checkWants(request: FetchRequest): void {
  if (request.wants.length === 0) throw new ProtocolError('a fetch needs at least one want');
  for (const oid of [...request.wants, ...request.haves]) {
    if (!isOid(oid)) throw new ProtocolError(`not an object id: ${JSON.stringify(oid)}`);
  }
}

/** True when the server can apply an object filter to a fetch over this protocol version. */
export function supportsFilter(version: 'v1' | 'v2', capabilities: Capabilities): boolean {
  return version === 'v2' ? capabilities.commandHas('fetch', 'filter') : capabilities.has('filter');
}

/** v1: `want oid caps`, more wants, flush, haves, `done`. Capabilities only the server offered. */
export function fetchRequestV1(capabilities: Capabilities, request: FetchRequest): Buffer {
  checkWants(request);
  const caps: string[] = [];
  if (capabilities.has('side-band-64k')) caps.push('side-band-64k');
  else if (capabilities.has('side-band')) caps.push('side-band');
  if (capabilities.has('ofs-delta')) caps.push('ofs-delta');
  if (request.thinPack && capabilities.has('thin-pack')) caps.push('thin-pack');
  if (!request.progress && capabilities.has('no-progress')) caps.push('no-progress');
  if (request.filter) {
    if (!capabilities.has('filter')) throw new UnsupportedError('the source does not offer object filters (uploadpack.allowFilter)');
    caps.push('filter');
  }
  const format = capabilities.get('object-format');
  if (format !== null) caps.push(`object-format=${format}`);
  if (request.agent !== undefined && capabilities.has('agent')) caps.push(`agent=${request.agent}`);

  const parts: Buffer[] = [];
  request.wants.forEach((oid, index) => {
    parts.push(pktLine(index === 0 ? `want ${oid} ${caps.join(' ')}\n` : `want ${oid}\n`));
  });
  if (request.filter) parts.push(pktLine(`filter ${request.filter}\n`));
  parts.push(FLUSH_PKT);
  for (const oid of request.haves) parts.push(pktLine(`have ${oid}\n`));
  parts.push(pktLine('done\n'));
  return Buffer.concat(parts);
}

/** v2: `command=fetch`, capabilities, delim, arguments, `done`, flush. */
export function fetchRequestV2(capabilities: Capabilities, request: FetchRequest): Buffer {
  checkWants(request);
  if (!capabilities.has('fetch')) throw new ProtocolError('server speaks protocol v2 but does not offer fetch');
  const parts = v2CommandHeader('fetch', capabilities, request.agent);
  parts.push(DELIM_PKT, pktLine('ofs-delta\n'));
  if (request.thinPack) parts.push(pktLine('thin-pack\n'));
  if (!request.progress) parts.push(pktLine('no-progress\n'));
  if (request.filter) {
    if (!capabilities.commandHas('fetch', 'filter')) throw new UnsupportedError('the source does not offer object filters (uploadpack.allowFilter)');
    parts.push(pktLine(`filter ${request.filter}\n`));
  }
  for (const oid of request.wants) parts.push(pktLine(`want ${oid}\n`));
  for (const oid of request.haves) parts.push(pktLine(`have ${oid}\n`));
  parts.push(pktLine('done\n'), FLUSH_PKT);
  return Buffer.concat(parts);
}

function parseAck(text: string, acks: Oid[]): void {
  // `ACK oid`, or with multi_ack `ACK oid continue|common|ready`.
  const oid = text.split(' ')[1] ?? '';
  if (!isOid(oid)) throw new ProtocolError(`malformed acknowledgment ${JSON.stringify(text)}`);
  acks.push(oid as Oid);
}

function parseShallowLine(text: string, shallow: Oid[], unshallow: Oid[]): boolean {
  const [keyword, oid] = text.split(' ');
  if (keyword !== 'shallow' && keyword !== 'unshallow') return false;
  if (oid === undefined || !isOid(oid)) throw new ProtocolError(`malformed ${keyword} line ${JSON.stringify(text)}`);
  (keyword === 'shallow' ? shallow : unshallow).push(oid as Oid);
  return true;
}

function remoteErrorIn(packet: Packet): void {
  if (packet.type === 'data') {
    const text = packetText(packet);
    if (text.startsWith('ERR ')) throw new RemoteError(text.slice(4));
  }
}

/**
 * v1 response: `NAK` or `ACK` lines (and `shallow` lines), then the pack, sideband-framed when
 * `sideband` is true, raw otherwise.
 */
export async function readFetchResponseV1(reader: PktLineReader, sideband: boolean, options: FetchResponseOptions = {}): Promise<FetchResponse> {
  const acks: Oid[] = [];
  const shallow: Oid[] = [];
  const unshallow: Oid[] = [];
  const line = negotiationBudget(options);
  for (;;) {
    if (!sideband) {
      const head = await reader.peek(4);
      if (head.toString('latin1') === 'PACK') return { acks, shallow, unshallow, pack: reader.rest() };
    }
    // A stream that ends here was cut before the pack (a transient PKT_LINE, as in v2).
    const packet = await reader.readRequired('a v1 fetch response, before the pack');
    line();
    if (packet.type === 'flush') continue;
    if (packet.type !== 'data') throw new ProtocolError(`unexpected ${describePacket(packet)} in a v1 fetch response`);
    remoteErrorIn(packet);
    const text = packetText(packet);
    if (text === 'NAK') continue;
    if (text.startsWith('ACK ')) {
      parseAck(text, acks);
      continue;
    }
    if (parseShallowLine(text, shallow, unshallow)) continue;
    if (sideband && packet.data.length > 0 && packet.data[0]! >= 1 && packet.data[0]! <= 3) {
      reader.unread(packet);
      return { acks, shallow, unshallow, pack: demuxSideband(reader, options) };
    }
    throw new ProtocolError(`unexpected ${describePacket(packet)} in a v1 fetch response`);
  }
}

/**
 * v2 response: sections separated by delim packets — `acknowledgments`, `shallow-info`,
 * `wanted-refs`, `packfile-uris`, and finally `packfile`, whose sideband stream ends with flush.
 */
export async function readFetchResponseV2(reader: PktLineReader, options: FetchResponseOptions = {}): Promise<FetchResponse> {
  const acks: Oid[] = [];
  const shallow: Oid[] = [];
  const unshallow: Oid[] = [];
  const line = negotiationBudget(options);
  for (;;) {
    const header = await reader.readRequired('a v2 fetch response section');
    line();
    if (header.type !== 'data') throw new ProtocolError(`expected a fetch response section, got ${describePacket(header)}`);
    remoteErrorIn(header);
    const section = packetText(header);
    if (section === 'packfile') {
      return { acks, shallow, unshallow, pack: demuxSideband(reader, { ...options, untilFlush: true }) };
    }
    if (!['acknowledgments', 'shallow-info', 'wanted-refs', 'packfile-uris'].includes(section)) {
      throw new ProtocolError(`unknown v2 fetch response section ${JSON.stringify(section)}`);
    }
    for (;;) {
      const packet = await reader.readRequired(`the ${section} section`);
      line();
      if (packet.type === 'delim') break;
      if (packet.type === 'flush') {
        // Only an acknowledgments section may end the response, and only before `done`.
        throw new ProtocolError(`v2 fetch response ended after ${section} without a packfile`);
      }
      if (packet.type !== 'data') throw new ProtocolError(`unexpected ${describePacket(packet)} in the ${section} section`);
      remoteErrorIn(packet);
      const text = packetText(packet);
      if (section === 'acknowledgments') {
        if (text.startsWith('ACK ')) parseAck(text, acks);
        else if (text !== 'NAK' && text !== 'ready') throw new ProtocolError(`malformed acknowledgment ${JSON.stringify(text)}`);
      } else if (section === 'shallow-info') {
        if (!parseShallowLine(text, shallow, unshallow)) throw new ProtocolError(`malformed shallow-info line ${JSON.stringify(text)}`);
      }
    }
  }
}
