/**
 * The server's first words (gitprotocol-pack "Reference Discovery", gitprotocol-v2 "Capability
 * Advertisement"), as any transport delivers them (smart HTTP's `# service=` header already
 * removed by the HTTP transport): either `version 2` and capability lines (v2), or
 * the v0/v1 ref advertisement: an optional `version 1` line, `oid name\0capabilities` on the first
 * ref, `oid name` after it, `oid tag^{}` peel lines right after their annotated tag, optional
 * `shallow oid` lines, and a flush. An empty repository sends `zero-id capabilities^{}\0caps`.
 */
import { ProtocolError, RemoteError, ResponseTooLargeError } from '../errors.js';
import { isOid, isZeroOid, type Oid, type Ref } from '../types.js';
import { Capabilities, parseV1Capabilities, parseV2Capabilities } from './capabilities.js';
import { PktLineReader, describePacket, packetText, type Packet } from '../wire/pktline.js';
import { lineStop, oidEnd } from './ref-line.js';


export type Advertisement =
  | { readonly version: 'v2'; readonly capabilities: Capabilities }
  | {
      readonly version: 'v1';
      readonly capabilities: Capabilities;
      readonly refs: Ref[];
      /** The branch HEAD points at, from `symref=HEAD:...`; null when unknown or detached. */
      readonly head: string | null;
      readonly shallow: Oid[];
    };

/** Parses one `oid name` line; the caller handles the NUL-separated capabilities. */
function parseRefLine(text: string): { hash: Oid; name: string } {
  const space = text.indexOf(' ');
  const hash = space > 0 ? text.slice(0, space) : '';
  const name = space > 0 ? text.slice(space + 1) : '';
  if (!isOid(hash) || name.length === 0) throw malformedRefLine(text);
  return { hash: hash as Oid, name };
}

function malformedRefLine(text: string): ProtocolError {
  return new ProtocolError(`malformed ref advertisement line ${JSON.stringify(text.slice(0, 80))}`);
}

/** Reads the advertisement. */
export async function readAdvertisement(reader: PktLineReader): Promise<Advertisement> {
  let packet = await reader.readRequired('the ref advertisement');
  let text = packetText(packet);
  if (packet.type === 'data' && text.startsWith('ERR ')) throw new RemoteError(text.slice(4));
  if (packet.type === 'data' && text === 'version 2') return { version: 'v2', capabilities: await readV2Capabilities(reader) };
  if (packet.type === 'data' && text === 'version 1') {
    packet = await reader.readRequired('the ref advertisement');
    text = packetText(packet);
  }
  return readV1Refs(reader, packet);
}

/**
 * The most lines a v2 capability advertisement may have: git's has about ten (docs/security.md,
 * "Bounded memory and time"); a server that goes on is refused rather than listened to.
 */
export const MAX_V2_CAPABILITY_LINES = 256;

async function readV2Capabilities(reader: PktLineReader): Promise<Capabilities> {
  const lines: string[] = [];
  for (;;) {
    const packet = await reader.readRequired('the v2 capability advertisement');
    if (packet.type === 'flush') break;
    if (lines.length === MAX_V2_CAPABILITY_LINES) {
      throw new ResponseTooLargeError('capabilities', MAX_V2_CAPABILITY_LINES, 'lines', `the v2 capability advertisement has more than ${MAX_V2_CAPABILITY_LINES} lines; stopped reading it`);
    }
    if (packet.type !== 'data') throw new ProtocolError(`unexpected ${describePacket(packet)} in the v2 capability advertisement`);
    lines.push(packetText(packet));
  }
  return parseV2Capabilities(lines);
}

async function readV1Refs(reader: PktLineReader, first: Packet): Promise<Advertisement> {
  const refs: Ref[] = [];
  const shallow: Oid[] = [];
  let capabilities = new Capabilities();
  let isFirst = true;
  const addRef = (hash: Oid, name: string): void => {
    if (isFirst && name === 'capabilities^{}') {
      if (!isZeroOid(hash)) throw new ProtocolError('capabilities^{} placeholder must carry the zero id');
    } else if (name.endsWith('^{}')) {
      const base = name.slice(0, -3);
      const tag = refs[refs.length - 1];
      if (tag === undefined || tag.name !== base) {
        throw new ProtocolError(`peeled line for ${base} does not follow its ref`);
      }
      tag.peeled = hash;
    } else {
      refs.push({ name, hash, peeled: null });
    }
  };
  const line = (buffer: Buffer, start: number, end: number): void => {
    const stop = lineStop(buffer, start, end);
    const hashEnd = isFirst ? -1 : oidEnd(buffer, start, stop);
    if (hashEnd > 0 && hashEnd < stop) {
      // The common line, read from its bytes (protocol/ref-line.ts): thousands of them.
      const name = buffer.toString('utf8', hashEnd + 1, stop);
      if (name.length === 0) throw malformedRefLine(buffer.toString('utf8', start, stop));
      addRef(buffer.toString('latin1', start, hashEnd) as Oid, name);
    } else {
      let text = buffer.toString('utf8', start, stop);
      if (text.startsWith('ERR ')) throw new RemoteError(text.slice(4));
      if (isFirst) {
        const nul = text.indexOf('\0');
        if (nul >= 0) {
          capabilities = parseV1Capabilities(text.slice(nul + 1));
          text = text.slice(0, nul);
        }
      }
      if (text.startsWith('shallow ')) {
        const oid = text.slice('shallow '.length);
        if (!isOid(oid)) throw new ProtocolError(`malformed shallow line ${JSON.stringify(text)}`);
        shallow.push(oid as Oid);
      } else {
        const { hash, name } = parseRefLine(text);
        addRef(hash, name);
      }
    }
    isFirst = false;
  };
  // The list ends with a flush, an empty repository's too: a stream that ends first was cut, and
  // what came is not the whole list (read as one, a cut listing looked like a source without
  // the refs it had lost).
  for (let packet = first; packet.type !== 'flush'; packet = await reader.readRequired('the ref advertisement')) {
    if (packet.type !== 'data') throw new ProtocolError(`unexpected ${describePacket(packet)} in the ref advertisement`);
    line(packet.data, 0, packet.data.length);
    // What each chunk holds is read without an await or an object per packet.
    reader.visitBufferedData(line);
  }
  const head = capabilities.symrefs().get('HEAD') ?? null;
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  if (head !== null) for (let i = 0; i < refs.length; i++) if (refs[i]!.name === 'HEAD') refs[i]!.symrefTarget = head;
  return { version: 'v1', capabilities, refs, head, shallow };
}
