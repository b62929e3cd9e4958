/**
 * A compact commit graph built while a pack streams by (docs/architecture.md, "Ancestry
 * without materializing"): object ids in one Buffer, parent lists as ids in a second Buffer with start
 * offsets in a typed array, and — once built — parent indices in an Int32Array plus an
 * open-addressing hash table for id lookups. About 60 bytes per commit; no objects per commit.
 */
import { lazyCrypto } from '../builtins.js';
import { PackFormatError } from '../errors.js';
import { GrowableUint32 } from './growable-array.js';
import { idBytes, isOid, type ObjectFormat } from '../types.js';

const SHA1_ID_BYTES = idBytes('sha1');

/**
 * The most commits `reserve` sizes the arrays for: 2^20, the 1,000,000-commit benchmark's
 * history (about 45 MiB of arrays with SHA-1 ids). The count to reserve comes from a pack
 * header, which a corrupt or hostile server can set to 2^32 - 1: reserved as declared, that is
 * 85 GiB of ids (Buffer.allocUnsafe throws a RangeError first).
 */
export const MAX_RESERVED_COMMITS = 1 << 20;

const PARENT_PREFIX = Buffer.from('parent ');
const TREE_PREFIX = Buffer.from('tree ');

class GrowableBytes {
  buffer: Buffer;
  length = 0;
  constructor(initial: number) {
    this.buffer = Buffer.allocUnsafe(initial);
  }
  /** Grows the buffer once to hold `size` bytes in all (no effect when it already does). */
  reserve(size: number): void {
    if (size <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(size);
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }

  append(source: Buffer, start: number, end: number): void {
    const size = end - start;
    if (this.length + size > this.buffer.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + size));
      this.buffer.copy(next, 0, 0, this.length);
      this.buffer = next;
    }
    source.copy(this.buffer, this.length, start, end);
    this.length += size;
  }
}

/** The id git gives a commit: the format's hash over `commit <size>\0` and the body. */
export function commitId(body: Buffer, format: ObjectFormat = 'sha1'): Buffer {
  return lazyCrypto().createHash(format).update(`commit ${body.length}\0`).update(body).digest();
}

function hexToId(hex: string): Buffer {
  if (!isOid(hex)) throw new PackFormatError(`not an object id: ${JSON.stringify(hex)}`);
  return Buffer.from(hex, 'hex');
}

/** Parses the `parent` header lines of a commit body (they follow `tree` and precede `author`). */
function forEachParent(body: Buffer, hexLength: number, visit: (hexStart: number) => void): void {
  if (body.compare(TREE_PREFIX, 0, TREE_PREFIX.length, 0, TREE_PREFIX.length) !== 0) {
    throw new PackFormatError('commit object does not start with a tree line');
  }
  let at = body.indexOf(0x0a);
  while (at >= 0 && at + 1 + PARENT_PREFIX.length + hexLength <= body.length) {
    const line = at + 1;
    if (body.compare(PARENT_PREFIX, 0, PARENT_PREFIX.length, line, line + PARENT_PREFIX.length) !== 0) return;
    visit(line + PARENT_PREFIX.length);
    at = body.indexOf(0x0a, line);
  }
}

export class CommitGraphBuilder {
  private readonly idBytes: number;
  private readonly ids: GrowableBytes;
  private readonly parentIds: GrowableBytes;
  private readonly parentStart = new GrowableUint32(64);
  private count = 0;

  constructor(private readonly format: ObjectFormat = 'sha1') {
    this.idBytes = idBytes(format);
    this.ids = new GrowableBytes(64 * this.idBytes);
    this.parentIds = new GrowableBytes(64 * this.idBytes);
  }

  get size(): number {
    return this.count;
  }

  /** The id of the `index`-th commit added (a view: copy it to keep it). */
  idAt(index: number): Buffer {
    if (index < 0 || index >= this.count) throw new RangeError(`no commit ${index} of ${this.count}`);
    return this.ids.buffer.subarray(index * this.idBytes, (index + 1) * this.idBytes);
  }

