/**
 * One row per pack entry, in pack order: its offset and the type of the object it stands for
 * (a delta has the type of its base, down the chain). Offsets only grow, so the entry an
 * OFS_DELTA names is found by binary search. Nine bytes per entry in typed arrays; deltas whose
 * base is not settled yet (a REF_DELTA base that appears later, or a chain through one) wait in
 * small side tables until `resolve()`.
 */
import { OBJ_BLOB, OBJ_COMMIT, OBJ_TAG, OBJ_TREE } from './pack-format.js';

/** The base is known but its own type is not settled yet. */
const PENDING = 0;
/** The type cannot be known: the base is not in the pack (thin pack) or ids were not computed. */
const UNRESOLVED = 8;
/** Marks entries on the path being settled, to detect delta cycles. */
const VISITING = 9;

export interface TypeCounts {
  commit: number;
  tree: number;
  blob: number;
  tag: number;
  unresolved: number;
}

export class ObjectTable {
  private readonly idLength: number;
  private offsets = new Float64Array(1024);
  private types = new Uint8Array(1024);
  private length = 0;
  /** Delta entry -> base entry, for bases whose type is still pending. */
  private readonly waiting = new Map<number, number>();
  /** REF_DELTAs whose base id had not been seen yet: ids back to back, and their entries. */
  private awaitingIds = Buffer.alloc(0);
  private awaitingEntries: number[] = [];

  constructor(idLength: number) {
    this.idLength = idLength;
  }

  get count(): number {
    return this.length;
  }

  /** The resolved type code (1-4) of an entry, or undefined while it is not known. */
  typeOf(entry: number): number | undefined {
    const type = this.types[entry]!;
    return type >= OBJ_COMMIT && type <= OBJ_TAG ? type : undefined;
  }

  /** The entry that starts at `offset`, or -1. */
  indexOfOffset(offset: number): number {
    let lo = 0;
    let hi = this.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.offsets[mid]!;
      if (at === offset) return mid;
      if (at < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** A whole object (type code 1-4). */
  addObject(offset: number, type: number): number {
    return this.push(offset, type);
  }

  /** A delta whose base is the entry `base`. */
  addDelta(offset: number, base: number): number {
    const baseType = this.types[base]!;
    const entry = this.push(offset, baseType);
    if (baseType === PENDING) this.waiting.set(entry, base);
    return entry;
  }

  /** A delta whose base can never be found. */
  addUnresolved(offset: number): number {
    return this.push(offset, UNRESOLVED);
  }

  /** A REF_DELTA whose base id is not known yet; `resolve()` looks it up once more. */
  addAwaitingId(offset: number, baseId: Buffer): number {
    const entry = this.push(offset, PENDING);
    const at = this.awaitingEntries.length * this.idLength;
    if (at + this.idLength > this.awaitingIds.length) {
      const grown = Buffer.alloc(Math.max(64 * this.idLength, this.awaitingIds.length * 2));
      this.awaitingIds.copy(grown);
      this.awaitingIds = grown;
    }
    baseId.copy(this.awaitingIds, at, 0, this.idLength);
    this.awaitingEntries.push(entry);
    return entry;
  }

  /**
   * Settles every pending type once the whole pack has been seen: ids still awaited are looked
   * up (-1: not in the pack), then types flow from bases to deltas along the chains.
   */
  resolve(lookup: (id: Buffer) => number): void {
    this.awaitingEntries.forEach((entry, k) => {
      const base = lookup(this.awaitingIds.subarray(k * this.idLength, (k + 1) * this.idLength));
      if (base >= 0 && base !== entry) this.waiting.set(entry, base);
      else this.types[entry] = UNRESOLVED;
    });
    this.awaitingIds = Buffer.alloc(0);
    this.awaitingEntries = [];
    const path: number[] = [];
    for (const start of this.waiting.keys()) {
      let at = start;
      while (this.types[at] === PENDING) {
        const base = this.waiting.get(at);
        if (base === undefined) break;
        this.types[at] = VISITING;
        path.push(at);
        at = base;
      }
      const settled = this.types[at]!;
      const type = settled >= OBJ_COMMIT && settled <= OBJ_TAG ? settled : UNRESOLVED;
      for (const entry of path) this.types[entry] = type;
      path.length = 0;
    }
    this.waiting.clear();
  }

  /** Entries by final type; call after `resolve()`. */
  countTypes(): TypeCounts {
    const counts: TypeCounts = { commit: 0, tree: 0, blob: 0, tag: 0, unresolved: 0 };
    for (let i = 0; i < this.length; i++) {
      switch (this.types[i]) {
        case OBJ_COMMIT: counts.commit++; break;
        case OBJ_TREE: counts.tree++; break;
        case OBJ_BLOB: counts.blob++; break;
        case OBJ_TAG: counts.tag++; break;
        default: counts.unresolved++;
      }
    }
    return counts;
  }

  private push(offset: number, type: number): number {
    if (this.length === this.offsets.length) {
      const offsets = new Float64Array(this.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const types = new Uint8Array(this.length * 2);
      types.set(this.types);
      this.types = types;
    }
    this.offsets[this.length] = offset;
    this.types[this.length] = type;
    return this.length++;
  }
}
