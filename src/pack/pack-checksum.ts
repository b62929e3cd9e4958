/**
 * The pack trailer is a hash of every byte before it, and in a valid stream it is the last
 * thing sent. So the checksum can be computed eagerly, chunk by chunk, while always holding
 * back the last `length` bytes: whenever the stream ends, the held bytes are the trailer
 * candidate and the hash covers exactly what precedes them. No parsing state is needed.
 */
import type { Hash } from 'node:crypto';
import { lazyCrypto } from '../builtins.js';
import type { ObjectFormat } from './pack-format.js';
import { hashLength } from './pack-format.js';

export class PackChecksum {
  private readonly hash: Hash;
  private readonly length: number;
  private readonly held: Buffer;
  private heldLength = 0;

  constructor(format: ObjectFormat) {
    this.hash = lazyCrypto().createHash(format);
    this.length = hashLength(format);
    this.held = Buffer.alloc(this.length);
  }

  update(chunk: Buffer): void {
    const n = this.length;
    if (chunk.length >= n) {
      if (this.heldLength > 0) this.hash.update(this.held.subarray(0, this.heldLength));
      if (chunk.length > n) this.hash.update(chunk.subarray(0, chunk.length - n));
      chunk.copy(this.held, 0, chunk.length - n);
      this.heldLength = n;
      return;
    }
    const overflow = this.heldLength + chunk.length - n;
    if (overflow > 0) {
      this.hash.update(this.held.subarray(0, overflow));
      this.held.copy(this.held, 0, overflow, this.heldLength);
      this.heldLength -= overflow;
    }
    chunk.copy(this.held, this.heldLength);
    this.heldLength += chunk.length;
  }

  /** The last bytes seen (up to one hash length): the trailer if the stream ends here. */
  trailer(): Buffer {
    return Buffer.from(this.held.subarray(0, this.heldLength));
  }

  /** The hash of everything but the held-back bytes; the running hash is left untouched. */
  digest(): Buffer {
    return this.hash.copy().digest();
  }

  /** True when the stream seen so far ends with a valid trailer. */
  matches(): boolean {
    return this.heldLength === this.length && this.digest().equals(this.held);
  }
}
