/** Core value types shared by every layer. */

/** A full object id in lowercase hex (40 characters for SHA-1, 64 for SHA-256). */
export type Oid = string & { readonly brand: 'Oid' };

/** A full ref name such as `refs/heads/main` or `HEAD`. */
export type RefName = string;

export const ZERO_OID_SHA1 = '0000000000000000000000000000000000000000' as Oid;

const OID_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function isOid(value: string): value is Oid {
  return OID_RE.test(value);
}

export function isZeroOid(oid: string): boolean {
  return /^0+$/.test(oid);
}

/** A ref as a remote advertises it. */
export interface Ref {
  name: RefName;
  hash: Oid;
  /** For annotated tags: the object the tag points at (`^{}` in v1, `peeled:` in v2). */
  peeled: Oid | null;
  /** For symbolic refs when the server says so (`symref-target:` in v2). */
  symrefTarget?: RefName | null;
}

/**
 * A name a server listed that git's rules refuse (git-check-ref-format(1)): skipped, never
 * planned or pushed (docs/security.md). `problem` completes "ref name '<name>' ...".
 */
export interface InvalidRefName {
  name: string;
  problem: string;
}

export type ProtocolVersion = 'v1' | 'v2';
export type ProtocolPreference = 'auto' | ProtocolVersion;

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** The hash a repository uses for object ids and pack trailers. */
export type ObjectFormat = 'sha1' | 'sha256';

/** Bytes of an object id (and of a pack trailer) in each object format. */
export function idBytes(format: ObjectFormat): number {
  return format === 'sha1' ? 20 : 32;
}

/** The two git services a client talks to. */
export type Service = 'git-upload-pack' | 'git-receive-pack';

/**
 * One line of a server's progress text (sideband band 2). `transient` is true when git ended it
 * with `\r`: an in-place update the next line replaces (a terminal shows only the latest).
 */
export type ProgressCallback = (message: string, transient: boolean) => void;

/** The two ends of a run. */
export type Side = 'source' | 'target';

/** What a run is doing: listing refs, answering ancestry questions, placing batch checkpoints, fetching, pushing. */
export type RunPhase = 'discover' | 'ancestry' | 'checkpoints' | 'fetch' | 'push';
