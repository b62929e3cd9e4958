/**
 * The target's receive-pack side (gitprotocol-pack, "Pushing Data To a Server"): the
 * advertisement is always the v0/v1 format (receive-pack has no v2), refs plus the capabilities
 * that decide how a push can be sent; then the request git-sync sends. The target's answer is
 * read by report-status.ts.
 */
import { ProtocolError, UnsupportedError } from '../errors.js';
import type { ObjectFormat } from '../types.js';
import { isOid, isZeroOid, type Oid, type RefName } from '../types.js';
import type { Capabilities } from './capabilities.js';
import { FLUSH_PKT, pktLine } from '../wire/pktline.js';

export interface ReceivePackFeatures {
  reportStatus: boolean;
  reportStatusV2: boolean;
  deleteRefs: boolean;
  atomic: boolean;
  ofsDelta: boolean;
  sideBand64k: boolean;
  /** The server refuses thin packs: relays into it ask the source for self-contained ones. */
  noThin: boolean;
  pushOptions: boolean;
  quiet: boolean;
  objectFormat: ObjectFormat;
  agent: string | null;
}

export function receivePackFeatures(capabilities: Capabilities): ReceivePackFeatures {
  return {
    reportStatus: capabilities.has('report-status'),
    reportStatusV2: capabilities.has('report-status-v2'),
    deleteRefs: capabilities.has('delete-refs'),
    atomic: capabilities.has('atomic'),
    ofsDelta: capabilities.has('ofs-delta'),
    sideBand64k: capabilities.has('side-band-64k'),
    noThin: capabilities.has('no-thin'),
    pushOptions: capabilities.has('push-options'),
    quiet: capabilities.has('quiet'),
    objectFormat: capabilities.objectFormat(),
    agent: capabilities.get('agent'),
  };
}

/**
 * One ref update. A null (or all-zero) `oldHash` creates the ref, a null (or all-zero) `newHash`
 * deletes it; `oldHash` is the value git-sync read from the target, which receive-pack checks
 * before updating (a lease).
 */
export interface PushCommand {
  ref: RefName;
  oldHash: Oid | null;
  newHash: Oid | null;
}

export interface PushRequestOptions {
  /** All refs or none. The target must offer `atomic`. */
  atomic: boolean;
  /** Our agent string, sent only when the target advertises its own. */
  agent?: string;
  /** Use `report-status-v2` when offered (the default, as git does); false keeps `report-status`. */
  reportStatusV2?: boolean;
  /** Ask the target not to send progress while it unpacks, when it offers `quiet`. */
  quiet?: boolean;
  /** Strings for the target's hooks; the target must offer `push-options`. */
  pushOptions?: readonly string[];
  /** The object format of the ids in the commands; must match the target's. */
  objectFormat?: ObjectFormat;
}

function isAbsent(hash: Oid | null): boolean {
  return hash === null || isZeroOid(hash);
}

function isDelete(command: PushCommand): boolean {
  return isAbsent(command.newHash);
}

/**
 * True unless every command is a delete: a create or update must be followed by a pack, an empty
 * one (header and trailer only) when the target already has every object (gitprotocol-pack,
 * "Reference Update Request and Packfile Transfer"); a delete-only request must not carry one.
 */
export function emptyPackRequired(commands: readonly PushCommand[]): boolean {
  return !commands.every(isDelete);
}

// Control characters and space cannot appear in a ref name, and would break the command line.
const BAD_REF_CHAR = /[\x00-\x20\x7f]/;
// gitprotocol-pack: push-option = 1*( VCHAR | SP )
const PUSH_OPTION = /^[\x20-\x7e]+$/;

