/**
 * The target's answer to a push (gitprotocol-pack, "Report Status" and "report-status-v2"):
 * `unpack ok` or `unpack <error>`, then one `ok <ref>` or `ng <ref> <reason>` per command, with
 * report-status-v2 `option` lines after an `ok`, then a flush. With side-band-64k the whole
 * report, its own pkt-lines and flush included, travels inside band 1, and hook output shows up
 * on band 2, before the report (pre-receive, update) and after it (post-receive).
 */
import {
  GitSyncError,
  PktLineError,
  ProtocolError,
  RemoteError,
  ResponseTooLargeError,
  TargetRefMovedError,
  TargetRejectedError,
  throwIfAborted,
  type TargetRejection,
} from '../errors.js';
import { isOid, type Oid, type RefName } from '../types.js';
import { PktLineReader, describePacket, packetText } from '../wire/pktline.js';
import type { PushCommand } from './receive-pack.js';
import { demuxSideband, type ProgressCallback } from '../wire/sideband.js';

/** report-status-v2 options: what a `proc-receive` hook really did with an `ok` command. */
export interface RefReportOptions {
  /** The ref actually updated, when it differs from the one in the command. */
  refname: RefName | null;
  oldOid: Oid | null;
  newOid: Oid | null;
  forcedUpdate: boolean;
}

export type RefReport =
  | { ref: RefName; status: 'ok'; reason: null; options: RefReportOptions | null }
  | { ref: RefName; status: 'ng'; reason: string; options: null };

export interface PushReport {
  unpackOk: boolean;
  /** The text after `unpack` when unpacking failed, else null. */
  unpackError: string | null;
  refs: RefReport[];
  /**
   * `error: ...` lines the target wrote on band 2 (at most MAX_REMOTE_ERRORS). They name the ref
   * behind a bare "atomic transaction failed" (`cannot lock ref '<ref>': is at X but expected Y`).
   */
  remoteErrors: string[];
}

export interface ReportStatusOptions {
  /** True when side-band-64k was negotiated. */
  sideband: boolean;
  /**
   * How many commands the push sent: the report may hold REPORT_LINES_PER_COMMAND lines for each
   * (a status and report-status-v2 options), plus the unpack line. Default 65536.
   */
  commands?: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

const MAX_REMOTE_ERRORS = 100;

/**
 * Report lines per command at most: its `ok`/`ng` and the four report-status-v2 options
 * (`refname`, `old-oid`, `new-oid`, `forced-update`), with one to spare. A target that reports
 * without end is stopped there (docs/security.md, "Bounded memory and time").
 */
export const REPORT_LINES_PER_COMMAND = 6;

function malformed(text: string): ProtocolError {
  return new ProtocolError(`malformed push report line ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text)}`);
}

/** Parses report lines one at a time, enforcing their order. */
class ReportParser {
  private unpack: { ok: boolean; error: string | null } | null = null;
  private readonly refs: RefReport[] = [];

  line(text: string): void {
    if (text.startsWith('ERR ')) throw new RemoteError(text.slice(4));
    const space = text.indexOf(' ');
    const keyword = space < 0 ? text : text.slice(0, space);
    const rest = space < 0 ? '' : text.slice(space + 1);
    if (this.unpack === null) {
      if (keyword !== 'unpack' || rest.length === 0) {
        throw new ProtocolError(`push report must start with an unpack status, got ${JSON.stringify(text.slice(0, 80))}`);
      }
      this.unpack = rest === 'ok' ? { ok: true, error: null } : { ok: false, error: rest };
      return;
    }
    if (keyword === 'ok') {
      if (rest.length === 0 || rest.includes(' ')) throw malformed(text);
      this.refs.push({ ref: rest, status: 'ok', reason: null, options: null });
    } else if (keyword === 'ng') {
      const gap = rest.indexOf(' ');
      if (gap <= 0 || gap === rest.length - 1) throw malformed(text);
      this.refs.push({ ref: rest.slice(0, gap), status: 'ng', reason: rest.slice(gap + 1), options: null });
    } else if (keyword === 'option') {
      this.option(text, rest);
    } else {
      throw malformed(text);
    }
  }

  /** `option refname|old-oid|new-oid <value>` or `option forced-update`, only after an `ok`. */
  private option(text: string, rest: string): void {
    const last = this.refs[this.refs.length - 1];
    if (last === undefined || last.status !== 'ok') throw new ProtocolError(`report option without a preceding ok line: ${JSON.stringify(text)}`);
    const options = (last.options ??= { refname: null, oldOid: null, newOid: null, forcedUpdate: false });
    const space = rest.indexOf(' ');
    const key = space < 0 ? rest : rest.slice(0, space);
    const value = space < 0 ? null : rest.slice(space + 1);
    const once = (present: boolean): void => {
      if (present) throw new ProtocolError(`repeated report option ${JSON.stringify(key)} for ${last.ref}`);
    };
    if (key === 'forced-update') {
      if (value !== null) throw malformed(text);
      once(options.forcedUpdate);
      options.forcedUpdate = true;
    } else if (key === 'refname') {
      if (value === null || value.length === 0 || value.includes(' ')) throw malformed(text);
      once(options.refname !== null);
      options.refname = value;
    } else if (key === 'old-oid' || key === 'new-oid') {
      if (value === null || !isOid(value)) throw malformed(text);
      const field = key === 'old-oid' ? 'oldOid' : 'newOid';
      once(options[field] !== null);
      options[field] = value;
    }
    // Other option keys are ignored: later protocol extensions may add them.
  }

  finish(): Omit<PushReport, 'remoteErrors'> {
    if (this.unpack === null) throw new ProtocolError('push report is empty: no unpack status');
    if (this.refs.length === 0) throw new ProtocolError('push report has no ref status lines');
    return { unpackOk: this.unpack.ok, unpackError: this.unpack.error, refs: this.refs };
  }

