/**
 * Which advertised refs probe and fetch look at. The rules are the planner's own scope
 * (`plan/ref-scope.ts`: branches or `--branch`, `--tags`, `--all-refs`, `--exclude-ref-prefix`,
 * the same usage errors); this file only adapts the options of the two read-only verbs to it.
 */
import { patternScopeContains, resolveScope, sourceRefPrefixes, type RefScope } from '../plan/index.js';
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

export function selectRefs(refs: readonly Ref[], scope: RefScope): Ref[] {
  return refs.filter((ref) => patternScopeContains(scope, ref.name));
}
