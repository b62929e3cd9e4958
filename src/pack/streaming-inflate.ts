/**
 * Inflates one zlib stream that arrives in pieces and finds where it ends, for pack entries too
 * large to buffer. Node has no public synchronous inflate that keeps its state between calls
 * (`inflateSync` closes its engine after one buffer), so this drives a `zlib.Inflate` stream:
 * one piece in flight at a time, output handed to `onOutput` as it is produced.
 *
 * The end of the entry shows in `bytesWritten`: once zlib reports the end of its stream it stops
 * consuming input, so after a piece is processed `bytesWritten < fed` means the stream ended and
 * the rest of that piece belongs to what follows. (When the stream ends exactly at the end of a
 * piece, the next piece is consumed not at all and the same rule applies.)
 */
import type { Inflate } from 'node:zlib';
import { lazyZlib } from '../builtins.js';

/** Larger output slices mean fewer thread-pool round trips: 256 KiB inflates ~1 GB/s. */
const OUTPUT_CHUNK = 256 * 1024;

export class StreamingInflate {
  private readonly inflate: Inflate;
  private readonly ended: Promise<void>;
  private readonly failed: Promise<never>;
  private fed = 0;
  private done = false;

  constructor(onOutput: (chunk: Buffer) => void) {
    this.inflate = lazyZlib().createInflate({ chunkSize: OUTPUT_CHUNK });
    this.inflate.on('data', onOutput);
    this.ended = new Promise((resolve) => this.inflate.once('end', resolve));
    this.failed = new Promise((_, reject) => this.inflate.once('error', reject));
    // Whoever is waiting sees the error through `failed`; nobody waiting is not a crash.
    this.failed.catch(() => undefined);
  }

  /** Compressed bytes consumed so far. */
  get consumed(): number {
    return this.inflate.bytesWritten;
  }

  /**
   * Feeds the next piece. Resolves with the number of bytes at the end of `input` that lie past
   * the end of the zlib stream, or -1 when the stream wants more input. Rejects with zlib's
   * error (or the one given to `abort`).
   */
  async feed(input: Buffer): Promise<number> {
    this.fed += input.length;
    const processed = new Promise<void>((resolve) => this.inflate.write(input, () => resolve()));
    await Promise.race([processed, this.failed]);
    if (this.inflate.bytesWritten === this.fed) return -1;
    await Promise.race([this.ended, this.failed]);
    this.close();
    return this.fed - this.inflate.bytesWritten;
  }

  /** No more input will come: resolves if the stream is complete, rejects if it is truncated. */
  async finish(): Promise<void> {
    this.inflate.end();
    await Promise.race([this.ended, this.failed]);
    this.close();
  }

  /** Stops inflating; a pending `feed` or `finish` rejects with `reason`. */
  abort(reason: Error): void {
    if (this.done) return;
    this.done = true;
    this.inflate.destroy(reason);
  }

  /** Releases the zlib engine now rather than at garbage collection. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.inflate.destroy();
  }
}
