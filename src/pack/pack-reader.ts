/**
 * A streaming pack parser that checks a pack as it passes by, in memory that does not grow with
 * the pack: the 12-byte header, every entry header (types 1-4, OFS_DELTA with its base offset,
 * REF_DELTA with its base id), every entry's zlib data (inflated to find where it ends, since
 * the compressed length is not stored, and to check the declared size), the trailing checksum,
 * truncation, trailing bytes and the object count (gitformat-pack(5)).
 *
 * Feeding: `write(chunk)` returns a promise; await it before the next write. That is the
 * backpressure: most chunks are consumed synchronously and the promise is already settled, it
 * stays pending only while a piece of a large entry is inflated on the zlib thread pool. The reader never
 * owns the stream, so a relay can show it every chunk on the way through; `readPack` is the
 * convenience for an async iterable. Writes that are not awaited are queued in order (memory
 * then grows with the queue) and an error they meet surfaces at the next write or at `end()`.
 *
 * Inflating. Entries whose declared size is at most 64 KiB (nearly every commit, tree and tag,
 * and small blobs) are inflated with one `inflateSync` call over the bytes already buffered;
 * `engine.bytesWritten` then says where the zlib stream ended. That costs ~2 µs per object, far
 * less than setting up a zlib stream. When an entry's compressed data is not all buffered yet,
 * the attempt fails with "unexpected end of file" and is retried once the buffered amount has
 * doubled (so a retry never costs more than the bytes it waited for), up to zlib's bound on the
 * compressed size. Entries up to 512 KiB (big trees) wait until that bound is buffered and are
 * inflated in one call too: a zlib stream per entry would cost a 256 KiB output buffer and
 * thread-pool round trips each. Larger entries, and the rare stream still unfinished at its
 * bound, go through `StreamingInflate`: input is collected into pieces of 1 MiB (each piece is one
 * round trip to the zlib thread pool: 64 KiB pieces reach ~230 MB/s, 1 MiB pieces ~550 MB/s)
 * and the output is discarded slice by slice unless the caller asked for it. So the reader holds
 * at most about 1 MiB of input plus one 256 KiB output slice; nothing holds a large blob.
 *
 * Types. The summary counts each object by its real type, as `git verify-pack -v` would: a
 * delta has the type of its base, down the chain. OFS_DELTA bases precede the delta, so a table
 * of offsets and types (nine bytes per entry) answers them. A REF_DELTA base is named by id, and
 * the reader computes no ids (that would cost a hash over every inflated byte): a caller that
 * knows some ids tells their types through `refBaseType`; other REF_DELTAs are counted in
 * `deltas.unresolved`. (git sends OFS_DELTAs to a client that asks for `ofs-delta`, as git-sync
 * always does; REF_DELTAs come from servers without it, and from thin packs.)
 */
import { lazyZlib } from '../builtins.js';
import { AbortedError, PackFormatError, PackTooLargeError, throwIfAborted } from '../errors.js';
import type { ObjectType, Oid } from '../types.js';
import { ObjectTable } from './object-table.js';
import { PackChecksum } from './pack-checksum.js';
import {
  OBJ_OFS_DELTA, OBJ_REF_DELTA, OBJ_TAG, PACK_HEADER_LENGTH, checkPackSignature, entryTypeName, hashLength,
  objectTypeCode, objectTypeName, parseEntryHeader, parsePackHeader,
  type ObjectFormat, type PackEntryType,
} from './pack-format.js';
import { StreamingInflate } from './streaming-inflate.js';

export type { ObjectFormat, PackEntryType } from './pack-format.js';

/** What is known about an entry once its header has been read. */
export interface PackEntryInfo {
  /** Position of the entry in the pack, from 0. */
  index: number;
  /** Byte offset of the entry's header from the start of the pack. */
  offset: number;
  type: PackEntryType;
  /** Inflated size of the entry's data; for a delta, of its instruction stream. */
  size: number;
  /** OFS_DELTA: offset of the base entry. */
  baseOffset?: number;
  /** REF_DELTA: id of the base object. */
  baseId?: Oid;
  /** The type of the object the entry stands for, when known already (a delta: its base's). */
  objectType?: ObjectType;
}

/** An entry read completely. */
export interface PackObject extends PackEntryInfo {
  /** Offset just past the entry's compressed data. */
  endOffset: number;
}

