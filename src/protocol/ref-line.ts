/**
 * A ref line of an advertisement or an `ls-refs` response, `<oid> <name>[ <attributes>]`, split
 * straight from the packet's bytes. Each string is decoded on its own, so a ref name is a string
 * of its own and not a slice of its line's text: the planner keys maps by ref names, and V8 hashes
 * and compares such strings faster (10,000 refs: measured in `npm run bench -- noop`).
 */

/** Newline dropped: `hash` and `name` may be empty (the caller says what is malformed). */
export interface RefLineParts {
  hash: string;
  name: string;
  /** What follows the name after a space, or null when nothing does. */
  rest: string | null;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

export function splitRefLine(data: Buffer): RefLineParts {
  const end = data.length > 0 && data[data.length - 1] === NEWLINE ? data.length - 1 : data.length;
  const first = data.indexOf(SPACE);
  if (first < 0 || first >= end) return { hash: data.toString('utf8', 0, end), name: '', rest: null };
  const second = data.indexOf(SPACE, first + 1);
  const nameEnd = second < 0 || second >= end ? end : second;
  return {
    hash: data.toString('latin1', 0, first),
    name: data.toString('utf8', first + 1, nameEnd),
    rest: nameEnd < end ? data.toString('utf8', nameEnd + 1, end) : null,
  };
}
