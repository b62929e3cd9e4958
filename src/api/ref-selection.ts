/**
 * Which advertised refs probe and fetch look at. The rules are the planner's own scope
 * (`plan/ref-scope.ts`: branches or `--branch`, `--tags`, `--all-refs`, `--exclude-ref-prefix`,
 * the same usage errors); this file only adapts the options of the two read-only verbs to it.
 */
import { SourceRefMissingError } from '../errors.js';
import { missingSourceRefs, patternScopeContains, resolveScope, sourceRefPrefixes, type MissingSourceRef, type RefScope } from '../plan/index.js';
import type { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { Ref } from '../types.js';
import type { RefSelection } from './options.js';

/** Validates the selection (throws UsageError) and returns it as a planner scope. */
export function selectionScope(selection: RefSelection): RefScope {
  return resolveScope({
    branches: selection.branches && selection.branches.length > 0 ? selection.branches : undefined,
    tags: selection.tags,
    allRefs: selection.allRefs,
    excludeRefPrefixes: selection.excludeRefPrefixes,
  });
}

/** The namespaces selected (`refs/heads/`, `refs/tags/`, `refs/`, or named branches). */
export function selectionPrefixes(scope: RefScope): string[] {
  return sourceRefPrefixes(scope).filter((prefix) => prefix !== 'HEAD');
}

/**
 * Throws SourceRefMissingError naming every ref the user gave (`--branch`, `--map` source,
 * `--have-ref`, as `extra`) that the source does not list, with the branches it does list
 * (asked from the source only then: the run's own listing may hold only the named refs).
 */
export async function assertNamedRefsListed(
  scope: RefScope,
  session: UploadPackSession,
  extra: readonly MissingSourceRef[] = [],
  signal?: AbortSignal,
): Promise<void> {
  const missing = [...missingSourceRefs(scope, session.discovery.refs), ...extra];
  if (missing.length === 0) return;
  const listed = await session.listRefs(['refs/heads/'], signal).catch(() => session.discovery.refs);
  const branches = listed.filter((ref) => ref.name.startsWith('refs/heads/')).map((ref) => ref.name.slice('refs/heads/'.length));
  const has = branches.length === 0
    ? 'it lists no branches'
    : `its branches: ${branches.slice(0, 10).join(', ')}${branches.length > 10 ? ` and ${branches.length - 10} more` : ''}`;
  const named = missing.map((m) => `${m.ref} (${m.given})`).join(', ');
  throw new SourceRefMissingError(
    missing.map((m) => m.ref),
    `${session.displayUrl} has no ${named}; ${has}; check the name (nothing was created or pushed)`,
  );
}

export function selectRefs(refs: readonly Ref[], scope: RefScope): Ref[] {
  return refs.filter((ref) => patternScopeContains(scope, ref.name));
}