  describe(): string {
    if (this.unpack === null) return 'before the unpack status';
    return `after ${this.refs.length} ref status line${this.refs.length === 1 ? '' : 's'}`;
  }
}

/** Reads report lines up to the report's flush; returns the parsed report. */
async function readReportLines(reader: PktLineReader, options: ReportStatusOptions): Promise<Omit<PushReport, 'remoteErrors'>> {
  const parser = new ReportParser();
  const limit = 1 + REPORT_LINES_PER_COMMAND * (options.commands ?? 65536);
  for (let lines = 0; ; lines++) {
    throwIfAborted(options.signal);
    const packet = await reader.read();
    if (packet === null) throw new ProtocolError(`push report truncated: the target's answer ended ${parser.describe()}, before its flush`);
    if (packet.type === 'flush') return parser.finish();
    if (lines === limit) {
      throw new ResponseTooLargeError('push-report', limit, 'lines', `the push report has more than ${limit} lines for ${options.commands ?? 65536} command(s); stopped reading it`);
    }
    if (packet.type !== 'data') throw new ProtocolError(`unexpected ${describePacket(packet)} in a push report`);
    parser.line(packetText(packet));
  }
}

/**
 * Reads the target's push report. Without sideband it is the pkt-lines on `reader` up to a flush
 * (the reader is left just after it). With sideband, band 1 is re-framed as a pkt-line stream of
 * its own, band 2 goes to `onProgress`, band 3 throws a RemoteError, and the response is read to
 * its end (the outer flush), so output after the report (post-receive hooks) is not lost.
 */
export async function readReportStatus(reader: PktLineReader, options: ReportStatusOptions): Promise<PushReport> {
  const remoteErrors: string[] = [];
  try {
    if (!options.sideband) return { ...(await readReportLines(reader, options)), remoteErrors };
    const onProgress = (message: string, transient: boolean): void => {
      if (message.startsWith('error:') && remoteErrors.length < MAX_REMOTE_ERRORS) remoteErrors.push(message);
      options.onProgress?.(message, transient);
    };
    const inner = new PktLineReader(demuxSideband(reader, { onProgress, signal: options.signal }));
    const report = await readReportLines(inner, options);
    const extra = await inner.read();
    if (extra !== null) throw new ProtocolError(`unexpected ${describePacket(extra)} after the push report`);
    return { ...report, remoteErrors };
  } catch (error) {
    if (error instanceof PktLineError) throw new ProtocolError(`malformed push report: ${error.message}`, { cause: error });
    throw error;
  }
}

export type RejectionKind = 'stale' | 'non-fast-forward' | 'hook' | 'other';

// Wordings seen from git 2.39 receive-pack (captured by test/fixtures/capture-push-transcripts.sh):
// a wrong old value or an existing ref on create gives "failed to update ref" ("atomic transaction
// failed" in an atomic push); the others are git's send-pack wordings for the same situation and
// what other servers (libgit2-based hosts among them) say.
const STALE = [
  /stale info/i,
  /fetch first/i,
  /incorrect old value/i,
  /failed to update ref/i,
  /cannot lock ref/i,
  /failed to lock/i,
  /already exists/i,
  /atomic transaction failed/i,
  /is at [0-9a-f]+ but expected/i,
  /expected old (?:value|oid|id)/i,
];
const NON_FAST_FORWARD = [/non-fast-forward/i, /not a fast.forward/i, /needs force/i, /fast-forwards? only/i];
const HOOK = [/hook declined/i, /\bhook\b/i];

/** What kind of refusal an `ng` reason is, whatever the server's wording. */
export function classifyRejection(reason: string): RejectionKind {
  if (HOOK.some((re) => re.test(reason))) return 'hook';
  if (NON_FAST_FORWARD.some((re) => re.test(reason))) return 'non-fast-forward';
  if (STALE.some((re) => re.test(reason))) return 'stale';
  return 'other';
}

// `error: cannot lock ref 'refs/heads/x': is at ... but expected ...` on band 2.
const LOCK_MESSAGE = /cannot lock ref '([^']+)'/;

/**
 * The error a push report amounts to, or null when the target updated every command's ref.
 * A lease miss (a `stale` rejection) wins, naming the ref that moved — in an atomic push git
 * only says "atomic transaction failed" for every ref, so the ref is taken from its band-2
 * `cannot lock ref` message when there is one. A command the report does not mention counts as
 * a protocol error: the push's outcome for that ref is unknown.
 */
export function pushReportError(report: PushReport, commands: readonly PushCommand[]): GitSyncError | null {
  const reported = new Set(report.refs.map((r) => r.ref));
  const missing = commands.find((command) => !reported.has(command.ref));
  if (missing !== undefined) return new ProtocolError(`the target's push report says nothing about ${missing.ref}`);
  const rejections: TargetRejection[] = report.refs.flatMap((r) => (r.status === 'ng' ? [{ ref: r.ref, reason: r.reason }] : []));
  if (!report.unpackOk) return new TargetRejectedError(rejections, report.unpackError);
  if (rejections.length === 0) return null;
  const stale = rejections.filter((r) => classifyRejection(r.reason) === 'stale');
  if (stale.length > 0) {
    const locked = report.remoteErrors.map((m) => LOCK_MESSAGE.exec(m)?.[1]).find((ref) => ref !== undefined && stale.some((r) => r.ref === ref));
    const moved = stale.find((r) => r.ref === locked) ?? stale[0]!;
    return new TargetRefMovedError(moved.ref, moved.reason);
  }
  return new TargetRejectedError(rejections, null);
}
