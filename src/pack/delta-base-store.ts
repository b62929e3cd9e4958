/**
 * Every object a pack reader keeps (commits), stored as compactly as the pack itself stores it,
 * so that a later delta finds its base however far back in the stream the base lies
 * (docs/architecture.md, "Commits stored as deltas").
 *
 * git's repack stores many commits as deltas against other commits (long, similar messages), and
 * upload-pack reuses those deltas when it sends a pack, filtered or not: a delta's base can be
 * any earlier commit of the stream, megabytes back. So every stored object is kept, not only
 * recent ones, as one record in a `SpillLog` (memory first, a temporary file past a bound):
 *
 *   flags (1 byte: delta, deflated) | pack offset (6 bytes LE) | payload length (4 bytes LE)
 *   | inflated length (4 bytes LE) | base pack offset (6 bytes LE, deltas only) | payload
 *
 * The payload is the entry's zlib data exactly as the pack carried it (no work to store) when
 * that saves a quarter or more of the inflated bytes, as it does for whole commits (about
 * half); otherwise the inflated bytes, as for most commit deltas (a hundred bytes or so, which
 * zlib barely shrinks), so that applying one costs no inflating. A delta is stored as its
 * delta, not as the object it makes: storage then costs about what the pack's commits cost,
 * whatever their chain depth.
 *
 * Finding a record by pack offset: records are in pack order, so a sparse index (every 32nd
 * record's pack offset and log position: 0.5 byte per record) narrows a lookup to one block of
 * 32 records, read in one piece and scanned. Rebuilding an object walks its delta chain down to
 * a whole object or to a base in the cache (`BaseCache`: objects just read, and objects deltas
 * needed), then applies the deltas upward, caching each result: the next delta against any of
 * them is one `applyDelta` away.
 */
import { lazyZlib } from '../builtins.js';
import { PackFormatError } from '../errors.js';
import { noteReleasedBytes } from '../observe/gc-pacer.js';
import { BaseCache } from './base-cache.js';
import { applyDelta } from './delta.js';
import { GrowableFloat64 } from './growable-array.js';
import { SpillLog, type SpillLogOptions } from './spill-log.js';

const FLAG_DELTA = 1;
const FLAG_DEFLATED = 2;
const HEADER_BYTES = 15;
const BASE_BYTES = 6;
/** Every STRIDE-th record is in the sparse index. */
const STRIDE = 32;
const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;

export interface DeltaBaseStoreOptions extends SpillLogOptions {
  /** Bytes of objects kept whole as delta bases (BaseCache); default 8 MiB. */
  cacheBytes?: number;
}

interface StoredRecord {
  offset: number;
  delta: boolean;
  baseOffset: number;
  deflated: boolean;
  /** Bytes the payload inflates to (its own length when not deflated). */
  inflatedLength: number;
  payload: Buffer;
}

export class DeltaBaseStore {
  private readonly log: SpillLog;
  private cache: BaseCache;
  private closed = false;
  private scratch = Buffer.alloc(0);
  private readonly sparseOffsets = new GrowableFloat64(256);
  private readonly sparsePositions = new GrowableFloat64(256);
  private records = 0;
  private lastOffset = -1;
  private readonly header = Buffer.alloc(HEADER_BYTES + BASE_BYTES);

