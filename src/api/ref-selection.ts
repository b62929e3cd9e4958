/** Which advertised refs probe and fetch look at: branches, tags, or all of `refs/`. */
import { UsageError } from '../errors.js';
import type { Ref } from '../types.js';
import type { RefSelection } from './options.js';

export function validateSelection(selection: RefSelection): void {
  if (selection.allRefs && selection.branches && selection.branches.length > 0) {
    throw new UsageError('--all-refs cannot be combined with --branch: --all-refs already selects every ref');
  }
  for (const prefix of selection.excludeRefPrefixes ?? []) {
    if (!prefix.startsWith('refs/')) {
      throw new UsageError(`--exclude-ref-prefix ${JSON.stringify(prefix)} must start with "refs/"`);
    }
  }
}

/** The namespaces selected, as `ref-prefix` values for v2 ls-refs and for reports. */
export function selectionPrefixes(selection: RefSelection): string[] {
  if (selection.allRefs) return ['refs/'];
  const branches = selection.branches ?? [];
  const prefixes = branches.length > 0 ? branches.map((branch) => `refs/heads/${branch}`) : ['refs/heads/'];
  if (selection.tags) prefixes.push('refs/tags/');
  return prefixes;
}

export function selectRefs(refs: readonly Ref[], selection: RefSelection): Ref[] {
  const branches = new Set((selection.branches ?? []).map((branch) => `refs/heads/${branch}`));
  const excluded = selection.excludeRefPrefixes ?? [];
  return refs.filter((ref) => {
    if (!ref.name.startsWith('refs/')) return false;
    if (excluded.some((prefix) => ref.name.startsWith(prefix))) return false;
    if (selection.allRefs) return true;
    if (ref.name.startsWith('refs/heads/')) return branches.size === 0 || branches.has(ref.name);
    return Boolean(selection.tags) && ref.name.startsWith('refs/tags/');
  });
}
