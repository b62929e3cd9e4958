/**
 * An append-only byte log whose newest bytes stay in memory and whose older bytes go to a
 * temporary file, so that what it holds is bounded by the disk, not by memory. It keeps the
 * commits of a long history where any later commit delta can still find its base
 * (docs/architecture.md, "Commits stored as deltas").
 *
 * Records are appended into chunks of 256 KiB. Once the chunks in memory hold more than
 * `memoryBytes`, the oldest are written to the file, at the same position they have in the
 * log, and dropped. The file is created only then (a short history never touches the disk), in
 * `directory` (default: the OS temporary directory, `TMPDIR`), readable by its owner only, and
 * unlinked as soon as it is open: it has no name while it is used and disappears with the
 * process, however the process ends. (Where an open file cannot be unlinked, it is removed by
 * `close()`.)
 *
 * The I/O is synchronous: appends come from inside a pack parser's synchronous callbacks, and
 * the file's recent pages sit in the OS page cache, so a write or a read is a memory copy and a
 * system call, not a wait on the disk.
 */
import { lazyCrypto } from '../builtins.js';
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorageError } from '../errors.js';

const CHUNK_BYTES = 256 * 1024;
const DEFAULT_MEMORY_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export interface SpillLogOptions {
  /** Bytes of the log's newest part kept in memory; older bytes go to the file. Default 1 MiB. */
  memoryBytes?: number;
  /** Where the temporary file is made; default `os.tmpdir()`. */
  directory?: string;
  /** Bytes per chunk; default 256 KiB (tests make it small to reach the file with little data). */
  chunkBytes?: number;
}

export class SpillLog {
  private readonly memoryBytes: number;
  private readonly directory: string;
  private readonly chunkBytes: number;
  /** Full chunks still in memory, oldest first; the first starts at log position `flushed`. */
  private readonly sealed: Buffer[] = [];
  private sealedBytes = 0;
  /** The chunk being filled; it starts at `flushed + sealedBytes`. */
  private open: Buffer = EMPTY;
  /**
   * A chunk written to the file, kept to be filled again: chunks are allocated once, not one
   * per 256 KiB appended, so a long history leaves no trail of dead chunks for V8's full
   * collections to find.
   */
  private spare: Buffer | undefined;
  private openLength = 0;
  /** Log bytes [0, flushed) are in the file, at the same positions. */
  private flushed = 0;
  private fd = -1;
  /** Set only when the open file could not be unlinked: `close()` removes it. */
  private leftPath: string | undefined;
  private closed = false;
  /** Bytes appended so far: the position the next record gets. */
  length = 0;

  constructor(options: SpillLogOptions = {}) {
    this.memoryBytes = Math.max(0, options.memoryBytes ?? DEFAULT_MEMORY_BYTES);
    this.directory = options.directory ?? tmpdir();
    this.chunkBytes = Math.max(1, options.chunkBytes ?? CHUNK_BYTES);
  }

  /** Bytes of memory the log holds (its chunks). */
  get memoryHeld(): number {
    let held = this.open.length + (this.spare?.length ?? 0);
    for (const chunk of this.sealed) held += chunk.length;
    return held;
  }

  /** Bytes written to the temporary file so far (0: the log never left memory). */
  get spilledBytes(): number {
    return this.flushed;
  }

  /** Appends `parts` back to back (copied); returns the position of the first byte. */
  append(...parts: Buffer[]): number {
    if (this.closed) throw new Error('SpillLog: append() after close()');
    let size = 0;
    for (const part of parts) size += part.length;
    if (this.openLength + size > this.open.length) {
      this.seal();
      if (size <= this.chunkBytes && this.spare !== undefined) {
        this.open = this.spare;
        this.spare = undefined;
      } else {
        this.open = Buffer.allocUnsafeSlow(Math.max(this.chunkBytes, size));
      }
    }
    for (const part of parts) {
      part.copy(this.open, this.openLength);
      this.openLength += part.length;
    }
    const position = this.length;
    this.length += size;
    return position;
  }