export interface PackReaderOptions {
  /** Throw PackTooLargeError as soon as more than this many bytes have been written. */
  maxBytes?: number;
  signal?: AbortSignal;
  /** Hash of the repository the pack comes from; default `sha1`. */
  objectFormat?: ObjectFormat;
  /**
   * The type of a REF_DELTA's base, when the caller knows the object with that id (the reader
   * computes no ids); undefined leaves the entry's type unresolved. May be asked more than once
   * for one entry (its header is read again when its data is not all there yet).
   */
  refBaseType?: (baseId: Buffer) => ObjectType | undefined;
  /** Called for every entry, in pack order, once it has been read completely. */
  onObject?: (object: PackObject) => void;
  /**
   * Which entries `onData` receives, asked once per entry. Without it `onData` gets none.
   * A wanted entry is held in memory whole, so want what is small (commits, their deltas).
   */
  wantData?: (type: PackEntryType, entry: PackEntryInfo) => boolean;
  /**
   * The inflated data of a wanted entry (for a delta: its instructions), just before `onObject`,
   * with the entry's zlib data as the pack carried it when the entry was inflated in one piece
   * (entries up to 512 KiB; a view, valid only during the call).
   */
  onData?: (object: PackObject, data: Buffer, compressed: Buffer | undefined) => void;
}

export interface PackSummary {
  version: 2 | 3;
  /** The count the header declares, which the pack was checked to hold. */
  objectCount: number;
  /** Objects by real type; `total` = the four added up = objectCount - deltas.unresolved. */
  objects: { commit: number; tree: number; blob: number; tag: number; total: number };
  /** Delta entries by encoding, and how many of them have a type that could not be resolved. */
  deltas: { ofs: number; ref: number; unresolved: number };
  /** Bytes of the whole pack, trailer included. */
  bytes: number;
  /** The trailer, in hex: the pack's name in `pack-<checksum>.pack`. */
  checksum: string;
}

/** Entries up to this size are inflated from the buffer, tried on whatever has arrived. */
const EAGER_INFLATE_MAX = 64 * 1024;
/** Entries up to this size are inflated from the buffer once their compressed bound has arrived; larger ones stream. */
const BUFFERED_INFLATE_MAX = 512 * 1024;
/** Input for a streaming entry is passed to zlib in pieces of at least this much (or the rest). */
const STREAM_BATCH = 1024 * 1024;
/** The shortest zlib stream: 2 header bytes, an empty final block, 4 checksum bytes. */
const MIN_ZLIB_STREAM = 8;
const EMPTY = Buffer.alloc(0);

/** More than zlib's deflateBound() for `size` input bytes; a stream longer than that streams. */
function compressedBound(size: number): number {
  return size + Math.floor(size / 2048) + 64;
}

interface ActiveEntry {
  /** Handed to the hooks; one object per entry, every field present (one hidden class). */
  info: PackObject;
  /** Type code as stored: 1-4, 6 or 7. */
  code: number;
  /** The base entry's index, or -1 (not a delta, or a REF_DELTA). */
  base: number;
}

interface StreamingEntry {
  entry: ActiveEntry;
  dataStart: number;
  inflate: StreamingInflate;
  produced: number;
  /** The output, kept when the caller wants it. */
  chunks: Buffer[] | undefined;
  want: boolean;
}

type Phase = 'header' | 'entries' | 'trailer' | 'done';

const ignore = (): void => undefined;

export class PackReader {
  private readonly options: PackReaderOptions;
  private readonly idLength: number;
  private readonly checksum: PackChecksum;
  private readonly table: ObjectTable;

  private phase: Phase = 'header';
  private version: 2 | 3 = 2;
  private objectCount = 0;
  private ofsDeltas = 0;
  private refDeltas = 0;
  private bytes = 0;
  private trailer = '';

  /** Unparsed input: `buf[pos..]` starts at pack offset `bufOffset + pos`. */
  private buf: Buffer = EMPTY;
  private bufOffset = 0;
  private pos = 0;
  /**
   * Chunks not parsed yet: waiting until `need` bytes are available (then joined to `buf`), or
   * input for the streaming entry (fed once there is STREAM_BATCH of it).
   */
  private parked: Buffer[] = [];
  private parkedLength = 0;
  private need = 1;
  private streaming: StreamingEntry | undefined;

  private queue: Promise<unknown> = Promise.resolve();
  private result: Promise<PackSummary> | undefined;
  private destroyed: Error | undefined;

