/**
 * One error hierarchy for the whole library. Every class carries a stable `code` that users'
 * scripts may match on, plus structured data; the CLI maps codes to messages and exit codes.
 */
import type { RunPhase, Side } from './types.js';

export type ErrorCode =
  | 'USAGE'
  | 'SOURCE_REF_MISSING'
  | 'PKT_LINE'
  | 'PROTOCOL'
  | 'REMOTE_ERROR'
  | 'PACK_FORMAT'
  | 'PACK_TOO_LARGE'
  | 'RESPONSE_TOO_LARGE'
  | 'LOCAL_STORAGE'
  | 'HTTP_STATUS'
  | 'HTTP_AUTH'
  | 'HTTP_CONTENT_TYPE'
  | 'NETWORK'
  | 'TIMEOUT_CONNECT'
  | 'TIMEOUT_HEADERS'
  | 'TIMEOUT_IDLE'
  | 'TIMEOUT_DEADLINE'
  | 'ABORTED'
  | 'UNSUPPORTED'
  | 'PROTOCOL_NOT_ALLOWED'
  | 'REF_BLOCKED'
  | 'TARGET_REJECTED'
  | 'TARGET_REF_MOVED'
  | 'MANIFEST_INVALID'
  | 'QUEUE_UNAVAILABLE';

/**
 * A next step the caller can take, as data: the library's messages never name command-line
 * flags; the CLI words advice with its own (cli/advice.ts), an embedding program with its own.
 */
export type Advice =
  /** Credentials for a side: `missing` (none were sent), `refused` (401 to given ones), `forbidden` (403), `helper-refused` (git's helper's were refused). */
  | { kind: 'credentials'; side: 'source' | 'target'; situation: 'missing' | 'refused' | 'forbidden' | 'helper-refused' }
  /** Follow an `info/refs` redirect for every later request of that side. */
  | { kind: 'follow-redirect'; side: 'source' | 'target' }
  /** Do not verify that side's TLS certificate (the last resort after trusting its CA). */
  | { kind: 'skip-tls-verify'; side: 'source' | 'target' }
  /** Allow a larger ref listing (`maxRefListingBytes`), when the repository really lists that much. */
  | { kind: 'raise-ref-listing-limit' };

export interface GitSyncErrorOptions {
  cause?: unknown;
}

