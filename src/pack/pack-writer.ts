/**
 * Writing packs. git-sync relays the source's pack bytes untouched; the only pack it makes
 * itself is the empty one a push of ref-only commands still has to send (docs/architecture.md, "Relay choices").
 */
import { lazyCrypto } from '../builtins.js';
import { PACK_HEADER_LENGTH, type ObjectFormat } from './pack-format.js';

/** A pack header: `PACK`, version 2, the object count, big-endian (gitformat-pack). */
function packHeader(objectCount: number): Buffer {
  const header = Buffer.alloc(PACK_HEADER_LENGTH);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(objectCount, 8);
  return header;
}

/** A valid pack without objects: the header and its checksum (32 bytes for SHA-1). */
export function emptyPack(objectFormat: ObjectFormat = 'sha1'): Buffer {
  const header = packHeader(0);
  return Buffer.concat([header, lazyCrypto().createHash(objectFormat).update(header).digest()]);
}
