/**
 * Byte layout of a pack stream (gitformat-pack(5)): the 12-byte header, the variable-length
 * header in front of each entry, and the object ids the pack is built on. Pure functions only.
 */
import { PackFormatError } from '../errors.js';
import { idBytes, type ObjectType } from '../types.js';

export type { ObjectFormat } from '../types.js';

/** What an entry in a pack holds: a whole object, or a delta against a base object. */
export type PackEntryType = ObjectType | 'ofs-delta' | 'ref-delta';

/** Entry type codes ("Object types"); 0 is invalid and 5 is reserved. */
export const OBJ_COMMIT = 1;
export const OBJ_TREE = 2;
export const OBJ_BLOB = 3;
export const OBJ_TAG = 4;
export const OBJ_OFS_DELTA = 6;
export const OBJ_REF_DELTA = 7;

export const PACK_HEADER_LENGTH = 12;

/**
 * The largest commit git-sync materializes: 8 MiB. The commit extractor holds every commit it
 * parses whole (plain, or rebuilt from a delta), so this bounds what one pack entry can make it
 * allocate, whatever size the entry's header or a delta's header declares. Real commits are a
 * header of ids, names and dates plus a message: hundreds of bytes to a few KiB, so this is
 * three orders of magnitude of headroom, and as large as the whole base cache that rebuilds
 * commit deltas (docs/architecture.md, "Commits stored as deltas"). A larger commit is refused
 * with PACK_FORMAT before anything of its declared size is allocated. Trees, blobs and tags are
 * never materialized, so no such bound applies to them.
 */
export const MAX_COMMIT_BYTES = 8 * 1024 * 1024;
const PACK_SIGNATURE = Buffer.from('PACK', 'latin1');

const TYPE_NAMES: readonly (PackEntryType | undefined)[] = [
  undefined, 'commit', 'tree', 'blob', 'tag', undefined, 'ofs-delta', 'ref-delta',
];

/** Bytes in an object id and in the pack trailer. */
export const hashLength = idBytes;

/** The name of an entry type code; only defined for 1-4, 6 and 7. */
export function entryTypeName(code: number): PackEntryType {
  const name = TYPE_NAMES[code];
  if (name === undefined) throw new RangeError(`not a pack entry type: ${code}`);
  return name;
}

/** The object type of a whole-object code (1-4). */
export function objectTypeName(code: number): ObjectType {
  return entryTypeName(code) as ObjectType;
}

export interface PackHeader {
  version: 2 | 3;
  objectCount: number;
}

/**
 * Throws unless `prefix` (the first bytes of a stream, possibly fewer than 4) can start a pack,
 * so that an HTML page or an error text is refused on its first bytes.
 */
export function checkPackSignature(prefix: Buffer): void {
  const n = Math.min(prefix.length, PACK_SIGNATURE.length);
  if (prefix.compare(PACK_SIGNATURE, 0, n, 0, n) !== 0) {
    throw new PackFormatError(`not a pack: stream starts with ${JSON.stringify(prefix.subarray(0, 4).toString('latin1'))} instead of "PACK"`);
  }
}

/** Parses the 12-byte header: signature, version (2 or 3), object count, all big-endian. */
export function parsePackHeader(buf: Buffer, pos = 0): PackHeader {
  checkPackSignature(buf.subarray(pos, pos + 4));
  const version = buf.readUInt32BE(pos + 4);
  if (version !== 2 && version !== 3) {
    throw new PackFormatError(`unsupported pack version ${version} (git reads versions 2 and 3)`);
  }
  return { version, objectCount: buf.readUInt32BE(pos + 8) };
}

/** The header of one pack entry, as far as it is stored in front of the compressed data. */
export interface EntryHeader {
  /** Type code: 1-4, 6 (ofs-delta) or 7 (ref-delta). */
  type: number;
  /** Inflated size of the data that follows (for a delta: of the delta instructions). */
  size: number;
  /** OFS_DELTA: how many bytes before this entry its base entry starts. */
  baseDistance?: number;
  /** REF_DELTA: the id of the base object (a view into the input; copy it to keep it). */
  baseId?: Buffer;
  /** Bytes the header occupies; the zlib data starts right after. */
  length: number;
}

/** 7 bits per byte: 9 continuation bytes already exceed 2^53, the largest exact JS integer. */
const MAX_VARINT_BYTES = 9;

/**
 * Parses the entry header at `pos`: type and size ("size encoding", 4 bits then 7 per byte,
 * least significant first), then the OFS_DELTA distance ("offset encoding") or the REF_DELTA
 * base id. Returns undefined when `buf` ends before the header does; throws PackFormatError
 * when the header is invalid. `offset` (the entry's position in the pack) is for messages only.
 */
export function parseEntryHeader(buf: Buffer, pos: number, idLength: number, offset: number): EntryHeader | undefined {
  const end = buf.length;
  let p = pos;
  if (p >= end) return undefined;
  let c = buf[p++]!;
  const type = (c >> 4) & 7;
  if (type === 0 || type === 5) {
    throw new PackFormatError(`invalid object type ${type} in the entry at offset ${offset}`);
  }
  let size = c & 0x0f;
  let scale = 16;
  let continuation = 0;
  while (c & 0x80) {
    if (p >= end) return undefined;
    if (++continuation > MAX_VARINT_BYTES) {
      throw new PackFormatError(`object size field too long in the entry at offset ${offset}`);
    }
    c = buf[p++]!;
    size += (c & 0x7f) * scale;
    scale *= 128;
  }
  if (size > Number.MAX_SAFE_INTEGER) {
    throw new PackFormatError(`object size out of range in the entry at offset ${offset}`);
  }
  if (type === OBJ_OFS_DELTA) {
    // Each continuation adds 2^7 + 2^14 + ...: the encoding has no redundant forms.
    if (p >= end) return undefined;
    c = buf[p++]!;
    let distance = c & 0x7f;
    let bytes = 1;
    while (c & 0x80) {
      if (p >= end) return undefined;
      if (++bytes > MAX_VARINT_BYTES) {
        throw new PackFormatError(`ofs-delta base offset field too long in the entry at offset ${offset}`);
      }
      c = buf[p++]!;
      distance = (distance + 1) * 128 + (c & 0x7f);
    }
    return { type, size, baseDistance: distance, length: p - pos };
  }
  if (type === OBJ_REF_DELTA) {
    if (end - p < idLength) return undefined;
    return { type, size, baseId: buf.subarray(p, p + idLength), length: p + idLength - pos };
  }
  return { type, size, length: p - pos };
}

/** The type code (1-4) of an object type. */
export function objectTypeCode(type: ObjectType): number {
  return TYPE_NAMES.indexOf(type);
}