export class GitSyncError extends Error {
  readonly code: ErrorCode;
  /**
   * The result of the operation as far as it got (for sync, plan, replicate and bootstrap: a
   * SyncResult with every field known before the failure, each ref's `applied` saying what the
   * target did), or null. The CLI prints it with the error.
   */
  result: unknown = null;
  /** A next step that is the caller's to word (a flag, an option), or null. */
  advice: Advice | null = null;
  /** The side whose server or data failed, when one did (set by the innermost layer that knows). */
  side: Side | null = null;
  /** What the run was doing when it failed (set by the run: docs/json.md, "error"). */
  phase: RunPhase | null = null;
  /**
   * The failure may well not happen again: a connection reset or refused, a stall, HTTP 429,
   * 502, 503 or 504. A run retries those where doing so is safe (docs/usage.md, "Timeouts and
   * retries").
   */
  transient = false;
  constructor(code: ErrorCode, message: string, options: GitSyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad flags, bad --map, the same repository twice: detected before any network traffic. */
export class UsageError extends GitSyncError {
  constructor(message: string, options?: GitSyncErrorOptions) {
    super('USAGE', message, options);
  }
}

/**
 * A ref the user named (`--branch`, a `--map` source, `--have-ref`) that the source does not
 * list: a usage error found once the source is listed (exit 2). Nothing was created or pushed.
 */
export class SourceRefMissingError extends GitSyncError {
  /** The full names the source does not have. */
  readonly refs: readonly string[];
  constructor(refs: readonly string[], message: string, options?: GitSyncErrorOptions) {
    super('SOURCE_REF_MISSING', message, options);
    this.refs = refs;
  }
}

/** Malformed pkt-line framing: bad length, truncated packet, or length out of range. */
export class PktLineError extends GitSyncError {
  constructor(message: string, options?: GitSyncErrorOptions) {
    super('PKT_LINE', message, options);
  }
}

/** A peer said something the protocol does not allow at that point. */
export class ProtocolError extends GitSyncError {
  constructor(message: string, options?: GitSyncErrorOptions) {
    super('PROTOCOL', message, options);
  }
}

/** The remote reported a fatal error itself: an `ERR` packet or sideband channel 3. */
export class RemoteError extends GitSyncError {
  readonly remoteMessage: string;
  constructor(remoteMessage: string, options?: GitSyncErrorOptions) {
    super('REMOTE_ERROR', `remote error: ${remoteMessage}`, options);
    this.remoteMessage = remoteMessage;
  }
}

/** The pack stream is not a valid pack (bad header, bad object, bad checksum, truncated). */
export class PackFormatError extends GitSyncError {
  constructor(message: string, options?: GitSyncErrorOptions) {
    super('PACK_FORMAT', message, options);
  }
}

/** A pack grew past the configured byte limit; the transfer was aborted. */
export class PackTooLargeError extends GitSyncError {
  readonly limitBytes: number;
  constructor(limitBytes: number, options?: GitSyncErrorOptions) {
    super('PACK_TOO_LARGE', `pack exceeds the limit of ${limitBytes} bytes; raise --max-pack-bytes or narrow the refs`, options);
    this.limitBytes = limitBytes;
  }
}

/**
 * What a server sent more of than git-sync reads (docs/security.md, "Bounded memory and time"):
 * `ref-listing` (a ref advertisement or `ls-refs` answer past `maxRefListingBytes`), or lines of
 * a part of the protocol that is short by nature: `capabilities` (a v2 capability
 * advertisement), `acknowledgments` (the lines before a fetch's pack), `push-report` (a
 * report-status), `helper-capabilities` and `helper-line` (a remote helper's handshake).
 */
export type Overflow = 'ref-listing' | 'capabilities' | 'acknowledgments' | 'push-report' | 'helper-capabilities' | 'helper-line';

/**
 * A server sent more than git-sync is prepared to read of one part of a conversation; the read
 * stopped there, before the excess was kept. `side` says whose server it was.
 */
export class ResponseTooLargeError extends GitSyncError {
  readonly overflow: Overflow;
  /** The bound that was passed, in `unit`s. */
  readonly limit: number;
  readonly unit: 'bytes' | 'lines';
  constructor(overflow: Overflow, limit: number, unit: 'bytes' | 'lines', message: string, options?: GitSyncErrorOptions) {
    super('RESPONSE_TOO_LARGE', message, options);
    this.overflow = overflow;
    this.limit = limit;
    this.unit = unit;
    if (overflow === 'ref-listing') this.advice = { kind: 'raise-ref-listing-limit' };
  }
}

/**
 * git-sync could not use local storage it needs (the spill file of a long commit history:
 * docs/architecture.md, "Commits stored as deltas"; the fleet's state database: docs/fleet.md,
 * "State"): a full disk, a missing or read-only directory. Nothing was pushed because of it.
 */
export class LocalStorageError extends GitSyncError {
  /** The directory git-sync tried to use. */
  readonly directory: string;
  constructor(directory: string, message: string, options?: GitSyncErrorOptions) {
    super('LOCAL_STORAGE', message, options);
    this.directory = directory;
  }
}

export interface HttpErrorData {
  status: number;
  /** Always redacted: never carries credentials. */
  url: string;
  /** The server's request-id headers (X-Request-Id, X-GitHub-Request-Id, Cf-Ray, ...). */
  requestIds: Record<string, string>;
}

/** An HTTP response with a status git-sync cannot continue from. */
export class HttpStatusError extends GitSyncError {
  readonly status: number;
  readonly url: string;
  readonly requestIds: Record<string, string>;
  /** How long the server asked to wait before trying again (`Retry-After`), or null. */
  retryAfterMillis: number | null = null;
  constructor(data: HttpErrorData, message: string, code: ErrorCode = 'HTTP_STATUS', options?: GitSyncErrorOptions) {
    super(code, message, options);
    this.status = data.status;
    this.url = data.url;
    this.requestIds = data.requestIds;
    this.transient = TRANSIENT_STATUSES.includes(data.status);
  }
}

/** HTTP statuses that say "not now": a run retries them where that is safe. */
export const TRANSIENT_STATUSES: readonly number[] = [429, 502, 503, 504];

/** HTTP statuses with which a host refuses a push body for its size or for how long it takes. */
export const PUSH_REFUSAL_STATUSES: readonly number[] = [408, 413, 504];

/**
 * The target refused a push body for its size or its duration (HTTP 408, 413 or 504); the
 * batched relay answers by splitting the push. Says how far the pack got before the refusal,
 * and a size the target named in it, if any. Its code stays `HTTP_STATUS`.
 */
export class PushRefusedError extends HttpStatusError {
  constructor(
    refusal: HttpStatusError,
    /** Pack bytes sent to the target before the refusal. */
    readonly packBytesSent: number,
    /** The body limit the target named in its answer, if it named one. */
    readonly namedLimit: number | null,
  ) {
    super({ status: refusal.status, url: refusal.url, requestIds: refusal.requestIds }, refusal.message, 'HTTP_STATUS', { cause: refusal });
  }
}

/** 401 / 403: missing or refused credentials. */
export class HttpAuthError extends HttpStatusError {
  constructor(data: HttpErrorData, message: string, options?: GitSyncErrorOptions) {
    super(data, message, 'HTTP_AUTH', options);
  }
}

/** The server answered, but not with a smart-protocol content type (dumb HTTP, HTML login page...). */
export class HttpContentTypeError extends HttpStatusError {
  readonly contentType: string;
  constructor(data: HttpErrorData, contentType: string, message: string) {
    super(data, message, 'HTTP_CONTENT_TYPE');
    this.contentType = contentType;
  }
}

/** Connection refused, reset, DNS failure, TLS failure. `transient` says whether trying again may help. */
export class NetworkError extends GitSyncError {
  readonly url: string;
  constructor(url: string, message: string, options?: GitSyncErrorOptions & { transient?: boolean }) {
    super('NETWORK', message, options);
    this.url = url;
    this.transient = options?.transient ?? false;
  }
}

/**
 * What ran out of time: `connect` (no connection), `headers` (a request sent, no answer),
 * `idle` (no progress either way for the idle timeout, mid-transfer: no whole packet from the
 * server, no byte taken by it), `deadline` (the whole run).
 */
export type TimeoutKind = 'connect' | 'headers' | 'idle' | 'deadline';

const TIMEOUT_CODES: Record<TimeoutKind, ErrorCode> = {
  connect: 'TIMEOUT_CONNECT',
  headers: 'TIMEOUT_HEADERS',
  idle: 'TIMEOUT_IDLE',
  deadline: 'TIMEOUT_DEADLINE',
};

/** A timeout expired; the code says which kind. All but the run's deadline are transient. */
export class TimeoutError extends GitSyncError {
  readonly kind: TimeoutKind;
  /** Where it happened (redacted), or null for the run's deadline. */
  readonly url: string | null;
  readonly timeoutMillis: number;
  constructor(kind: TimeoutKind, url: string | null, timeoutMillis: number, message: string, options?: GitSyncErrorOptions) {
    super(TIMEOUT_CODES[kind], message, options);
    this.kind = kind;
    this.url = url;
    this.timeoutMillis = timeoutMillis;
    this.transient = kind !== 'deadline';
  }
}

/** The caller's AbortSignal fired. */
export class AbortedError extends GitSyncError {
  constructor(message = 'operation aborted', options?: GitSyncErrorOptions) {
    super('ABORTED', message, options);
  }
}

/** The remote lacks something git-sync needs (a capability, a transport, an object format). */
export class UnsupportedError extends GitSyncError {
  constructor(message: string, options?: GitSyncErrorOptions) {
    super('UNSUPPORTED', message, options);
  }
}

/**
 * A source or target whose transport git's protocol rules (or the caller's `allowedProtocols`)
 * do not allow: refused before anything is started or sent (docs/security.md, "git's own
 * protocol rules").
 */
export class ProtocolNotAllowedError extends GitSyncError {
  /** The protocol's name as git names it: `https`, `ssh`, `file`, `ext`, a helper's scheme. */
  readonly protocol: string;
  constructor(protocol: string, message: string, options?: GitSyncErrorOptions) {
    super('PROTOCOL_NOT_ALLOWED', message, options);
    this.protocol = protocol;
  }
}

/** One ref the target refused, in the server's own words (report-status `ng <ref> <reason>`). */
export interface TargetRejection {
  readonly ref: string;
  readonly reason: string;
}

/** The target refused a push, in whole or in part: a hook, a policy, or a pack it could not unpack. */
export class TargetRejectedError extends GitSyncError {
  readonly rejections: readonly TargetRejection[];
  /** The `unpack <error>` text when the target could not unpack the pack, else null. */
  readonly unpackError: string | null;
  constructor(rejections: readonly TargetRejection[], unpackError: string | null, options?: GitSyncErrorOptions) {
    const listed = rejections.map((r) => `${r.ref} (${r.reason})`).join(', ');
    const message =
      unpackError !== null
        ? `target could not unpack the pushed pack: ${unpackError}; nothing was updated`
        : `target rejected ${rejections.length === 1 ? 'ref' : `${rejections.length} refs`}: ${listed}; see the target's messages for why`;
    super('TARGET_REJECTED', message, options);
    this.rejections = rejections;
    this.unpackError = unpackError;
  }
}

/** A target ref was not where git-sync read it (someone pushed meanwhile): the lease missed. */
export class TargetRefMovedError extends GitSyncError {
  readonly ref: string;
  /** The server's reason for refusing the update. */
  readonly reason: string;
  constructor(ref: string, reason: string, options?: GitSyncErrorOptions) {
    super('TARGET_REF_MOVED', `target ref ${ref} changed since it was read (${reason}); re-run to plan against its current state`, options);
    this.ref = ref;
    this.reason = reason;
  }
}

/** `sync`/`bootstrap` refused to push because the plan blocks refs (exit code 3). */
export class RefBlockedError extends GitSyncError {
  readonly refs: readonly string[];
  /** `hint`: the way out, when it is not --force-with-lease (a deletion guard's flag). */
  constructor(refs: readonly string[], options?: GitSyncErrorOptions & { hint?: string }) {
    const listed = refs.length <= 5 ? refs.join(', ') : `${refs.slice(0, 5).join(', ')} and ${refs.length - 5} more`;
    const hint = options?.hint ?? 'see the plan for why, or pass --force-with-lease to overwrite';
    super('REF_BLOCKED', `nothing pushed: ${refs.length === 1 ? 'ref' : `${refs.length} refs`} blocked (${listed}); ${hint}`, options);
    this.refs = refs;
  }
}

/**
 * A fleet manifest (docs/fleet.md) that cannot be used: bad YAML, a field the schema refuses, a
 * duplicate mirror id, or a secret written into it. The message names `file:line:column` and the
 * field (`mirrors[2].schedule`), never a secret's value.
 */
export class ManifestError extends GitSyncError {
  readonly file: string;
  /** 1-based; null when the problem is the file as a whole (it cannot be read). */
  readonly line: number | null;
  readonly column: number | null;
  /** The field at fault, as `mirrors[2].schedule`; null for the document as a whole. */
  readonly field: string | null;
  constructor(
    where: { file: string; line: number | null; column: number | null; field: string | null },
    problem: string,
    options?: GitSyncErrorOptions,
  ) {
    const position = where.line === null ? where.file : `${where.file}:${where.line}:${where.column ?? 1}`;
    super('MANIFEST_INVALID', `${position}: ${where.field === null ? '' : `${where.field}: `}${problem}`, options);
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
    this.field = where.field;
  }
}

/**
 * The distributed fleet's Redis (docs/fleet.md, "Distributed workers") cannot be reached or
 * refused a command. `url` is the queue URL as given, without a password (none is ever taken
 * from the URL).
 */
export class QueueError extends GitSyncError {
  readonly url: string;
  constructor(url: string, message: string, options?: GitSyncErrorOptions) {
    super('QUEUE_UNAVAILABLE', message, options);
    this.url = url;
    this.transient = true;
  }
}

/**
 * The error a fired signal stands for: its reason when that is already one of ours (a relay
 * aborts one side with the other side's failure), else an AbortedError naming `where`. The one
 * place an abort becomes an error.
 */
export function abortError(signal: AbortSignal, where: string | null = null): GitSyncError {
  const reason: unknown = signal.reason;
  if (reason instanceof GitSyncError) return reason;
  return new AbortedError(where === null ? 'operation aborted' : `${where}: aborted`, { cause: reason });
}

/** Names the side on an error that does not say yet; the innermost layer that knows wins. */
export function onSide<T>(error: T, side: Side): T {
  if (error instanceof GitSyncError && error.side === null) error.side = side;
  return error;
}

/** Throws abortError(signal) when the signal has fired; call at the edges of every I/O step. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
