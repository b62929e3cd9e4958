/**
 * Sideband demultiplexing (gitprotocol-pack, "Packfile Data"; capabilities `side-band` and
 * `side-band-64k`): each pkt-line payload starts with a band byte. Band 1 carries pack data,
 * band 2 progress text for the user, band 3 a fatal error message after which the remote stops.
 */
import { ProtocolError, RemoteError, throwIfAborted } from '../errors.js';
import { MAX_PKT_PAYLOAD, PktLineReader, describePacket } from './pktline.js';

import type { ProgressCallback } from '../types.js';

export type { ProgressCallback };

export interface DemuxOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * The section ends with a flush (a v2 `packfile` section): a stream that ends first was cut
   * (a transient PKT_LINE), not a short pack.
   */
  untilFlush?: boolean;
}

/**
 * The longest progress message held back waiting for its end: one packet's worth. git's own
 * progress lines are shorter than a hundred characters; a server that sends text without `\r`
 * or `\n` has it passed on in pieces of this size rather than held (and rescanned) as it grows.
 */
export const MAX_PROGRESS_MESSAGE = MAX_PKT_PAYLOAD;

/**
 * Splits progress text into messages. Git writes progress with `\r` for in-place updates and
 * `\n` at the end of a phase; a message can span two packets, so partial text is carried over
 * (at most MAX_PROGRESS_MESSAGE characters of it). Only new text is scanned for line ends.
 */
export class ProgressSplitter {
  private pending = '';
  constructor(private readonly emit: ProgressCallback) {}

  push(text: string): void {
    let start = 0;
    for (const end of text.matchAll(/[\r\n]/g)) {
      const part = this.pending + text.slice(start, end.index);
      this.pending = '';
      if (part.length > 0) this.emit(part, end[0] === '\r');
      start = end.index + 1;
    }
    this.pending += text.slice(start);
    while (this.pending.length > MAX_PROGRESS_MESSAGE) {
      this.emit(this.pending.slice(0, MAX_PROGRESS_MESSAGE), false);
      this.pending = this.pending.slice(MAX_PROGRESS_MESSAGE);
    }
  }

  flush(): void {
    if (this.pending.length > 0) this.emit(this.pending, false);
    this.pending = '';
  }
}

/**
 * Yields band-1 payloads until the flush packet that ends the section (or the end of the
 * stream, which v1 servers over stateful transports use; not with `untilFlush`). Band 2 goes to `onProgress`; band 3,
 * or an `ERR` packet in place of a sideband packet, throws a RemoteError carrying the server's
 * own words.
 */
export async function* demuxSideband(reader: PktLineReader, options: DemuxOptions = {}): AsyncGenerator<Buffer> {
  const progress = options.onProgress ? new ProgressSplitter(options.onProgress) : null;
  try {
    for (;;) {
      throwIfAborted(options.signal);
      const packet = options.untilFlush === true ? await reader.readRequired('the sideband section, before its flush') : await reader.read();
      if (packet === null || packet.type === 'flush') return;
      if (packet.type !== 'data') {
        throw new ProtocolError(`unexpected ${describePacket(packet)} inside sideband data`);
      }
      if (packet.data.length === 0) {
        throw new ProtocolError('empty packet inside sideband data: missing band byte');
      }
      // A server may send an ERR packet wherever a pkt-line is expected, sideband data
      // included (every other reader of a response checks for one); `E` is no band.
      if (packet.data.subarray(0, 4).toString('latin1') === 'ERR ') {
        throw new RemoteError(packet.data.subarray(4).toString('utf8').trim());
      }
      const band = packet.data[0];
      const payload = packet.data.subarray(1);
      if (band === 1) {
        if (payload.length > 0) yield payload;
      } else if (band === 2) {
        progress?.push(payload.toString('utf8'));
      } else if (band === 3) {
        throw new RemoteError(payload.toString('utf8').trim());
      } else {
        throw new ProtocolError(`invalid sideband band ${band}: expected 1, 2 or 3`);
      }
    }
  } finally {
    progress?.flush();
  }
}