  /**
   * Bytes [start, end) of the log. A range inside one chunk in memory is returned as a view,
   * valid until the next append (which may fill that chunk's memory again); a range read from
   * the file lands in `scratch` when it is large enough (valid until the caller reuses it).
   * Copy what must outlive them.
   */
  read(start: number, end: number, scratch?: Buffer): Buffer {
    if (start < 0 || end > this.length || start > end) throw new RangeError(`SpillLog: read(${start}, ${end}) outside 0..${this.length}`);
    if (start >= this.flushed) return this.readMemory(start, end);
    const fromFile = Math.min(end, this.flushed) - start;
    const out = scratch !== undefined && scratch.length >= end - start ? scratch.subarray(0, end - start) : Buffer.allocUnsafe(end - start);
    let done = 0;
    try {
      while (done < fromFile) {
        const got = readSync(this.fd, out, done, fromFile - done, start + done);
        if (got === 0) throw new Error(`unexpected end of file at ${start + done}`);
        done += got;
      }
    } catch (error) {
      throw this.storageError('read', error);
    }
    if (end > this.flushed) this.readMemory(this.flushed, end).copy(out, fromFile);
    return out;
  }

  /** Releases the memory and the file (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sealed.length = 0;
    this.open = EMPTY;
    this.spare = undefined;
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // Nothing more to release.
      }
      this.fd = -1;
    }
    if (this.leftPath !== undefined) {
      try {
        unlinkSync(this.leftPath);
      } catch {
        // Already gone.
      }
    }
  }

  private readMemory(start: number, end: number): Buffer {
    const pieces: Buffer[] = [];
    let at = this.flushed;
    for (const chunk of [...this.sealed, this.open.subarray(0, this.openLength)]) {
      const chunkEnd = at + chunk.length;
      if (chunkEnd > start && at < end) pieces.push(chunk.subarray(Math.max(start, at) - at, Math.min(end, chunkEnd) - at));
      if (chunkEnd >= end) break;
      at = chunkEnd;
    }
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, end - start);
  }

  private seal(): void {
    if (this.openLength > 0) {
      this.sealed.push(this.open.subarray(0, this.openLength));
      this.sealedBytes += this.openLength;
    }
    this.open = EMPTY;
    this.openLength = 0;
    while (this.sealedBytes > this.memoryBytes && this.sealed.length > 0) this.flushOldest();
  }

  private flushOldest(): void {
    const chunk = this.sealed[0]!;
    if (this.fd < 0) this.createFile();
    try {
      let done = 0;
      while (done < chunk.length) done += writeSync(this.fd, chunk, done, chunk.length - done, this.flushed + done);
    } catch (error) {
      throw this.storageError('write', error);
    }
    this.sealed.shift();
    this.sealedBytes -= chunk.length;
    this.flushed += chunk.length;
    const whole = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.buffer.byteLength - chunk.byteOffset);
    if (whole.length === this.chunkBytes) this.spare = whole;
  }

  private createFile(): void {
    const path = join(this.directory, `git-sync-commits-${process.pid}-${lazyCrypto().randomBytes(6).toString('hex')}.tmp`);
    try {
      this.fd = openSync(path, 'wx+', 0o600);
    } catch (error) {
      throw this.storageError('create', error);
    }
    try {
      unlinkSync(path);
    } catch {
      this.leftPath = path;
    }
  }

  private storageError(what: 'create' | 'write' | 'read', error: unknown): LocalStorageError {
    const reason = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown }).code;
    const hint = code === 'ENOSPC' || code === 'EDQUOT' ? 'free space there' : 'make it a writable directory';
    return new LocalStorageError(
      this.directory,
      `cannot ${what} the temporary file that holds the commits of a long history in ${this.directory}: ${reason}; ${hint} or point TMPDIR at another directory`,
      { cause: error },
    );
  }
}
