/**
 * Short ref names resolved the way git resolves them (gitrevisions(7), "<refname>"): `X` is the
 * first of `X` itself (a full name), `refs/X`, `refs/tags/X`, `refs/heads/X`, `refs/remotes/X`,
 * `refs/remotes/X/HEAD` that exists. So `main`, `heads/main` and `refs/heads/main` all name
 * `refs/heads/main`, and a tag wins over a branch of the same name, as in git.
 */
import type { RefName } from '../types.js';

/** The full names `name` may stand for, in git's order. */
export function refCandidates(name: string): RefName[] {
  if (name.startsWith('refs/')) return [name as RefName];
  return [`refs/${name}`, `refs/tags/${name}`, `refs/heads/${name}`, `refs/remotes/${name}`, `refs/remotes/${name}/HEAD`] as RefName[];
}

/** The full name `name` resolves to among `existing`, or null. */
export function resolveRefName(name: string, existing: ReadonlySet<string>): RefName | null {
  return refCandidates(name).find((candidate) => existing.has(candidate)) ?? null;
}