function commandLine(command: PushCommand, format: ObjectFormat): string {
  const length = format === 'sha256' ? 64 : 40;
  const zero = '0'.repeat(length);
  const { ref } = command;
  if (ref.length === 0 || BAD_REF_CHAR.test(ref)) throw new ProtocolError(`invalid ref name for a push command: ${JSON.stringify(ref)}`);
  for (const hash of [command.oldHash, command.newHash]) {
    if (hash !== null && (!isOid(hash) || hash.length !== length)) {
      throw new ProtocolError(`not a ${format} object id in the push command for ${ref}: ${JSON.stringify(hash)}`);
    }
  }
  if (isAbsent(command.oldHash) && isAbsent(command.newHash)) {
    throw new ProtocolError(`push command for ${ref} neither creates, updates nor deletes (both ids are zero)`);
  }
  return `${command.oldHash ?? zero} ${command.newHash ?? zero} ${ref}`;
}

/**
 * The command section of a push (gitprotocol-pack, "Reference Update Request and Packfile
 * Transfer"): one `old new ref` pkt-line per command with the capabilities after a NUL on the
 * first, a flush, and — when push options are given — the options and another flush. The pack,
 * if `emptyPackRequired(commands)`, follows these bytes unframed.
 *
 * Asks only for what the target offers: `report-status-v2` (else `report-status`; a push
 * without a report cannot be checked, so one of them is required), `side-band-64k`, `quiet`,
 * `atomic`, `push-options`, `object-format` (when not sha1), `agent`. `delete-refs` and
 * `ofs-delta` are server-only capabilities ("It is not sent back by the client"); a delete
 * requires the target to advertise `delete-refs`.
 */
export function receivePackRequest(features: ReceivePackFeatures, commands: readonly PushCommand[], options: PushRequestOptions): Buffer {
  if (commands.length === 0) throw new ProtocolError('a push needs at least one command');
  const format = features.objectFormat;
  if (options.objectFormat !== undefined && options.objectFormat !== format) {
    throw new UnsupportedError(`the target uses ${format} object ids, the push has ${options.objectFormat} ids`);
  }
  const seen = new Set<string>();
  for (const command of commands) {
    if (seen.has(command.ref)) throw new ProtocolError(`ref ${command.ref} appears twice in one push`);
    seen.add(command.ref);
  }
  if (!features.deleteRefs) {
    const deletion = commands.find(isDelete);
    if (deletion !== undefined) {
      throw new UnsupportedError(`the target does not accept ref deletions (no delete-refs capability); cannot delete ${deletion.ref}`);
    }
  }
  const pushOptions = options.pushOptions ?? [];
  for (const option of pushOptions) {
    if (!PUSH_OPTION.test(option)) throw new ProtocolError(`invalid push option ${JSON.stringify(option)}: printable ASCII only`);
  }

  const caps: string[] = [];
  if (features.reportStatusV2 && options.reportStatusV2 !== false) caps.push('report-status-v2');
  else if (features.reportStatus) caps.push('report-status');
  else throw new UnsupportedError('the target offers neither report-status nor report-status-v2, so push results could not be checked');
  if (features.sideBand64k) caps.push('side-band-64k');
  if (options.quiet && features.quiet) caps.push('quiet');
  if (options.atomic) {
    if (!features.atomic) throw new UnsupportedError('an atomic push was requested but the target does not offer atomic');
    caps.push('atomic');
  }
  if (pushOptions.length > 0) {
    if (!features.pushOptions) throw new UnsupportedError('push options were given but the target does not offer push-options');
    caps.push('push-options');
  }
  if (format !== 'sha1') caps.push(`object-format=${format}`);
  if (options.agent !== undefined && features.agent !== null) caps.push(`agent=${options.agent}`);

  const parts = commands.map((command, index) => {
    const line = commandLine(command, format);
    return pktLine(index === 0 ? `${line}\0${caps.join(' ')}\n` : `${line}\n`);
  });
  parts.push(FLUSH_PKT);
  if (pushOptions.length > 0) {
    for (const option of pushOptions) parts.push(pktLine(option));
    parts.push(FLUSH_PKT);
  }
  return Buffer.concat(parts);
}
