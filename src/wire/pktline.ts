/**
 * pkt-line framing (gitprotocol-common, "pkt-line Format"): four hex digits giving the length of
 * the packet including those four bytes, then the payload. `0000` flush, `0001` delim (v2),
 * `0002` response-end (v2 stateless). `0004` is an empty data packet. `0003` and any length
 * above 65520 are invalid.
 */
import { PktLineError } from '../errors.js';

/** Largest total packet length allowed by git (LARGE_PACKET_MAX). */
export const MAX_PKT_LENGTH = 65520;
/** Largest payload of one data packet. */
export const MAX_PKT_PAYLOAD = MAX_PKT_LENGTH - 4;

export type Packet =
  | { readonly type: 'data'; readonly data: Buffer }
  | { readonly type: 'flush' }
  | { readonly type: 'delim' }
  | { readonly type: 'response-end' };

export const FLUSH_PKT = Buffer.from('0000');
export const DELIM_PKT = Buffer.from('0001');
export const RESPONSE_END_PKT = Buffer.from('0002');

const HEX = /^[0-9a-fA-F]{4}$/;

/** Frames one data packet. Strings are written as UTF-8; callers add the `\n` text lines carry. */
export function pktLine(payload: string | Uint8Array): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (data.length > MAX_PKT_PAYLOAD) {
    throw new PktLineError(`pkt-line payload of ${data.length} bytes exceeds the maximum of ${MAX_PKT_PAYLOAD}`);
  }
  const header = Buffer.from((data.length + 4).toString(16).padStart(4, '0'), 'ascii');
  return Buffer.concat([header, data]);
}

/** The text of a data packet without its trailing newline (text packets end in `\n` by convention). */
export function packetText(packet: Packet): string {
  if (packet.type !== 'data') return '';
  const text = packet.data.toString('utf8');
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

export function describePacket(packet: Packet | null): string {
  if (packet === null) return 'end of stream';
  if (packet.type !== 'data') return `${packet.type} packet`;
  const text = packetText(packet);
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
}

/**
 * Reads pkt-lines from a byte stream, pulling only as many chunks as needed so the bytes after a
 * protocol section (a raw pack, or the next response on a stateful connection) stay available
 * through `readRaw()` / `rest()`. Memory is bounded by one packet plus one source chunk.
 */
export class PktLineReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private buffer: Buffer = Buffer.alloc(0);
  private ended = false;
  private pending: Packet | null = null;
  /** Bytes consumed from the source so far (framing included). */
  bytesRead = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Pulls one more chunk into the buffer; false at end of stream. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    return true;
  }

  /**
   * Buffers at least `n` bytes; false when the stream ends first. The chunks are joined once,
   * when enough have arrived: joining at every chunk would copy a packet that arrives in
   * many small chunks over and over (a 65520-byte packet in 1-byte chunks: 2 GB of copying).
   */
  private async ensure(n: number): Promise<boolean> {
    if (this.buffer.length >= n) return true;
    const parts: Buffer[] = this.buffer.length > 0 ? [this.buffer] : [];
    let length = this.buffer.length;
    while (length < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      parts.push(chunk);
      length += chunk.length;
    }
    if (parts.length > 0) this.buffer = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
    return length >= n;
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    this.bytesRead += n;
    return out;
  }

  /** Looks at the next `n` raw bytes without consuming them; shorter at end of stream. */
  async peek(n: number): Promise<Buffer> {
    if (this.pending !== null) throw new PktLineError('cannot peek raw bytes behind a put-back packet');
    await this.ensure(n);
    return this.buffer.subarray(0, Math.min(n, this.buffer.length));
  }

  /** Puts one packet back so the next `read()` returns it (one packet of lookahead). */
  unread(packet: Packet): void {
    if (this.pending !== null) throw new PktLineError('only one packet can be put back');
    this.pending = packet;
  }

  /** The next packet, or null at a clean end of stream (no partial packet pending). */
  async read(): Promise<Packet | null> {
    if (this.pending !== null) {
      const packet = this.pending;
      this.pending = null;
      return packet;
    }
    if (!(await this.ensure(4))) {
      if (this.buffer.length === 0) return null;
      throw cutShort(`truncated pkt-line: stream ended inside a length header (${this.buffer.length} of 4 bytes)`);
    }
    const header = this.buffer.subarray(0, 4).toString('latin1');
    if (!HEX.test(header)) {
      throw new PktLineError(`invalid pkt-line length header ${JSON.stringify(header)}`);
    }
    const length = parseInt(header, 16);
    if (length === 0) return this.control('flush');
    if (length === 1) return this.control('delim');
    if (length === 2) return this.control('response-end');
    if (length === 3) throw new PktLineError('invalid pkt-line length 0003');
    if (length > MAX_PKT_LENGTH) {
      throw new PktLineError(`pkt-line length ${length} exceeds the maximum of ${MAX_PKT_LENGTH}`);
    }
    if (!(await this.ensure(length))) {
      throw cutShort(`truncated pkt-line: expected ${length} bytes, stream ended after ${this.buffer.length}`);
    }
    const packet = this.take(length);
    return { type: 'data', data: packet.subarray(4) };
  }

  private control(type: 'flush' | 'delim' | 'response-end'): Packet {
    this.take(4);
    return { type };
  }

  /** Reads a packet and fails when the stream has ended. */
  async readRequired(context: string): Promise<Packet> {
    const packet = await this.read();
    if (packet === null) throw cutShort(`unexpected end of stream while reading ${context}`);
    return packet;
  }

  /** Raw bytes after the pkt-line section (an unframed pack): the buffered rest, then the source. */
  async *rest(): AsyncGenerator<Buffer> {
    if (this.pending !== null) throw new PktLineError('cannot read raw bytes behind a put-back packet');
    if (this.buffer.length > 0) {
      const chunk = this.take(this.buffer.length);
      yield chunk;
    }
    while (await this.fill()) {
      yield this.take(this.buffer.length);
    }
  }

  /** Releases the underlying source (stops a body download or a child's stdout). */
  async close(): Promise<void> {
    this.ended = true;
    this.buffer = Buffer.alloc(0);
    await this.iterator.return?.();
  }
}

/** Collects data packets up to the next control packet (flush, delim or response-end) or the end. */
export async function readSection(reader: PktLineReader): Promise<{ lines: Buffer[]; end: Packet['type'] | 'eof' }> {
  const lines: Buffer[] = [];
  for (;;) {
    const packet = await reader.read();
    if (packet === null) return { lines, end: 'eof' };
    if (packet.type !== 'data') return { lines, end: packet.type };
    lines.push(packet.data);
  }
}

/**
 * A stream that ended where the protocol needs more: almost always a connection cut short, so
 * the error is transient (a run may retry it where that is safe), unlike a malformed packet.
 */
function cutShort(message: string): PktLineError {
  const error = new PktLineError(message);
  error.transient = true;
  return error;
}
