/**
 * Hand-built packs for the cases git never writes: wrong sizes, bad types, corrupt zlib, wrong
 * counts. Each entry is described by its inflated data; the builder writes the entry header,
 * deflates the data (unless compressed bytes are given) and appends the trailer (SHA-1, or
 * SHA-256 with `objectFormat`).
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';

export interface RawEntry {
  /** Type code as stored: 1-4 objects, 6 ofs-delta, 7 ref-delta; 0 and 5 to test rejection. */
  type: number;
  /** Inflated data (for a delta, its instructions). */
  data: Buffer;
  /** Declared size; default `data.length`. */
  size?: number;
  /** OFS_DELTA: index of the base entry in this pack (the distance is computed). */
  baseEntry?: number;
  /** OFS_DELTA: raw distance, overriding `baseEntry`. */
  baseDistance?: number;
  /** REF_DELTA: the base object's id. */
  baseId?: Buffer;
  /** Bytes written instead of `deflate(data)`. */
  compressed?: Buffer;
}

export interface BuildOptions {
  signature?: string;
  version?: number;
  /** Declared object count; default the number of entries. */
  count?: number;
  /** The hash of the trailer (and of REF_DELTA base ids the caller gives); default sha1. */
  objectFormat?: 'sha1' | 'sha256';
}

/** Type in bits 4-6 and the size 4 bits then 7 per byte, least significant first. */
export function entryHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let c = (type << 4) | (size % 16);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(c | 0x80);
    c = rest % 128;
    rest = Math.floor(rest / 128);
  }
  bytes.push(c);
  return Buffer.from(bytes);
}

/** The OFS_DELTA "offset encoding", most significant byte first, each continuation minus one. */
export function ofsDistance(distance: number): Buffer {
  const bytes = [distance % 128];
  let rest = Math.floor(distance / 128);
  while (rest > 0) {
    rest -= 1;
    bytes.unshift(0x80 | (rest % 128));
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(bytes);
}

/** The id git gives an object. */
export function objectId(type: 'commit' | 'tree' | 'blob' | 'tag', data: Buffer, format: 'sha1' | 'sha256' = 'sha1'): Buffer {
  return createHash(format).update(`${type} ${data.length}\0`).update(data).digest();
}

/** A delta that inserts `result` whole (at most 127 bytes) into nothing from a base of `baseSize`. */
export function insertDelta(baseSize: number, result: Buffer): Buffer {
  if (result.length === 0 || result.length > 127) throw new RangeError('insertDelta takes 1-127 bytes');
  return Buffer.concat([sizeVarint(baseSize), sizeVarint(result.length), Buffer.from([result.length]), result]);
}

/**
 * A delta that makes `result` from `base`, as git's would in shape: a copy of the common
 * prefix, the differing middle inserted (127 bytes per instruction), a copy of the common
 * suffix. Copies are split at 64 KiB.
 */
export function encodeDelta(base: Buffer, result: Buffer): Buffer {
  let prefix = 0;
  while (prefix < base.length && prefix < result.length && base[prefix] === result[prefix]) prefix++;
  let suffix = 0;
  while (suffix < base.length - prefix && suffix < result.length - prefix && base[base.length - 1 - suffix] === result[result.length - 1 - suffix]) suffix++;
  const out: Buffer[] = [sizeVarint(base.length), sizeVarint(result.length)];
  const copy = (offset: number, size: number): void => {
    for (let done = 0; done < size; ) {
      const n = Math.min(0xffff, size - done);
      const at = offset + done;
      out.push(Buffer.from([0x80 | 0x0f | 0x30, at & 0xff, (at >>> 8) & 0xff, (at >>> 16) & 0xff, (at >>> 24) & 0xff, n & 0xff, (n >>> 8) & 0xff]));
      done += n;
    }
  };
  copy(0, prefix);
  for (let at = prefix; at < result.length - suffix; at += 127) {
    const piece = result.subarray(at, Math.min(at + 127, result.length - suffix));
    out.push(Buffer.from([piece.length]), piece);
  }
  copy(base.length - suffix, suffix);
  return Buffer.concat(out);
}

/** A delta header's size: base-128, least significant group first. */
export function sizeVarint(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let c = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) c |= 0x80;
    bytes.push(c);
  } while (n > 0);
  return Buffer.from(bytes);
}

export function withTrailer(body: Buffer, format: 'sha1' | 'sha256' = 'sha1'): Buffer {
  return Buffer.concat([body, createHash(format).update(body).digest()]);
}

export interface BuiltPack {
  pack: Buffer;
  /** Offset of each entry. */
  offsets: number[];
  /** Where each entry's compressed data starts and ends. */
  data: { start: number; end: number }[];
}

export function buildPack(entries: readonly RawEntry[], options: BuildOptions = {}): BuiltPack {
  const header = Buffer.alloc(12);
  header.write(options.signature ?? 'PACK', 0, 'latin1');
  header.writeUInt32BE(options.version ?? 2, 4);
  header.writeUInt32BE(options.count ?? entries.length, 8);
  const parts: Buffer[] = [header];
  const offsets: number[] = [];
  const data: { start: number; end: number }[] = [];
  let at = header.length;
  for (const entry of entries) {
    offsets.push(at);
    const pieces = [entryHeader(entry.type, entry.size ?? entry.data.length)];
    if (entry.type === 6) pieces.push(ofsDistance(entry.baseDistance ?? at - offsets[entry.baseEntry!]!));
    if (entry.type === 7) pieces.push(entry.baseId!);
    const compressed = entry.compressed ?? deflateSync(entry.data);
    const head = Buffer.concat(pieces);
    data.push({ start: at + head.length, end: at + head.length + compressed.length });
    parts.push(head, compressed);
    at += head.length + compressed.length;
  }
  return { pack: withTrailer(Buffer.concat(parts), options.objectFormat), offsets, data };
}

/** A copy of `pack` with `edit` applied and the trailer recomputed, so only the edit is wrong. */
export function editPack(pack: Buffer, edit: (body: Buffer) => Buffer | void, format: 'sha1' | 'sha256' = 'sha1'): Buffer {
  const body = Buffer.from(pack.subarray(0, pack.length - (format === 'sha1' ? 20 : 32)));
  return withTrailer(edit(body) ?? body, format);
}