  constructor(options: PackReaderOptions = {}) {
    this.options = options;
    const format = options.objectFormat ?? 'sha1';
    this.idLength = hashLength(format);
    this.checksum = new PackChecksum(format);
    this.table = new ObjectTable();
  }

  /** Bytes written so far. */
  get bytesRead(): number {
    return this.bytes;
  }

  /** Entries read completely so far. */
  get objectsRead(): number {
    return this.table.count;
  }

  /** The object count the header declares; null until the header has been read. */
  get declaredObjects(): number | null {
    return this.phase === 'header' ? null : this.objectCount;
  }

  /**
   * Feeds the next chunk of the pack; await it before writing the next (see the file comment).
   * The reader may keep a reference to the chunk until it is parsed: do not modify it.
   */
  write(chunk: Uint8Array): Promise<void> {
    if (this.result !== undefined) return Promise.reject(new Error('PackReader: write() after end()'));
    return this.enqueue(() => this.accept(chunk));
  }

  /** Declares the end of the pack; resolves with the summary once every check has passed. */
  end(): Promise<PackSummary> {
    this.result ??= this.enqueue(() => this.finish());
    return this.result;
  }

  /**
   * Gives up on the pack (the caller's stream failed, the relay was abandoned): releases the
   * zlib state of a large entry now; a pending call and every later one reject with `reason`.
   */
  destroy(reason: Error = new AbortedError('pack reader destroyed')): void {
    this.destroyed ??= reason;
    this.streaming?.inflate.abort(this.destroyed);
  }