  /**
   * Sizes the arrays for about `commits` commits at once (a pack header declares its object
   * count), so they do not grow by doubling, which would briefly hold two copies. At most
   * MAX_RESERVED_COMMITS: past it they grow as commits really arrive.
   */
  reserve(declared: number): void {
    const commits = Math.min(declared, MAX_RESERVED_COMMITS);
    this.ids.reserve(commits * this.idBytes);
    // Most commits have one parent; merges are a small share.
    this.parentIds.reserve(Math.ceil(commits * 1.05) * this.idBytes);
    this.parentStart.reserve(commits + 1);
  }

  /** Adds a commit from its raw body (as stored in the pack, without the object header). */
  addCommit(body: Buffer, id: Buffer = commitId(body, this.format)): void {
    this.parentStart.push(this.parentIds.length / this.idBytes);
    this.ids.append(id, 0, this.idBytes);
    const scratch = Buffer.allocUnsafe(this.idBytes);
    forEachParent(body, this.idBytes * 2, (hexStart) => {
      const written = scratch.write(body.toString('latin1', hexStart, hexStart + this.idBytes * 2), 'hex');
      if (written !== this.idBytes) throw new PackFormatError('malformed parent line in a commit');
      this.parentIds.append(scratch, 0, this.idBytes);
    });
    this.count += 1;
  }

  /**
   * The graph of the commits added so far. Commits may still be added afterwards and the graph
   * built again: a built graph keeps its own view of what it was built from.
   */
  build(): CommitGraph {
    this.parentStart.push(this.parentIds.length / this.idBytes);
    const graph = new CommitGraph(
      this.ids.buffer.subarray(0, this.ids.length),
      this.parentIds.buffer.subarray(0, this.parentIds.length),
      this.parentStart.array.subarray(0, this.parentStart.length),
      this.count,
      this.idBytes,
    );
    // The closing entry goes again; the next commit's start, written over it, has its value.
    this.parentStart.length -= 1;
    return graph;
  }
}

export class CommitGraph {
  /** parentIndex[k] = index of the k-th parent id, or -1 when that parent is not in the graph. */
  private readonly parentIndex: Int32Array;
  private readonly table: Int32Array;
  private readonly mask: number;

  constructor(
    private readonly ids: Buffer,
    private readonly parentIds: Buffer,
    private readonly parentStart: Uint32Array,
    readonly size: number,
    private readonly idBytes: number = SHA1_ID_BYTES,
  ) {
    let capacity = 1;
    while (capacity < size * 2) capacity *= 2;
    this.table = new Int32Array(Math.max(capacity, 2)).fill(-1);
    this.mask = this.table.length - 1;
    for (let index = 0; index < size; index++) this.insert(index);
    this.parentIndex = new Int32Array(parentIds.length / this.idBytes);
    for (let k = 0; k < this.parentIndex.length; k++) {
      this.parentIndex[k] = this.lookup(parentIds, k * this.idBytes);
    }
  }

  private insert(index: number): void {
    let slot = this.ids.readUInt32BE(index * this.idBytes) & this.mask;
    for (;;) {
      const occupant = this.table[slot]!;
      if (occupant === -1) {
        this.table[slot] = index;
        return;
      }
      // A pack may carry the same object twice; the first copy wins.
      if (this.ids.compare(this.ids, occupant * this.idBytes, occupant * this.idBytes + this.idBytes, index * this.idBytes, index * this.idBytes + this.idBytes) === 0) return;
      slot = (slot + 1) & this.mask;
    }
  }

