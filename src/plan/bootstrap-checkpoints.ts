/** Evidence on the target of git-sync's own interrupted batched bootstrap. */

import type { Ref } from '../types.js';
import { BOOTSTRAP_TEMP_PREFIX } from './ref-kind.js';

/**
 * True when the target holds `refs/gitsync/bootstrap/*` checkpoints: a rerun resumes that
 * bootstrap, so target refs already equal to the source are its own finished work, not a refusal.
 */
export function hasBootstrapCheckpoints(targetRefs: readonly Ref[]): boolean {
  return targetRefs.some((ref) => ref.name.startsWith(BOOTSTRAP_TEMP_PREFIX));
}

/**
 * The branch a checkpoint ref holds history for: `refs/gitsync/bootstrap/heads/<branch>` and
 * `refs/gitsync/bootstrap/tips/<branch>/<batch>-<n>` name `refs/heads/<branch>`; null for any
 * other name.
 */
export function checkpointBranch(name: string): string | null {
  if (!name.startsWith(BOOTSTRAP_TEMP_PREFIX)) return null;
  const rest = name.slice(BOOTSTRAP_TEMP_PREFIX.length);
  if (rest.startsWith('heads/') && rest.length > 'heads/'.length) return `refs/heads/${rest.slice('heads/'.length)}`;
  const tips = /^tips\/(.+)\/\d+-\d+$/.exec(rest);
  return tips === null ? null : `refs/heads/${tips[1]}`;
}

/** Checkpoint refs on the target that hold history for a branch `manages` says the run manages. */
export function checkpointsOfManagedBranches(targetRefs: readonly Ref[], manages: (branch: string) => boolean): Ref[] {
  return targetRefs.filter((ref) => {
    const branch = checkpointBranch(ref.name);
    return branch !== null && manages(branch);
  });
}