  private enqueue<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step).catch((error: unknown) => {
      this.streaming?.inflate.close();
      throw error;
    });
    next.catch(ignore);
    this.queue = next;
    return next;
  }

  private async accept(input: Uint8Array): Promise<void> {
    if (this.destroyed !== undefined) throw this.destroyed;
    throwIfAborted(this.options.signal);
    if (input.length === 0) return;
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.bytes += chunk.length;
    const { maxBytes } = this.options;
    if (maxBytes !== undefined && this.bytes > maxBytes) throw new PackTooLargeError(maxBytes);
    this.checksum.update(chunk);
    if (this.streaming === undefined && this.pos === this.buf.length && this.parkedLength === 0) {
      this.bufOffset += this.buf.length;
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.parked.push(chunk);
      this.parkedLength += chunk.length;
    }
    await this.parse(false);
  }

  private async finish(): Promise<PackSummary> {
    if (this.destroyed !== undefined) throw this.destroyed;
    throwIfAborted(this.options.signal);
    await this.parse(true);
    const counts = this.table.countTypes();
    return {
      version: this.version,
      objectCount: this.objectCount,
      objects: {
        commit: counts.commit,
        tree: counts.tree,
        blob: counts.blob,
        tag: counts.tag,
        total: counts.commit + counts.tree + counts.blob + counts.tag,
      },
      deltas: { ofs: this.ofsDeltas, ref: this.refDeltas, unresolved: counts.unresolved },
      bytes: this.bytes,
      checksum: this.trailer,
    };
  }

  /**
   * Parses what is buffered; hands a large entry's data to its inflater. `ending`: no more input
   * will come, so whatever is incomplete is truncated.
   */
  private async parse(ending: boolean): Promise<void> {
    for (;;) {
      if (this.streaming === undefined) {
        if (!ending && this.buf.length - this.pos + this.parkedLength < this.need) return;
        this.joinParked();
        this.parseBuffered(ending);
        if (this.streaming === undefined) return;
        // The rest of the buffer is the entry's data: it joins the input for the inflater.
        if (this.pos < this.buf.length) {
          this.parked.unshift(this.buf.subarray(this.pos));
          this.parkedLength += this.buf.length - this.pos;
        }
        this.buf = EMPTY;
        this.pos = 0;
      }
      if (!(await this.pump(ending))) return;
    }
  }

  /**
   * Feeds the streaming entry the input parked so far, once there is at least STREAM_BATCH of
   * it (each feed is a round trip to the zlib thread pool, so fewer, larger feeds are faster)
   * or the input has ended. True when the entry is complete and the rest of the input buffered.
   */
  private async pump(ending: boolean): Promise<boolean> {
    if (!ending && this.parkedLength < STREAM_BATCH) return false;
    if (this.parkedLength > 0) {
      const input = this.parked.length === 1 ? this.parked[0]! : Buffer.concat(this.parked, this.parkedLength);
      this.parked = [];
      this.parkedLength = 0;
      if (await this.feedStreaming(input)) return true;
    }
    if (!ending) return false;
    await this.finishStreaming();
    return true;
  }

  private joinParked(): void {
    if (this.parkedLength === 0) return;
    this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.parked]);
    this.bufOffset += this.pos;
    this.pos = 0;
    this.parked = [];
    this.parkedLength = 0;
  }

  /** The synchronous part: header, small entries, trailer. Stops for input or to stream. */
  private parseBuffered(ending: boolean): void {
    for (;;) {
      const available = this.buf.length - this.pos;
      switch (this.phase) {
        case 'header': {
          if (available < PACK_HEADER_LENGTH) {
            checkPackSignature(this.buf.subarray(this.pos));
            if (ending) {
              throw new PackFormatError(available === 0
                ? 'empty input: no pack header'
                : `pack truncated inside its ${PACK_HEADER_LENGTH}-byte header (${available} bytes)`);
            }
            this.need = PACK_HEADER_LENGTH;
            return;
          }
          const header = parsePackHeader(this.buf, this.pos);
          this.version = header.version;
          this.objectCount = header.objectCount;
          this.pos += PACK_HEADER_LENGTH;
          this.phase = header.objectCount > 0 ? 'entries' : 'trailer';
          break;
        }
        case 'entries':
          if (!this.readEntry(ending)) return;
          break;
        case 'trailer':
          if (available > this.idLength) {
            throw new PackFormatError(`${available - this.idLength} unexpected bytes after the pack trailer `
              + `(the header declares ${this.objectCount} objects: the pack holds more, or garbage follows it)`);
          }
          if (!ending) {
            this.need = this.idLength + 1;
            return;
          }
          this.checkTrailer(this.buf.subarray(this.pos));
          this.phase = 'done';
          return;
        case 'done':
          return;
      }
    }
  }

  private checkTrailer(trailer: Buffer): void {
    if (trailer.length < this.idLength) {
      throw new PackFormatError(trailer.length === 0
        ? `pack truncated: its ${this.idLength}-byte trailer is missing`
        : `pack truncated inside its trailer (${trailer.length} of ${this.idLength} bytes)`);
    }
    const expected = this.checksum.digest();
    if (!expected.equals(trailer)) {
      throw new PackFormatError(`pack checksum mismatch: the trailer says ${trailer.toString('hex')}, `
        + `the content hashes to ${expected.toString('hex')}`);
    }
    this.trailer = trailer.toString('hex');
  }

  /**
   * Reads the entry at `pos`. True when it was read whole; false when more input is needed
   * (`need` says how much) or its data now streams.
   */
  private readEntry(ending: boolean): boolean {
    const start = this.bufOffset + this.pos;
    let entry: ActiveEntry;
    let headerLength: number;
    let inflated: { data: Buffer; consumed: number } | 'more' | 'stream';
    try {
      const header = parseEntryHeader(this.buf, this.pos, this.idLength, start);
      if (header === undefined) {
        if (ending) throw this.truncated(start);
        this.need = this.buf.length - this.pos + 1;
        return false;
      }
      headerLength = header.length;
      entry = this.describe(header.type, header.size, start, header.baseDistance, header.baseId);
      if (header.size <= BUFFERED_INFLATE_MAX) {
        inflated = this.inflateBuffered(entry, this.pos + headerLength, ending);
      } else if (ending || this.bytes - start > this.idLength) {
        inflated = 'stream';
      } else {
        this.need = this.idLength + 1;
        return false;
      }
    } catch (error) {
      if (error instanceof PackFormatError && !ending && this.bytes - start <= this.idLength) {
        // These bytes may be the trailer of a pack that holds fewer objects than its header
        // declares: decide when more bytes, or the end, arrive (see `explain`).
        this.need = this.idLength + 1;
        return false;
      }
      throw this.explain(error, start);
    }
    if (inflated === 'more') return false;
    this.pos += headerLength;
    if (inflated === 'stream') {
      this.startStreaming(entry);
      return false;
    }
    const compressed = this.buf.subarray(this.pos, this.pos + inflated.consumed);
    this.pos += inflated.consumed;
    this.completeEntry(entry, this.bufOffset + this.pos, inflated.data, compressed, this.wants(entry.info));
    return true;
  }

  private describe(code: number, size: number, offset: number, baseDistance?: number, baseId?: Buffer): ActiveEntry {
    const info: PackObject = {
      index: this.table.count,
      offset,
      type: entryTypeName(code),
      size,
      baseOffset: undefined,
      baseId: undefined,
      objectType: undefined,
      endOffset: -1,
    };
    let base = -1;
    let type: number | undefined = code <= OBJ_TAG ? code : undefined;
    if (code === OBJ_OFS_DELTA) {
      const baseOffset = offset - baseDistance!;
      if (baseDistance === 0 || baseOffset < PACK_HEADER_LENGTH) {
        throw new PackFormatError(`ofs-delta at offset ${offset} names a base ${baseDistance} bytes back, outside the pack`);
      }
      base = this.table.indexOfOffset(baseOffset);
      if (base < 0) {
        throw new PackFormatError(`ofs-delta at offset ${offset} names base offset ${baseOffset}, where no entry starts`);
      }
      info.baseOffset = baseOffset;
      type = this.table.typeOf(base);
    } else if (code === OBJ_REF_DELTA) {
      info.baseId = baseId!.toString('hex') as Oid;
      const known = this.options.refBaseType?.(baseId!);
      if (known !== undefined) type = objectTypeCode(known);
    }
    if (type !== undefined) info.objectType = objectTypeName(type);
    return { info, code, base };
  }

  /**
   * Inflates an entry from the buffer, or says to wait for more input or to stream it. Small
   * entries are tried on what has arrived and retried when it has doubled; larger ones wait for
   * their whole compressed bound, so they are inflated in one attempt.
   */
  private inflateBuffered(entry: ActiveEntry, dataPos: number, ending: boolean): { data: Buffer; consumed: number } | 'more' | 'stream' {
    const { size } = entry.info;
    const available = this.buf.length - dataPos;
    const bound = compressedBound(size);
    const minimum = size <= EAGER_INFLATE_MAX ? MIN_ZLIB_STREAM : bound;
    if (available < minimum && !ending) {
      this.need = dataPos - this.pos + minimum;
      return 'more';
    }
    const input = available > bound ? this.buf.subarray(dataPos, dataPos + bound) : this.buf.subarray(dataPos);
    let result: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // `info: true` returns the engine, whose bytesWritten is the compressed length.
      result = lazyZlib().inflateSync(input, { info: true, maxOutputLength: Math.max(size, 1), chunkSize: Math.max(64, size + 1) }) as unknown as typeof result;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'Z_BUF_ERROR') {
        if (available >= bound) return 'stream';
        if (ending) throw this.truncated(entry.info.offset);
        this.need = dataPos - this.pos + Math.min(bound, Math.max(available * 2, available + 1024));
        return 'more';
      }
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        throw new PackFormatError(`${this.name(entry)} inflates to more than the ${size} bytes its header declares`);
      }
      throw this.corrupt(entry, error);
    }
    if (result.buffer.length !== size) {
      throw new PackFormatError(`${this.name(entry)} inflates to ${result.buffer.length} bytes but its header declares ${size}`);
    }
    return { data: result.buffer, consumed: result.engine.bytesWritten };
  }

  private startStreaming(entry: ActiveEntry): void {
    const want = this.wants(entry.info);
    const streaming: StreamingEntry = {
      entry,
      dataStart: this.bufOffset + this.pos,
      inflate: new StreamingInflate((chunk) => this.streamed(streaming, chunk)),
      produced: 0,
      chunks: want ? [] : undefined,
      want,
    };
    this.streaming = streaming;
  }

  private streamed(streaming: StreamingEntry, chunk: Buffer): void {
    streaming.produced += chunk.length;
    if (streaming.produced > streaming.entry.info.size) {
      streaming.inflate.abort(new PackFormatError(`${this.name(streaming.entry)} inflates to more than the ${streaming.entry.info.size} bytes its header declares`));
      return;
    }
    streaming.chunks?.push(chunk);
  }

  /** Passes input to the streaming entry; true when the entry ended (the rest is buffered). */
  private async feedStreaming(input: Buffer): Promise<boolean> {
    const streaming = this.streaming!;
    let rest: number;
    try {
      rest = await streaming.inflate.feed(input);
    } catch (error) {
      throw this.streamError(streaming, error);
    }
    throwIfAborted(this.options.signal);
    if (rest < 0) return false;
    this.completeStreaming(streaming);
    this.buf = input.subarray(input.length - rest);
    this.pos = 0;
    this.bufOffset = streaming.dataStart + streaming.inflate.consumed;
    return true;
  }

  /** The input ended while an entry was streaming: it must be complete now. */
  private async finishStreaming(): Promise<void> {
    const streaming = this.streaming!;
    try {
      await streaming.inflate.finish();
    } catch (error) {
      throw this.streamError(streaming, error);
    }
    this.completeStreaming(streaming);
    this.buf = EMPTY;
    this.pos = 0;
    this.bufOffset = streaming.dataStart + streaming.inflate.consumed;
  }

  private completeStreaming(streaming: StreamingEntry): void {
    this.streaming = undefined;
    this.need = 0;
    const { entry, produced } = streaming;
    if (produced !== entry.info.size) {
      throw new PackFormatError(`${this.name(entry)} inflates to ${produced} bytes but its header declares ${entry.info.size}`);
    }
    const data = streaming.chunks === undefined ? undefined : Buffer.concat(streaming.chunks, produced);
    this.completeEntry(entry, streaming.dataStart + streaming.inflate.consumed, data, undefined, streaming.want);
  }

  private streamError(streaming: StreamingEntry, error: unknown): unknown {
    this.streaming = undefined;
    streaming.inflate.close();
    const { offset } = streaming.entry.info;
    if (error instanceof PackFormatError) return this.explain(error, offset);
    if ((error as { code?: unknown }).code === 'Z_BUF_ERROR') return this.explain(this.truncated(offset), offset);
    return this.explain(this.corrupt(streaming.entry, error), offset);
  }

  /** Records a complete entry in the type table, then calls the caller's hooks. */
  private completeEntry(entry: ActiveEntry, endOffset: number, data: Buffer | undefined, compressed: Buffer | undefined, want: boolean): void {
    const { info, code, base } = entry;
    if (code <= OBJ_TAG) {
      this.table.addObject(info.offset, code);
    } else {
      if (code === OBJ_OFS_DELTA) this.ofsDeltas++;
      else this.refDeltas++;
      if (base >= 0) this.table.addDelta(info.offset, base);
      else this.table.addOfType(info.offset, info.objectType === undefined ? undefined : objectTypeCode(info.objectType));
    }
    info.endOffset = endOffset;
    if (want && data !== undefined) this.options.onData?.(info, data, compressed);
    this.options.onObject?.(info);
    if (this.table.count === this.objectCount) this.phase = 'trailer';
  }

  private wants(info: PackEntryInfo): boolean {
    const { wantData, onData } = this.options;
    return onData !== undefined && wantData !== undefined && wantData(info.type, info);
  }

  private name(entry: ActiveEntry): string {
    return `entry ${entry.info.index + 1} of ${this.objectCount} (${entry.info.type} at offset ${entry.info.offset})`;
  }

  private truncated(offset: number): PackFormatError {
    const read = this.table.count;
    if (this.bytes === offset) {
      return new PackFormatError(`pack truncated after ${read} of ${this.objectCount} objects, without a trailer`);
    }
    return new PackFormatError(`pack truncated inside entry ${read + 1} of ${this.objectCount} at offset ${offset}`);
  }

  private corrupt(entry: ActiveEntry, error: unknown): PackFormatError {
    const message = error instanceof Error ? error.message : String(error);
    return new PackFormatError(`corrupt zlib data in ${this.name(entry)}: ${message}`, { cause: error });
  }

  /**
   * An entry starting at `offset` failed. When the stream ends exactly one hash length later and
   * those bytes are the checksum of everything before, the entry is really the trailer: the
   * pack holds fewer objects than its header declares. Say so instead.
   */
  private explain(error: unknown, offset: number): unknown {
    if (error instanceof PackFormatError && this.bytes === offset + this.idLength && this.checksum.matches()) {
      return new PackFormatError(`the pack header declares ${this.objectCount} objects but the pack ends after ${this.table.count}`, { cause: error });
    }
    return error;
  }
}

/** Reads a whole pack from an async iterable (a file or response stream) and checks it. */
export async function readPack(source: AsyncIterable<Uint8Array>, options: PackReaderOptions = {}): Promise<PackSummary> {
  const reader = new PackReader(options);
  try {
    for await (const chunk of source) await reader.write(chunk);
  } catch (error) {
    reader.destroy();
    throw error;
  }
  return reader.end();
}
