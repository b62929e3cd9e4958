/**
 * Byte-level pieces of a ref line, `<oid> <name>[ <attributes>]`, as an advertisement or an
 * `ls-refs` response carries thousands of them. The readers take each line as a byte range of
 * the pkt-line reader's buffer (`PktLineReader.visitBufferedData`): object ids are checked byte
 * by byte, and each string (id, name, attribute value) is decoded on its own, straight from the
 * bytes. A no-op sync of a repository with 10,000 refs reads two such listings in code V8 runs
 * for the first time, where every object, string and native call per line counts
 * (docs/architecture.md, "No-op runs at scale"). A name decoded on its own is also a string of its
 * own, not a slice of its line's text: the planner keys maps by ref names, and V8 hashes and
 * compares such strings faster.
 */

const SPACE = 0x20;
const NEWLINE = 0x0a;

/** 1 for the bytes of a lowercase hex digit: git writes object ids in lowercase. */
const HEX_DIGIT = new Uint8Array(256);
for (const digit of Buffer.from('0123456789abcdef', 'latin1')) HEX_DIGIT[digit] = 1;

/** `end`, less the line's trailing newline when it has one. */
export function lineStop(buffer: Buffer, start: number, end: number): number {
  return end > start && buffer[end - 1] === NEWLINE ? end - 1 : end;
}

/**
 * Where the object id at `start` ends: `start` + 40 or + 64 when that many lowercase hex digits
 * come next and are followed by a space or by `stop`; -1 otherwise.
 */
export function oidEnd(buffer: Buffer, start: number, stop: number): number {
  let i = start;
  while (i < stop && HEX_DIGIT[buffer[i]!] === 1) i++;
  const length = i - start;
  if (length !== 40 && length !== 64) return -1;
  return i === stop || buffer[i] === SPACE ? i : -1;
}

/** The first space in [from, stop), or `stop`. */
export function spaceOrStop(buffer: Buffer, from: number, stop: number): number {
  let i = from;
  while (i < stop && buffer[i] !== SPACE) i++;
  return i;
}

/** True when the bytes from `at` (before `stop`) begin with the ASCII text `prefix`. */
export function bytesStartWith(buffer: Buffer, at: number, stop: number, prefix: string): boolean {
  if (stop - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (buffer[at + i] !== prefix.charCodeAt(i)) return false;
  }
  return true;
}
