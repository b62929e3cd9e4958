/**
 * One row per pack entry, in pack order: its offset and the type of the object it stands for
 * (a delta has the type of its base, down the chain). Offsets only grow, so the entry an
 * OFS_DELTA names is found by binary search, and its base, always an earlier entry, has its
 * type settled already. Nine bytes per entry in typed arrays.
 */
import { OBJ_BLOB, OBJ_COMMIT, OBJ_TAG, OBJ_TREE } from './pack-format.js';

/** The type cannot be known: a REF_DELTA whose base the caller did not name. */
const UNRESOLVED = 8;

export interface TypeCounts {
  commit: number;
  tree: number;
  blob: number;
  tag: number;
  unresolved: number;
}

export class ObjectTable {
  private offsets = new Float64Array(1024);
  private types = new Uint8Array(1024);
  private length = 0;

  get count(): number {
    return this.length;
  }

  /** The type code (1-4) of an entry, or undefined when it cannot be known. */
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
    return this.push(offset, this.types[base]!);
  }

  /** A delta whose base is not an entry seen: its type as the caller knows it, or unresolved. */
  addOfType(offset: number, type: number | undefined): number {
    return this.push(offset, type ?? UNRESOLVED);
  }

  /** Entries by type. */
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
