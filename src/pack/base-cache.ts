/**
 * Recently inflated objects, kept so that a following delta can be applied to its base and the
 * result hashed (only when ids are wanted). Bounded by bytes, least recently used out first,
 * like git's own delta base cache; an object that does not fit is simply not kept, and a delta
 * whose base is gone has no id.
 */
export class BaseCache {
  /** Map iteration order is insertion order: the first key is the least recently used. */
  private readonly entries = new Map<number, Buffer>();
  private bytes = 0;
  private readonly budget: number;
  /** The largest object worth keeping: a quarter of the budget. */
  readonly maxEntry: number;

  constructor(budget: number) {
    this.budget = budget;
    this.maxEntry = Math.floor(budget / 4);
  }

  get(entry: number): Buffer | undefined {
    const content = this.entries.get(entry);
    if (content !== undefined) {
      this.entries.delete(entry);
      this.entries.set(entry, content);
    }
    return content;
  }

  set(entry: number, content: Buffer): void {
    if (content.length > this.maxEntry) return;
    this.entries.set(entry, content);
    this.bytes += content.length;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(oldest);
      this.bytes -= old.length;
    }
  }
}
