/**
 * Protocol v2 `ls-refs` (gitprotocol-v2, "ls-refs"). Request: `command=ls-refs`, capability
 * lines, delim, then arguments (`peel`, `symrefs`, `unborn`, `ref-prefix <p>`), flush. Response:
 * `oid refname [symref-target:<t>] [peeled:<oid>]` per ref, or `unborn HEAD symref-target:<t>`
 * for a HEAD whose branch has no commit yet, then flush.
 */
import { ProtocolError, RemoteError } from '../errors.js';
import type { Oid, Ref } from '../types.js';
import type { Capabilities } from './capabilities.js';
import { DELIM_PKT, FLUSH_PKT, PktLineReader, describePacket, pktLine } from '../wire/pktline.js';
import { bytesStartWith, lineStop, oidEnd, spaceOrStop } from './ref-line.js';

export interface LsRefsOptions {
  /** Only refs starting with one of these prefixes (sent as `ref-prefix`); empty means all. */
  refPrefixes?: readonly string[];
  agent?: string;
}

export interface LsRefsResult {
  refs: Ref[];
  /** The branch HEAD points at (also for an unborn HEAD), or null when detached or unknown. */
  head: string | null;
  /** True when HEAD points at a branch that does not exist yet (empty repository). */
  headUnborn: boolean;
}

/** The capability lines every v2 command starts with: agent and object-format, when offered. */
export function v2CommandHeader(command: string, capabilities: Capabilities, agent?: string): Buffer[] {
  const out = [pktLine(`command=${command}\n`)];
  if (agent !== undefined && capabilities.has('agent')) out.push(pktLine(`agent=${agent}\n`));
  const format = capabilities.get('object-format');
  if (format !== null) out.push(pktLine(`object-format=${format}\n`));
  return out;
}

export function lsRefsRequest(capabilities: Capabilities, options: LsRefsOptions = {}): Buffer {
  if (!capabilities.has('ls-refs')) throw new ProtocolError('server speaks protocol v2 but does not offer ls-refs');
  const parts = v2CommandHeader('ls-refs', capabilities, options.agent);
  parts.push(DELIM_PKT, pktLine('peel\n'), pktLine('symrefs\n'));
  if (capabilities.commandHas('ls-refs', 'unborn')) parts.push(pktLine('unborn\n'));
  for (const prefix of options.refPrefixes ?? []) parts.push(pktLine(`ref-prefix ${prefix}\n`));
  parts.push(FLUSH_PKT);
  return Buffer.concat(parts);
}

export async function readLsRefsResponse(reader: PktLineReader): Promise<LsRefsResult> {
  const result: LsRefsResult = { refs: [], head: null, headUnborn: false };
  const line = (buffer: Buffer, start: number, end: number): void => readLsRefsLine(buffer, start, end, result);
  for (;;) {
    // What each chunk holds is read without an await or an object per packet.
    reader.visitBufferedData(line);
    const packet = await reader.readRequired('the ls-refs response');
    if (packet.type === 'flush') break;
    if (packet.type !== 'data') throw new ProtocolError(`unexpected ${describePacket(packet)} in the ls-refs response`);
    line(packet.data, 0, packet.data.length);
  }
  return result;
}

function malformed(what: string, buffer: Buffer, start: number, stop: number): ProtocolError {
  return new ProtocolError(`malformed ${what} ${JSON.stringify(buffer.toString('utf8', start, stop).slice(0, 80))}`);
}

/** One line of the response, from its bytes (protocol/ref-line.ts), into `into`. */
function readLsRefsLine(buffer: Buffer, start: number, end: number, into: LsRefsResult): void {
  const stop = lineStop(buffer, start, end);
  let hashEnd = oidEnd(buffer, start, stop);
  let unborn = false;
  if (hashEnd < 0) {
    if (bytesStartWith(buffer, start, stop, 'ERR ')) throw new RemoteError(buffer.toString('utf8', start + 4, stop));
    if (!bytesStartWith(buffer, start, stop, 'unborn ')) throw malformed('ls-refs line', buffer, start, stop);
    unborn = true;
    hashEnd = start + 'unborn'.length;
  }
  const nameEnd = spaceOrStop(buffer, hashEnd + 1, stop);
  if (nameEnd === hashEnd + 1) throw malformed('ls-refs line', buffer, start, stop);
  const name = buffer.toString('utf8', hashEnd + 1, nameEnd);
  let symrefTarget: string | null = null;
  let peeled: Oid | null = null;
  for (let at = nameEnd + 1; at < stop; ) {
    const attributeEnd = spaceOrStop(buffer, at, stop);
    if (bytesStartWith(buffer, at, attributeEnd, 'symref-target:')) {
      symrefTarget = buffer.toString('utf8', at + 'symref-target:'.length, attributeEnd);
    } else if (bytesStartWith(buffer, at, attributeEnd, 'peeled:')) {
      const valueStart = at + 'peeled:'.length;
      if (oidEnd(buffer, valueStart, attributeEnd) !== attributeEnd) throw malformed('peeled value in', buffer, start, stop);
      peeled = buffer.toString('latin1', valueStart, attributeEnd) as Oid;
    }
    at = attributeEnd + 1;
  }
  if (name === 'HEAD') {
    into.head = symrefTarget;
    // An unborn HEAD names a branch but no object: it is not a ref anyone can fetch.
    if (unborn) {
      into.headUnborn = true;
      return;
    }
  } else if (unborn) {
    return;
  }
  const ref: Ref = { name, hash: buffer.toString('latin1', start, hashEnd) as Oid, peeled };
  if (symrefTarget !== null) ref.symrefTarget = symrefTarget;
  into.refs.push(ref);
}
