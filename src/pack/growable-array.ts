/**
 * Typed arrays that grow as values are pushed (doubling), for tables of one number per object:
 * no JS object per entry, and `reserve` sizes them once when the count is known ahead.
 */
type NumberArray = Uint32Array | Float64Array;

abstract class GrowableArray<T extends NumberArray> {
  array: T;
  length = 0;
  constructor(initial: number) {
    this.array = this.make(Math.max(1, initial));
  }

  protected abstract make(size: number): T;

  /** Grows the array once to hold `size` values in all (no effect when it already does). */
  reserve(size: number): void {
    if (size <= this.array.length) return;
    const next = this.make(size);
    next.set(this.array.subarray(0, this.length));
    this.array = next;
  }

  push(value: number): void {
    if (this.length === this.array.length) this.reserve(this.array.length * 2);
    this.array[this.length++] = value;
  }
}

/** Values below 2^32 (indices, counts). */
export class GrowableUint32 extends GrowableArray<Uint32Array> {
  protected make(size: number): Uint32Array {
    return new Uint32Array(size);
  }
}

/** Any integer up to 2^53 (pack offsets, file positions). */
export class GrowableFloat64 extends GrowableArray<Float64Array> {
  protected make(size: number): Float64Array {
    return new Float64Array(size);
  }
}
