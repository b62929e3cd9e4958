/**
 * Applying a git delta (gitformat-pack, "Deltified representation"): two size varints (base,
 * result), then instructions — copy (high bit set; the low seven bits say which offset and size
 * bytes follow, little-endian, size 0 meaning 0x10000) or insert (1..127 literal bytes).
 * Used only for small objects (commits) whose parents the planner needs.
 *
 * The result's size comes from the delta's header, which a corrupt or hostile pack can set to
 * anything: it is allocated only once it is at most `maxResult` and no more than the remaining
 * instructions could possibly produce.
 */
import { PackFormatError } from '../errors.js';
import { MAX_COMMIT_BYTES } from './pack-format.js';

/** The most one copy instruction can produce (its size field is 3 bytes; 0 means 0x10000). */
const MAX_COPY = 0x10000;
/** The most one insert instruction can produce: the opcode is the literal's length, 1-127. */
const MAX_INSERT = 0x7f;

function readSize(delta: Buffer, position: { at: number }): number {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (position.at >= delta.length) throw new PackFormatError('truncated delta header');
    const byte = delta[position.at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return value;
    if (shift > 49) throw new PackFormatError('delta size varint too long');
  }
}

/**
 * The object `delta` makes from `base`. `maxResult` (default MAX_COMMIT_BYTES: deltas are
 * applied to commits only) bounds the result a delta may declare.
 */
export function applyDelta(base: Buffer, delta: Buffer, maxResult: number = MAX_COMMIT_BYTES): Buffer {
  const position = { at: 0 };
  const baseSize = readSize(delta, position);
  const resultSize = readSize(delta, position);
  if (baseSize !== base.length) {
    throw new PackFormatError(`delta expects a base of ${baseSize} bytes, the base has ${base.length}`);
  }
  if (resultSize > maxResult) {
    throw new PackFormatError(`delta declares a result of ${resultSize} bytes, more than the ${maxResult} git-sync rebuilds`);
  }
  // Each instruction takes at least one byte and makes at most MAX_COPY bytes (a copy, within
  // the base) or MAX_INSERT (an insert): a size past that bound cannot be right.
  const perByte = Math.max(Math.min(MAX_COPY, base.length), MAX_INSERT);
  if (resultSize > (delta.length - position.at) * perByte) {
    throw new PackFormatError(`delta declares a result of ${resultSize} bytes, more than its ${delta.length - position.at} bytes of instructions can make`);
  }
  const out = Buffer.allocUnsafe(resultSize);
  let written = 0;
  let at = position.at;
  while (at < delta.length) {
    const op = delta[at++]!;
    if (op & 0x80) {
      let offset = 0;
      let size = 0;
      for (let i = 0; i < 4; i++) {
        if (op & (1 << i)) {
          if (at >= delta.length) throw new PackFormatError('truncated delta copy instruction');
          offset += delta[at++]! * 2 ** (8 * i);
        }
      }
      for (let i = 0; i < 3; i++) {
        if (op & (1 << (4 + i))) {
          if (at >= delta.length) throw new PackFormatError('truncated delta copy instruction');
          size += delta[at++]! << (8 * i);
        }
      }
      if (size === 0) size = 0x10000;
      if (offset + size > base.length || written + size > resultSize) {
        throw new PackFormatError('delta copy instruction reaches outside its base or result');
      }
      base.copy(out, written, offset, offset + size);
      written += size;
    } else if (op !== 0) {
      if (at + op > delta.length || written + op > resultSize) {
        throw new PackFormatError('delta insert instruction runs past its data');
      }
      delta.copy(out, written, at, at + op);
      written += op;
      at += op;
    } else {
      throw new PackFormatError('reserved delta instruction 0');
    }
  }
  if (written !== resultSize) throw new PackFormatError(`delta produced ${written} bytes, expected ${resultSize}`);
  return out;
}
