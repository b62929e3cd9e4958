/**
 * git's ref-name rules applied to what a server lists (docs/security.md, "Clean terminals and
 * valid ref names"). A hostile or broken server can list any bytes as a name:
 * `refs/heads/../../x`, a carriage return, an escape sequence. git itself ignores such refs when
 * it fetches; git-sync does the same with every listing (source and target, advertisement and
 * `ls-refs`), so an invalid name is never planned, pushed, deleted or shown as a ref: it is
 * reported, with what is wrong with it, and skipped.
 */
import type { InvalidRefName, Ref } from '../types.js';
import { refNameProblem } from './check-ref-format.js';

export interface ScreenedListing {
  /** The refs whose names git accepts, in the server's order. */
  refs: Ref[];
  /** The branch HEAD names, or null when the server named none or an invalid one. */
  head: string | null;
  /** Every name skipped, with why. */
  invalid: InvalidRefName[];
}

/**
 * Splits a listing into the refs git would accept and the names it would not. `HEAD` is the one
 * name outside `refs/` a server lists; every other name must pass `git check-ref-format` (so it
 * has a `/`). The branch HEAD names (its symref target) is held to the same rules.
 */
export function screenListedRefs(refs: readonly Ref[], head: string | null): ScreenedListing {
  // The kept refs are copied out only from the first invalid name on: a listing with nothing
  // wrong comes back as it was given, with no second array of every ref.
  let kept: Ref[] | null = null;
  const invalid: InvalidRefName[] = [];
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]!;
    const problem = ref.name === 'HEAD' ? null : refNameProblem(ref.name);
    if (problem === null) {
      if (kept !== null) kept.push(ref);
    } else {
      kept ??= refs.slice(0, i);
      invalid.push({ name: ref.name, problem });
    }
  }
  const screened = kept ?? (refs as Ref[]);
  const headProblem = head === null ? null : refNameProblem(head);
  if (head !== null && headProblem !== null) {
    invalid.push({ name: head, problem: `${headProblem} (the branch HEAD names)` });
    for (const ref of screened) if (ref.name === 'HEAD' && ref.symrefTarget === head) ref.symrefTarget = null;
  }
  return { refs: screened, head: headProblem === null ? head : null, invalid };
}
