/**
 * Object id -> entry index, for resolving REF_DELTA bases. Ids live back to back in one Buffer
 * and an open-addressing table of Int32 slots points at them: about 30 bytes per id for SHA-1,
 * no per-entry JS objects. Ids are hash outputs, so their first four bytes are a fine hash.
 */
export class OidIndex {
  private readonly idLength: number;
  private ids: Buffer;
  private entries: Int32Array;
  private rows = 0;
  /** Row + 1 per slot; 0 = empty. */
  private slots: Int32Array;
  private mask: number;

  constructor(idLength: number) {
    this.idLength = idLength;
    this.ids = Buffer.alloc(idLength * 1024);
    this.entries = new Int32Array(1024);
    this.slots = new Int32Array(2048);
    this.mask = this.slots.length - 1;
  }

  /** The entry index recorded for `id`, or -1. */
  get(id: Buffer): number {
    const row = this.findRow(id);
    return row < 0 ? -1 : this.entries[row]!;
  }

  /** Records `id` -> `entry`; the first entry recorded for an id wins. */
  set(id: Buffer, entry: number): void {
    if (this.findRow(id) >= 0) return;
    if (this.rows === this.entries.length) this.growRows();
    if ((this.rows + 1) * 2 > this.slots.length) this.growSlots();
    const row = this.rows++;
    id.copy(this.ids, row * this.idLength, 0, this.idLength);
    this.entries[row] = entry;
    this.place(row);
  }

  private findRow(id: Buffer): number {
    const n = this.idLength;
    for (let slot = id.readUInt32LE(0) & this.mask; ; slot = (slot + 1) & this.mask) {
      const stored = this.slots[slot]!;
      if (stored === 0) return -1;
      const row = stored - 1;
      if (id.compare(this.ids, row * n, row * n + n, 0, n) === 0) return row;
    }
  }

  private place(row: number): void {
    let slot = this.ids.readUInt32LE(row * this.idLength) & this.mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
    this.slots[slot] = row + 1;
  }

  private growRows(): void {
    const ids = Buffer.alloc(this.ids.length * 2);
    this.ids.copy(ids);
    this.ids = ids;
    const entries = new Int32Array(this.entries.length * 2);
    entries.set(this.entries);
    this.entries = entries;
  }

  private growSlots(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    this.mask = this.slots.length - 1;
    for (let row = 0; row < this.rows; row++) this.place(row);
  }
}
