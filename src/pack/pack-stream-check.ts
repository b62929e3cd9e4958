/**
 * The light check of a relayed pack: its header (`PACK`, version 2 or 3, object count) and its
 * trailing checksum over every byte before it, at hashing speed. The target's own `index-pack`
 * verifies every object of a pushed pack anyway, so a plain relay does not inflate them a second
 * time (which costs as much CPU as the target's check, on the same machine's cores in a mirror
 * job); a relay that must size its packs walks the objects with PackReader instead.
 */
import { PackFormatError, PackTooLargeError } from '../errors.js';
import { PackChecksum } from './pack-checksum.js';
import { PACK_HEADER_LENGTH, parsePackHeader, type ObjectFormat } from './pack-format.js';

export interface PackStreamSummary {
  bytes: number;
  objectCount: number;
  checksum: string;
}

export class PackStreamCheck {
  private readonly checksum: PackChecksum;
  private header = Buffer.alloc(0);
  private objectCount: number | null = null;
  private bytes = 0;

  constructor(
    private readonly options: { maxBytes?: number; objectFormat?: ObjectFormat } = {},
  ) {
    this.checksum = new PackChecksum(options.objectFormat ?? 'sha1');
  }

  get declaredObjects(): number | null {
    return this.objectCount;
  }

  write(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.options.maxBytes !== undefined && this.bytes > this.options.maxBytes) throw new PackTooLargeError(this.options.maxBytes);
    if (this.objectCount === null) {
      this.header = Buffer.concat([this.header, chunk.subarray(0, PACK_HEADER_LENGTH - this.header.length)]);
      if (this.header.length === PACK_HEADER_LENGTH) this.objectCount = parsePackHeader(this.header).objectCount;
    }
    this.checksum.update(chunk);
  }

  end(): PackStreamSummary {
    if (this.objectCount === null) throw new PackFormatError(`truncated pack: ${this.bytes} bytes, not even a header`);
    if (!this.checksum.matches()) {
      throw new PackFormatError(`pack checksum mismatch after ${this.bytes} bytes: the pack is truncated or corrupt`);
    }
    return { bytes: this.bytes, objectCount: this.objectCount, checksum: this.checksum.trailer().toString('hex') };
  }
}
