/**
 * pkt-line framing (gitprotocol-common, "pkt-line Format"): four hex digits giving the length of
 * the packet including those four bytes, then the payload. `0000` flush, `0001` delim (v2),
 * `0002` response-end (v2 stateless). `0004` is an empty data packet. `0003` and any length
 * above 65520 are invalid.
 */
import { PktLineError } from '../errors.js';

const EMPTY = Buffer.alloc(0);

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

/** The value of an ASCII hex digit (either case), or -1. */
function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

/**
 * The length the pkt-line header at `position` (4 bytes at least) declares, checked. Four hex
 * digits, read from the bytes: a string and a regular expression per packet cost more than the
 * rest of reading it.
 */
function headerLengthAt(buffer: Buffer, position: number): number {
  let length = 0;
  for (let i = 0; i < 4; i++) {
    const digit = hexValue(buffer[position + i]!);
    if (digit < 0) throw new PktLineError(`invalid pkt-line length header ${JSON.stringify(buffer.subarray(position, position + 4).toString('latin1'))}`);
    length = length * 16 + digit;
  }
  if (length === 3) throw new PktLineError('invalid pkt-line length 0003');
  if (length > MAX_PKT_LENGTH) {
    throw new PktLineError(`pkt-line length ${length} exceeds the maximum of ${MAX_PKT_LENGTH}`);
  }
  return length;
}

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

export interface PktLineReaderOptions {
  /**
   * Told each time the stream completes something: a whole packet, or a packet's worth
   * (MAX_PKT_LENGTH) of raw bytes read through `rest()`. A transport's idle clock counts this as
   * the server's progress, not every byte (transport/idle-clock.ts).
   */
  onPacket?: () => void;
}

/**
 * Reads pkt-lines from a byte stream, pulling only as many chunks as needed so the bytes after a
 * protocol section (a raw pack, or the next response on a stateful connection) stay available
 * through `readRaw()` / `rest()`. Memory is bounded by one packet plus one source chunk.
 */
