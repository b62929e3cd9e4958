/**
 * One interface for every way git-sync reaches a repository. A connection starts with the
 * server's advertisement; each `request` sends one protocol request and returns a reader over
 * its response. Stateless transports (HTTP) make one POST per request; stateful ones (SSH,
 * local, git://) write to the same channel and keep reading from it. Transports move bytes and
 * count them; they know nothing about refs.
 */
import { ResponseTooLargeError } from '../errors.js';
import type { PktLineReader } from '../wire/pktline.js';
import type { Service } from '../types.js';
import type { PhaseName } from '../observe/stats.js';
import type { ObjectFormat } from '../types.js';
import type { ProtocolVersion } from '../types.js';
import type { Side } from '../types.js';

/**
 * The most bytes one ref listing may take (an advertisement, or an `ls-refs` answer) unless the
 * caller says otherwise: 32 MiB, about 450,000 refs of usual length. Parsed refs take about 3.5
 * times their bytes in memory, so a server that lists without end stops at about 110 MiB
 * (docs/security.md, "Bounded memory and time").
 */
export const DEFAULT_MAX_REF_LISTING_BYTES = 32 * 1024 * 1024;

/** The phases whose responses are ref listings (the advertisement, `ls-refs`), bounded by `maxRefListingBytes`. */
export function isListingPhase(phase: PhaseName): boolean {
  return phase !== 'source fetch' && phase !== 'target push';
}

/** The error of a listing that went past its bound: every transport throws this one. */
export function refListingTooLarge(where: string, side: Side | undefined, limit: number): ResponseTooLargeError {
  const whose = side === undefined ? 'the server' : `the ${side}`;
  const error = new ResponseTooLargeError('ref-listing', limit, 'bytes', `${where}: ${whose}'s ref listing exceeds ${limit} bytes; stopped reading it`);
  if (side !== undefined) error.side = side;
  return error;
}

export interface ConnectOptions {
  /** The protocol the client asks for; the server may answer with an older one. */
  protocol: ProtocolVersion;
  phase: PhaseName;
  signal?: AbortSignal;
  /**
   * receive-pack only: a transport that creates missing targets (local paths) does not when this
   * is true; a missing target then reads as an empty repository (for plan and probe).
   */
  readOnly?: boolean;
  /**
   * receive-pack only: how a target the transport creates is made (a local path that does not
   * exist yet): the source's object format, and the branch its HEAD names (the source's default
   * branch, so a clone of the new repository checks it out). Default: SHA-1 and git's default.
   */
  createAs?: NewRepository;
  /**
   * The request the caller expects to send first, when it can guess it before the advertisement
   * (a v2 `ls-refs`). A transport whose requests are independent exchanges (smart HTTP) sends it
   * now, alongside the advertisement's, and offers its answer as `GitConnection.speculated`; the
   * others ignore it (docs/architecture.md, "One round trip for a listing").
   */
  speculate?: { body: Buffer; phase: PhaseName };
}

/**
 * The answer to `ConnectOptions.speculate`. The caller takes it only when the request it means to
 * send is the guess byte for byte, and drops it otherwise; either way, once.
 */
export interface SpeculatedRequest {
  /**
   * The answer, as `request` would have given it (its errors too), or null when the transport
   * found the guess sent under other conditions than the request would be (the advertisement
   * was redirected, or needed credentials the guess went without): send the request then.
   */
  take(): Promise<PktLineReader | null>;
  /**
   * Not wanted: stops it and releases what came. After `take`, once its answer is read: lets go
   * of the caller's signal. Always called, once or more.
   */
  drop(): void;
}

/** What a repository created by a transport is like. */
export interface NewRepository {
  objectFormat: ObjectFormat;
  /** Short branch name HEAD points at, or null for git's default. */
  headBranch: string | null;
}

export interface RequestOptions {
  phase: PhaseName;
  signal?: AbortSignal;
}

export type RequestBody = Buffer | AsyncIterable<Uint8Array>;

export interface GitConnection {
  /** Reader positioned at the start of the advertisement. */
  readonly advertisement: PktLineReader;
  /**
   * True when each request is its own exchange (smart HTTP): the advertisement and every
   * response are separate bodies, each released once read, and nothing needs reopening between
   * requests. False for a stateful channel (SSH, local, `git://`, helpers), where responses follow
   * one another on one stream and a server that hangs up after a v1 fetch or a push needs a new
   * connection. Whatever the transport, the advertisement starts at the protocol's first packet
   * (smart HTTP's `# service=` header is the HTTP transport's to remove).
   */
  readonly stateless: boolean;
  /** A read-only connection to a target that does not exist yet (it advertises no refs). */
  readonly missing?: boolean;
  /** The answer to `ConnectOptions.speculate`, where the transport sent it. */
  readonly speculated?: SpeculatedRequest;
  request(body: RequestBody, options: RequestOptions): Promise<PktLineReader>;
  close(): Promise<void>;
}

export interface Transport {
  readonly kind: 'http' | 'ssh' | 'local' | 'git' | 'helper';
  /** Redacted, safe to print. */
  readonly displayUrl: string;
  connect(service: Service, options: ConnectOptions): Promise<GitConnection>;
  /** Releases what the transport keeps between connections (an HTTP connection pool). */
  close?(): Promise<void>;
  /** The whole operation succeeded: credentials a helper supplied may be stored (HTTP). */
  approveCredentials?(): Promise<void>;
  /**
   * Local repositories only: point HEAD at `ref` (a full branch name). Remote hosts set their
   * default branch through their own API, not through git.
   */
  setHead?(ref: string, signal?: AbortSignal): Promise<void>;
}
