/**
 * Objects kept whole so that deltas against them cost one `applyDelta`, bounded by bytes: a
 * segmented cache. Every object just read enters a small probation segment (an eighth of the
 * budget); one that is asked for again as a base, or that had to be rebuilt from storage because
 * a delta needed it, moves to the protected segment (the rest). Each segment evicts its oldest
 * entries first.
 *
 * Why two segments: most objects are never a base, and git's deltas point either close by (the
 * previous few objects: probation catches them) or far back, to objects that are then bases of
 * many deltas (the protected segment keeps them). With one segment over every object read, the
 * stream of new objects flushes those far bases out and each delta has to rebuild its base from
 * storage (measured on a history repacked with --window=250: 27,858 rebuilds for 29,988 commit
 * deltas with one 4 MiB segment, 1,534 with this split at 8 MiB).
 *
 * Why rings of bytes: each segment copies its objects into one Buffer allocated once, used as a
 * ring, instead of holding a Buffer per object. Objects held for a while are promoted to V8's
 * old generation, and once evicted they stay allocated until a full collection, which V8 runs
 * only after tens of megabytes of such external memory have piled up (measured: a 30,000-commit
 * plan peaked at 100-134 MiB RSS with a Buffer per cached object, 80 MiB with full collections
 * forced, which is what the rings give without forcing anything).
 *
 * What `get` returns is a view into a ring: valid until the next `setRecent`, `setNeeded` or
 * `get` (which may promote). Copy it to keep it.
 */

interface Slot {
  key: number;
  at: number;
  length: number;
}

/** A first-in, first-out cache of byte strings in one Buffer of `capacity` bytes. */
class Ring {
  private buffer: Buffer | undefined;
  private readonly slots = new Map<number, Slot>();
  /**
   * Slots in the order they were written, oldest at `first`; a slot no longer in `slots` (taken
   * out by `delete` or written again) is skipped. (Iterating a Map from its start after many
   * deletions walks over their holes: a queue keeps eviction O(1).)
   */
  private order: Slot[] = [];
  private first = 0;
  /** Where the next object is written. */
  private head = 0;

  constructor(readonly capacity: number) {}

  /** Bytes of memory the ring holds (0 until its first object). */
  get memoryHeld(): number {
    return this.buffer?.length ?? 0;
  }

  has(key: number): boolean {
    return this.slots.has(key);
  }

  get(key: number): Buffer | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : this.buffer!.subarray(slot.at, slot.at + slot.length);
  }

  delete(key: number): void {
    this.slots.delete(key);
  }

  /** Copies `content` in, evicting the oldest objects in its way; returns the copy's view. */
  put(key: number, content: Buffer): Buffer | undefined {
    const length = content.length;
    if (length > this.capacity || length === 0) {
      // Not kept; an older copy under the same key must not be returned for it either.
      this.slots.delete(key);
      return undefined;
    }
    this.buffer ??= Buffer.allocUnsafeSlow(this.capacity);
    let at = this.head;
    if (at + length > this.capacity) {
      // Wrap. Objects from the previous lap still at or past `head` are the oldest: they go.
      for (let oldest = this.oldest(); oldest !== undefined && oldest.at >= this.head; oldest = this.oldest()) this.evictOldest();
      at = 0;
    }
    // The oldest objects lie just after the write position, in ring order.
    for (let oldest = this.oldest(); oldest !== undefined && oldest.at < at + length && oldest.at + oldest.length > at; oldest = this.oldest()) {
      this.evictOldest();
    }
    content.copy(this.buffer, at);
    const slot: Slot = { key, at, length };
    this.slots.set(key, slot);
    this.order.push(slot);
    this.head = at + length;
    return this.buffer.subarray(at, at + length);
  }

  /** The oldest slot still held, skipping those deleted. */
  private oldest(): Slot | undefined {
    while (this.first < this.order.length) {
      const slot = this.order[this.first]!;
      if (this.slots.get(slot.key) === slot) return slot;
      this.first += 1;
    }
    return undefined;
  }

  private evictOldest(): void {
    const slot = this.order[this.first++]!;
    this.slots.delete(slot.key);
    if (this.first > 4096 && this.first * 2 > this.order.length) {
      this.order = this.order.slice(this.first);
      this.first = 0;
    }
  }
}

export class BaseCache {
  private readonly probation: Ring;
  private readonly protected: Ring;

  constructor(budget: number) {
    const probation = Math.floor(budget / 8);
    this.probation = new Ring(probation);
    this.protected = new Ring(budget - probation);
  }

  /** Bytes of memory the cache holds. */
  get memoryHeld(): number {
    return this.probation.memoryHeld + this.protected.memoryHeld;
  }

  /** The largest object the cache keeps: an eighth of the budget. */
  get maxEntry(): number {
    return this.probation.capacity;
  }

  /** The object at `key`, if kept; a hit on probation moves it to the protected segment. */
  get(key: number): Buffer | undefined {
    const hot = this.protected.get(key);
    if (hot !== undefined) return hot;
    const warm = this.probation.get(key);
    if (warm === undefined) return undefined;
    const promoted = this.protected.put(key, warm);
    this.probation.delete(key);
    return promoted;
  }

  /** An object just read: kept on probation (a copy). */
  setRecent(key: number, content: Buffer): void {
    if (this.probation.has(key) || this.protected.has(key)) return;
    this.probation.put(key, content);
  }

  /**
   * An object a delta needed and that had to be rebuilt: kept in the protected segment (a
   * copy). Returns the kept copy's view, or `content` itself when it is too large to keep.
   */
  setNeeded(key: number, content: Buffer): Buffer {
    this.probation.delete(key);
    return this.protected.put(key, content) ?? content;
  }
}