export class PktLineReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly onPacket: (() => void) | undefined;
  /**
   * Bytes pulled and not yet consumed: `buffer` from `start` on. Consuming moves `start` rather
   * than cutting a new view of the rest, so a packet costs one Buffer object, not three (a
   * listing of 10,000 refs: `npm run bench -- noop`).
   */
  private buffer: Buffer = EMPTY;
  private start = 0;
  /**
   * The rest of a chunk whose first bytes completed a packet that began in an earlier one
   * (`ensure`): pulled from the source, not yet in `buffer`, and read before the source is.
   */
  private queued: Buffer | null = null;
  private ended = false;
  private pending: Packet | null = null;
  /** Raw bytes handed out by `rest()` since `onPacket` was last told. */
  private rawSincePacket = 0;
  /** Bytes consumed from the source so far (framing included). */
  bytesRead = 0;

  constructor(source: AsyncIterable<Uint8Array>, options: PktLineReaderOptions = {}) {
    this.iterator = source[Symbol.asyncIterator]();
    this.onPacket = options.onPacket;
  }

  /** The next chunk: the queued rest of one first, then the source's; null at end of stream. */
  private async pull(): Promise<Buffer | null> {
    if (this.queued !== null) {
      const chunk = this.queued;
      this.queued = null;
      return chunk;
    }
    if (this.ended) return null;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return null;
    }
    return Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
  }

  /** Pulls one more chunk into the buffer; false at end of stream. */
  private async fill(): Promise<boolean> {
    const chunk = await this.pull();
    if (chunk === null) return false;
    this.buffer = this.buffered() === 0 ? chunk : Buffer.concat([this.buffer.subarray(this.start), chunk]);
    this.start = 0;
    return true;
  }

  private buffered(): number {
    return this.buffer.length - this.start;
  }

  /** Consumes `n` buffered bytes; lets go of the buffer once all of it is consumed. */
  private advance(n: number): void {
    this.start += n;
    this.bytesRead += n;
    if (this.start === this.buffer.length) {
      this.buffer = EMPTY;
      this.start = 0;
    }
  }

  /**
   * Buffers at least `n` bytes; false when the stream ends first. The chunks are joined once,
   * when enough have arrived: joining at every chunk would copy a packet that arrives in
   * many small chunks over and over (a 65520-byte packet in 1-byte chunks: 2 GB of copying).
   * Only the `n` bytes are joined: the rest of the last chunk is queued as it is, where joining
   * it too copied nearly every byte of a listing whose lines straddle its chunks (780 KB of a
   * 10,000-ref `ls-refs` response in 24 chunks, into fresh memory).
   */
  private async ensure(n: number): Promise<boolean> {
    let length = this.buffered();
    if (length >= n) return true;
    const parts: Buffer[] = length > 0 ? [this.buffer.subarray(this.start)] : [];
    while (length < n) {
      const chunk = await this.pull();
      if (chunk === null) break;
      parts.push(chunk);
      length += chunk.length;
    }
    if (parts.length === 1) {
      this.buffer = parts[0]!;
      this.start = 0;
    } else if (parts.length > 1) {
      const last = parts[parts.length - 1]!;
      const surplus = length - n;
      if (surplus > 0) {
        parts[parts.length - 1] = last.subarray(0, last.length - surplus);
        this.queued = last.subarray(last.length - surplus);
        length = n;
      }
      this.buffer = Buffer.concat(parts, length);
      this.start = 0;
    }
    return length >= n;
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(this.start, this.start + n);
    this.advance(n);
    return out;
  }

  /** A packet was completed: tells `onPacket`. */
  private completed<T>(packet: T): T {
    this.onPacket?.();
    return packet;
  }

  /** Looks at the next `n` raw bytes without consuming them; shorter at end of stream. */
  async peek(n: number): Promise<Buffer> {
    if (this.pending !== null) throw new PktLineError('cannot peek raw bytes behind a put-back packet');
    await this.ensure(n);
    return this.buffer.subarray(this.start, this.start + Math.min(n, this.buffered()));
  }

  /** Puts one packet back so the next `read()` returns it (one packet of lookahead). */
  unread(packet: Packet): void {
    if (this.pending !== null) throw new PktLineError('only one packet can be put back');
    this.pending = packet;
  }

  /**
   * The next packet when it is already wholly buffered, without waiting; undefined when more
   * bytes are needed (or the stream has ended: `read()` tells which). Readers of long listings
   * (10,000 refs) take what each chunk holds this way: an `await` per packet costs more than
   * parsing the packet does.
   */
  readBuffered(): Packet | undefined {
    if (this.pending !== null) {
      const packet = this.pending;
      this.pending = null;
      return packet;
    }
    if (this.buffered() < 4) return undefined;
    const length = headerLengthAt(this.buffer, this.start);
    if (length === 0) return this.completed(this.control('flush'));
    if (length === 1) return this.completed(this.control('delim'));
    if (length === 2) return this.completed(this.control('response-end'));
    if (this.buffered() < length) return undefined;
    const data = this.buffer.subarray(this.start + 4, this.start + length);
    this.advance(length);
    return this.completed({ type: 'data', data });
  }

  /**
   * Hands each data packet wholly buffered now to `visit` as its payload's byte range in
   * `buffer` (valid during the call only: no copy, no object per packet) and consumes it; stops
   * before anything else (a control packet, a partial packet, a put-back one), which `read()`
   * then returns. `onPacket` is told once when any packet was consumed. Returns how many were.
   * Readers of long listings (10,000 refs) take each chunk's packets this way between awaits.
   */
  visitBufferedData(visit: (buffer: Buffer, start: number, end: number) => void): number {
    if (this.pending !== null) return 0;
    const buffer = this.buffer;
    let position = this.start;
    let count = 0;
    while (buffer.length - position >= 4) {
      const length = headerLengthAt(buffer, position);
      if (length < 4 || buffer.length - position < length) break;
      // Consumed before the visit: a visitor that throws leaves the reader past its packet, as
      // read() does.
      this.advance(position + length - this.start);
      visit(buffer, position + 4, position + length);
      position += length;
      count += 1;
    }
    if (count > 0) this.onPacket?.();
    return count;
  }

  /** The next packet, or null at a clean end of stream (no partial packet pending). */
  async read(): Promise<Packet | null> {
    const ready = this.readBuffered();
    if (ready !== undefined) return ready;
    if (!(await this.ensure(4))) {
      if (this.buffered() === 0) return null;
      throw cutShort(`truncated pkt-line: stream ended inside a length header (${this.buffered()} of 4 bytes)`);
    }
    const length = headerLengthAt(this.buffer, this.start);
    if (length > 3 && !(await this.ensure(length))) {
      throw cutShort(`truncated pkt-line: expected ${length} bytes, stream ended after ${this.buffered()}`);
    }
    return this.readBuffered()!;
  }

  private control(type: 'flush' | 'delim' | 'response-end'): Packet {
    this.advance(4);
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
    if (this.buffered() > 0) yield this.raw(this.take(this.buffered()));
    while (await this.fill()) {
      yield this.raw(this.take(this.buffered()));
    }
  }

  /** Raw bytes count for `onPacket` a packet's worth at a time, as framed data would. */
  private raw(chunk: Buffer): Buffer {
    this.rawSincePacket += chunk.length;
    if (this.rawSincePacket >= MAX_PKT_LENGTH) {
      this.rawSincePacket %= MAX_PKT_LENGTH;
      this.onPacket?.();
    }
    return chunk;
  }

  /** Releases the underlying source (stops a body download or a child's stdout). */
  async close(): Promise<void> {
    this.ended = true;
    this.buffer = EMPTY;
    this.start = 0;
    this.queued = null;
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
