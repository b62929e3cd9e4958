/** The human reasons attached to plans (docs/usage.md, "How each ref is decided" examples), hashes shortened to 8 characters. */

import type { Oid, RefName } from '../types.js';
import type { RefKind } from './ref-kind.js';

export const SHORT_HASH_LENGTH = 8;

export function shortHash(oid: Oid): string {
  return oid.slice(0, SHORT_HASH_LENGTH);
}

export const reasons = {
  current: (hash: Oid): string => `${shortHash(hash)} already current`,
  created: (hash: Oid): string => `${shortHash(hash)} -> new`,
  moved: (from: Oid, to: Oid): string => `${shortHash(from)} -> ${shortHash(to)}`,
  forced: (from: Oid, to: Oid): string => `${shortHash(from)} -> ${shortHash(to)} (forced)`,
  notAncestor: (target: Oid, source: Oid): string => `${shortHash(target)} is not an ancestor of ${shortHash(source)}`,
  unknownToSource: (target: Oid, source: Oid): string =>
    `${shortHash(target)} is not an ancestor of ${shortHash(source)} (the source does not have ${shortHash(target)})`,
  differs: (kind: RefKind, targetRef: RefName): string =>
    `${kind === 'tag' ? 'tag' : 'ref'} ${targetRef} differs; use --force-with-lease to retarget`,
  deleted: (hash: Oid): string => `${shortHash(hash)} -> deleted`,
  existsForBootstrap: (hash: Oid): string => `exists on target at ${shortHash(hash)}; bootstrap only creates refs, use sync instead`,
  targetRejected: (serverReason: string): string => `target rejected: ${serverReason}`,
};
