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