  private lookup(source: Buffer, offset: number): number {
    let slot = source.readUInt32BE(offset) & this.mask;
    for (;;) {
      const occupant = this.table[slot]!;
      if (occupant === -1) return -1;
      if (this.ids.compare(source, offset, offset + this.idBytes, occupant * this.idBytes, occupant * this.idBytes + this.idBytes) === 0) return occupant;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Index of a commit by hex id, or -1 when the graph does not hold it. */
  indexOf(hex: string): number {
    if (hex.length !== this.idBytes * 2) return -1;
    return this.lookup(hexToId(hex), 0);
  }

  idOf(index: number): string {
    return this.ids.toString('hex', index * this.idBytes, index * this.idBytes + this.idBytes);
  }

  /** Hex ids of a commit's parents, in order. */
  parentsOf(index: number): string[] {
    const out: string[] = [];
    for (let k = this.parentStart[index]!; k < this.parentStart[index + 1]!; k++) {
      out.push(this.parentIds.toString('hex', k * this.idBytes, k * this.idBytes + this.idBytes));
    }
    return out;
  }

  /** Indices of a commit's parents, in order; -1 for a parent outside the graph. */
  parentIndicesOf(index: number): number[] {
    const out: number[] = [];
    for (let k = this.parentStart[index]!; k < this.parentStart[index + 1]!; k++) out.push(this.parentIndex[k]!);
    return out;
  }

  /** Bytes held by the graph's arrays (what `--measure-memory` should see grow). */
  get byteSize(): number {
    return this.ids.length + this.parentIds.length + this.parentStart.byteLength + this.parentIndex.byteLength + this.table.byteLength;
  }

  /**
   * Walks the commits reachable from `from` inside the graph. For every parent edge it calls
   * `edge(parentIndex, parentStorageOffset)`: parentIndex is -1 for a parent outside the graph.
   * Returns early when `edge` returns true.
   */
  walk(from: number, edge: (parentIndex: number, k: number) => boolean): boolean {
    const seen = new Uint8Array(this.size);
    const stack = [from];
    seen[from] = 1;
    while (stack.length > 0) {
      const index = stack.pop()!;
      for (let k = this.parentStart[index]!; k < this.parentStart[index + 1]!; k++) {
        const parent = this.parentIndex[k]!;
        if (edge(parent, k)) return true;
        if (parent >= 0 && seen[parent] === 0) {
          seen[parent] = 1;
          stack.push(parent);
        }
      }
    }
    return false;
  }

  /** Hex ids of the parents outside the graph (its edge toward what the pack left out), once each. */
  outsideParents(): Set<string> {
    const out = new Set<string>();
    for (let k = 0; k < this.parentIndex.length; k++) {
      if (this.parentIndex[k] === -1) out.add(this.parentIds.toString('hex', k * this.idBytes, k * this.idBytes + this.idBytes));
    }
    return out;
  }

  /**
   * Whether the graph holds every commit a fetch of `wants` against `haves` brings: each want is
   * in it, and each parent outside it is a have. (A parent that is only an ancestor of a have
   * counts as missing: the answer errs toward "not sure".)
   */
  coversFetch(wants: Iterable<string>, haves: ReadonlySet<string>): boolean {
    for (const want of wants) if (this.indexOf(want) < 0) return false;
    for (const parent of this.outsideParents()) if (!haves.has(parent)) return false;
    return true;
  }

  /** True when parent storage slot k holds the id given as a buffer. */
  parentIs(k: number, id: Buffer): boolean {
    return id.length === this.idBytes && this.parentIds.compare(id, 0, this.idBytes, k * this.idBytes, k * this.idBytes + this.idBytes) === 0;
  }
}

export type PackAncestry = 'ancestor' | 'not-ancestor' | 'ambiguous';

/**
 * Answers "is `target` an ancestor of `source`?" from a commits pack fetched with `want source`
 * and haves including `target`. The pack holds ancestors(source) minus what the haves reach.
 * - a walk from source meets an edge to target: ancestor;
 * - the walk never leaves the pack: source's whole history is there, target is not: not an
 *   ancestor;
 * - source is not in the pack, or the walk leaves the pack through commits other than target:
 *   those are reachable from some have. With `target` the only have this means the histories
 *   joined below target (not an ancestor, or target ahead); with several haves it is ambiguous.
 */
export function ancestryFromGraph(graph: CommitGraph, target: string, source: string, onlyHave: boolean): PackAncestry {
  if (target === source) return 'ancestor';
  const from = graph.indexOf(source);
  if (from < 0) return onlyHave ? 'not-ancestor' : 'ambiguous';
  const targetId = hexToId(target);
  let leftThePack = false;
  const found = graph.walk(from, (parent, k) => {
    if (parent >= 0) return false;
    if (graph.parentIs(k, targetId)) return true;
    leftThePack = true;
    return false;
  });
  if (found) return 'ancestor';
  if (!leftThePack || onlyHave) return 'not-ancestor';
  return 'ambiguous';
}