  constructor(options: DeltaBaseStoreOptions = {}) {
    this.log = new SpillLog(options);
    this.cache = new BaseCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES);
  }

  /** Objects stored. */
  get count(): number {
    return this.records;
  }

  /** Bytes of records, in memory and in the temporary file. */
  get bytes(): number {
    return this.log.length;
  }

  /** Bytes of records moved to the temporary file. */
  get spilledBytes(): number {
    return this.log.spilledBytes;
  }

  /**
   * A whole object at pack `offset`: its content, and its zlib data as the pack carried it when
   * known (both only read during the call: the store keeps copies).
   */
  addObject(offset: number, content: Buffer, compressed: Buffer | undefined): void {
    this.append(offset, -1, content, compressed);
    this.cache.setRecent(offset, content);
  }

  /**
   * A delta at pack `offset` against the object at `baseOffset`: its instructions (or their zlib
   * data, as the pack carried it) and the content it made, which the caller rebuilt.
   */
  addDelta(offset: number, baseOffset: number, instructions: Buffer, compressed: Buffer | undefined, content: Buffer): void {
    if (baseOffset >= offset) throw new PackFormatError(`delta at offset ${offset} names a base at ${baseOffset}, not before it`);
    this.append(offset, baseOffset, instructions, compressed);
    this.cache.setRecent(offset, content);
  }

  /**
   * The content of the object stored at pack `offset`, or undefined when none is. Often a view
   * into the cache or the log: valid until the next call to the store.
   */
  contentAt(offset: number): Buffer | undefined {
    const cached = this.cache.get(offset);
    if (cached !== undefined) return cached;
    let record = this.find(offset);
    if (record === undefined) return undefined;
    // Down the chain to a whole object or a cached base, then the deltas applied upward.
    const chain: StoredRecord[] = [];
    let content: Buffer | undefined;
    while (record.delta) {
      chain.push(record);
      content = this.cache.get(record.baseOffset);
      if (content !== undefined) break;
      const base = this.find(record.baseOffset);
      if (base === undefined) throw new PackFormatError(`the base of the delta at offset ${record.offset} (offset ${record.baseOffset}) was never stored`);
      record = base;
    }
    if (content === undefined) content = this.cache.setNeeded(record.offset, this.payloadOf(record));
    for (let i = chain.length - 1; i >= 0; i--) {
      const delta = chain[i]!;
      content = this.cache.setNeeded(delta.offset, applyDelta(content, this.payloadOf(delta)));
    }
    return content;
  }

  /** Calls `visit` with the pack offset of every stored object, in the order they were added. */
  forEachOffset(visit: (offset: number) => void): void {
    for (let block = 0; block < this.sparsePositions.length; block++) {
      const bytes = this.readBlock(block);
      for (let at = 0; at < bytes.length; ) {
        visit(bytes.readUIntLE(at + 1, 6));
        at += HEADER_BYTES + ((bytes[at]! & FLAG_DELTA) !== 0 ? BASE_BYTES : 0) + bytes.readUInt32LE(at + 7);
      }
    }
  }

  /** Releases memory and the temporary file (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const held = this.log.memoryHeld + this.cache.memoryHeld;
    this.log.close();
    this.cache = new BaseCache(0);
    noteReleasedBytes(held);
  }

  private append(offset: number, baseOffset: number, data: Buffer, compressed: Buffer | undefined): void {
    // The zlib data when it saves a quarter or more (whole commits: about half); otherwise, as
    // for most commit deltas, the inflated bytes, which need no inflating to be used.
    const deflated = compressed !== undefined && compressed.length * 4 <= data.length * 3;
    const payload = deflated ? compressed : data;
    if (offset <= this.lastOffset) throw new Error(`DeltaBaseStore: offset ${offset} after ${this.lastOffset}: objects must be added in pack order`);
    this.lastOffset = offset;
    const delta = baseOffset >= 0;
    const header = this.header;
    header[0] = (delta ? FLAG_DELTA : 0) | (deflated ? FLAG_DEFLATED : 0);
    header.writeUIntLE(offset, 1, 6);
    header.writeUInt32LE(payload.length, 7);
    header.writeUInt32LE(data.length, 11);
    if (delta) header.writeUIntLE(baseOffset, HEADER_BYTES, BASE_BYTES);
    const position = this.log.append(header.subarray(0, delta ? HEADER_BYTES + BASE_BYTES : HEADER_BYTES), payload);
    if (this.records % STRIDE === 0) {
      this.sparseOffsets.push(offset);
      this.sparsePositions.push(position);
    }
    this.records += 1;
  }

  private find(offset: number): StoredRecord | undefined {
    const offsets = this.sparseOffsets.array;
    let lo = 0;
    let hi = this.sparseOffsets.length - 1;
    let block = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (offsets[mid]! <= offset) {
        block = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (block < 0) return undefined;
    const bytes = this.readBlock(block);
    for (let at = 0; at < bytes.length; ) {
      const flags = bytes[at]!;
      const recordOffset = bytes.readUIntLE(at + 1, 6);
      const length = bytes.readUInt32LE(at + 7);
      const delta = (flags & FLAG_DELTA) !== 0;
      const payloadStart = at + HEADER_BYTES + (delta ? BASE_BYTES : 0);
      if (recordOffset === offset) {
        return {
          offset,
          delta,
          baseOffset: delta ? bytes.readUIntLE(at + HEADER_BYTES, BASE_BYTES) : -1,
          deflated: (flags & FLAG_DEFLATED) !== 0,
          inflatedLength: bytes.readUInt32LE(at + 11),
          // A copy: the block is a view into the log or the read scratch, both soon reused.
          payload: Buffer.from(bytes.subarray(payloadStart, payloadStart + length)),
        };
      }
      if (recordOffset > offset) return undefined;
      at = payloadStart + length;
    }
    return undefined;
  }

  /**
   * The records of sparse block `block`: from its indexed record to the next indexed one. A view
   * into the log's memory or into `scratch` (reused for every block read from the file, so that
   * a lookup leaves a record's worth of garbage, not a block's), valid until the next call.
   */
  private readBlock(block: number): Buffer {
    const start = this.sparsePositions.array[block]!;
    const end = block + 1 < this.sparsePositions.length ? this.sparsePositions.array[block + 1]! : this.log.length;
    if (this.scratch.length < end - start) this.scratch = Buffer.allocUnsafeSlow(Math.max(end - start, 2 * this.scratch.length, 64 * 1024));
    return this.log.read(start, end, this.scratch);
  }

  private payloadOf(record: StoredRecord): Buffer {
    if (!record.deflated) return record.payload;
    try {
      // An output chunk of the exact size: zlib's default 16 KiB chunk would be allocated (and
      // kept alive by the result) for every small record.
      const size = record.inflatedLength;
      const data = lazyZlib().inflateSync(record.payload, { chunkSize: Math.max(64, size + 1), maxOutputLength: Math.max(1, size) });
      if (data.length !== size) throw new Error(`inflates to ${data.length} bytes, not ${size}`);
      return data;
    } catch (error) {
      throw new PackFormatError(`stored object at offset ${record.offset} no longer inflates: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}
