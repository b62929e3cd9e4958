/**
 * Protocol v2 `ls-refs` (gitprotocol-v2, "ls-refs"). Request: `command=ls-refs`, capability
 * lines, delim, then arguments (`peel`, `symrefs`, `unborn`, `ref-prefix <p>`), flush. Response:
 * `oid refname [symref-target:<t>] [peeled:<oid>]` per ref, or `unborn HEAD symref-target:<t>`
 * for a HEAD whose branch has no commit yet, then flush.
 */
import { ProtocolError, RemoteError } from '../errors.js';
import { isOid, type Oid, type Ref } from '../types.js';
import type { Capabilities } from './capabilities.js';
import { DELIM_PKT, FLUSH_PKT, PktLineReader, describePacket, packetText, pktLine } from '../wire/pktline.js';
import { splitRefLine } from './ref-line.js';

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
  const refs: Ref[] = [];
  let head: string | null = null;
  let headUnborn = false;
  for (;;) {
    // What each chunk holds is taken without an await per packet (PktLineReader.readBuffered).
    const packet = reader.readBuffered() ?? (await reader.readRequired('the ls-refs response'));
    if (packet.type === 'flush') break;
    if (packet.type !== 'data') throw new ProtocolError(`unexpected ${describePacket(packet)} in the ls-refs response`);
    if (packet.data.subarray(0, 4).toString('latin1') === 'ERR ') throw new RemoteError(packetText(packet).slice(4));
    const { hash, name, rest } = splitRefLine(packet.data);
    if (name.length === 0 || (hash !== 'unborn' && !isOid(hash))) {
      throw new ProtocolError(`malformed ls-refs line ${JSON.stringify(packetText(packet).slice(0, 80))}`);
    }
    let symrefTarget: string | null = null;
    let peeled: Oid | null = null;
    for (const attribute of rest === null ? [] : rest.split(' ')) {
      if (attribute.startsWith('symref-target:')) symrefTarget = attribute.slice('symref-target:'.length);
      else if (attribute.startsWith('peeled:')) {
        const value = attribute.slice('peeled:'.length);
        if (!isOid(value)) throw new ProtocolError(`malformed peeled value in ${JSON.stringify(packetText(packet).slice(0, 80))}`);
        peeled = value as Oid;
      }
    }
    if (name === 'HEAD') {
      head = symrefTarget;
      // An unborn HEAD names a branch but no object: it is not a ref anyone can fetch.
      if (hash === 'unborn') {
        headUnborn = true;
        continue;
      }
    } else if (hash === 'unborn') {
      continue;
    }
    const ref: Ref = { name, hash: hash as Oid, peeled };
    if (symrefTarget !== null) ref.symrefTarget = symrefTarget;
    refs.push(ref);
  }
  return { refs, head, headUnborn };
}
