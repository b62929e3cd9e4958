/** What a full ref name is, judged by its namespace alone. */

import type { RefName } from '../types.js';

export type RefKind = 'branch' | 'tag' | 'other';

export const BRANCH_PREFIX = 'refs/heads/';
export const TAG_PREFIX = 'refs/tags/';
/** git-sync's own temporary refs on the target (batch checkpoints). */
export const GITSYNC_TEMP_PREFIX = 'refs/gitsync/';
/** Checkpoints of a batched bootstrap: `refs/gitsync/bootstrap/heads/<branch>`. */
export const BOOTSTRAP_TEMP_PREFIX = 'refs/gitsync/bootstrap/';

export function refKind(name: RefName): RefKind {
  if (name.startsWith(BRANCH_PREFIX)) return 'branch';
  if (name.startsWith(TAG_PREFIX)) return 'tag';
  return 'other';
}

/** `main` for `refs/heads/main`; null for anything that is not a branch. */
export function shortBranchName(name: RefName): string | null {
  return name.startsWith(BRANCH_PREFIX) ? name.slice(BRANCH_PREFIX.length) : null;
}

/**
 * Only names under `refs/` can be managed: HEAD (and FETCH_HEAD and the like) never are, and a
 * v1 `^{}` peel line is not a ref of its own (its value is already the owning ref's `peeled`).
 */
export function isManageableRefName(name: RefName): boolean {
  return name.startsWith('refs/') && !name.endsWith('^{}');
}

/** Plain code-unit order, so plans and commands come out the same on every machine and locale. */
export function compareRefNames(a: RefName, b: RefName): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
