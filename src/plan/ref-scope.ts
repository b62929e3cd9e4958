/**
 * Which refs a run manages (docs/usage.md, "How each ref is decided"): branches (all, or `--branch`), plus `--map` entries,
 * plus `refs/tags/*` with `--tags`, plus every `refs/*` with `--all-refs`, minus
 * `--exclude-ref-prefix` (which never touches an explicit `--map` entry).
 *
 * Decisions where the contract is silent:
 * - With `--map` and no `--branch`, only the mapped refs are managed (plus tags / all refs when
 *   asked): naming some refs explicitly means "these", not "these and every branch".
 * - A mapped source is written only to its mapped target, never also under its own name.
 * - `refs/gitsync/*` (git-sync's temporary refs) are outside every pattern, on both sides: never
 *   copied by `--all-refs`, never pruned. Only an explicit `--map` can name them.
 * - The target-side scope (what may be pruned) is the same patterns applied to target names,
 *   plus every `--map` target. So with `--all-refs --map main:stable --prune`, a target
 *   `refs/heads/main` is pruned: the target mirrors the mapped image of the source.
 * - `--exclude-ref-prefix` is a plain string prefix (`refs/pull/` or `refs/heads/wip-`), and must
 *   start with `refs/`.
 */

import { UsageError } from '../errors.js';
import type { RefName } from '../types.js';
import { branchNameProblem } from './check-ref-format.js';
import {
  BRANCH_PREFIX,
  GITSYNC_TEMP_PREFIX,
  TAG_PREFIX,
  isManageableRefName,
} from './ref-kind.js';
import { parseRefMappings, type RefMapping } from './ref-map.js';

export interface ScopeFlags {
  /** `--branch` values as given; each may hold a comma-separated list. Absent: not given. */
  branches?: readonly string[] | undefined;
  /** `--map` values as given. */
  maps?: readonly string[] | undefined;
  tags?: boolean | undefined;
  allRefs?: boolean | undefined;
  excludeRefPrefixes?: readonly string[] | undefined;
}

export interface RefScope {
  /** `all`: every `refs/heads/*`; `mapped-only`: branches only through `--map`; else these full names. */
  readonly branches: 'all' | 'mapped-only' | readonly RefName[];
  readonly maps: readonly RefMapping[];
  readonly tags: boolean;
  readonly allRefs: boolean;
  readonly excludeRefPrefixes: readonly string[];
  readonly mapBySource: ReadonlyMap<RefName, RefMapping>;
  readonly mapByTarget: ReadonlyMap<RefName, RefMapping>;
}

/** `--branch a,b --branch c` -> [a, b, c] (deduplicated), each checked as a branch name. */
export function parseBranchList(values: readonly string[]): string[] {
  const names: string[] = [];
  for (const value of values) {
    for (const name of value.split(',')) {
      const trimmed = name.trim();
      if (trimmed === '') throw new UsageError(`--branch '${value}' has an empty name; list short branch names separated by commas`);
      if (trimmed.startsWith('refs/')) {
        throw new UsageError(`--branch takes short names: write '${trimmed.replace(/^refs\/heads\//, '')}' instead of '${trimmed}'`);
      }
      const problem = branchNameProblem(trimmed);
      if (problem !== null) throw new UsageError(`--branch '${trimmed}' is not a valid branch name: it ${problem}`);
      if (!names.includes(trimmed)) names.push(trimmed);
    }
  }
  if (names.length === 0) throw new UsageError('--branch needs at least one branch name');
  return names;
}

function parseExcludePrefixes(values: readonly string[]): string[] {
  for (const prefix of values) {
    if (!prefix.startsWith('refs/')) {
      throw new UsageError(`--exclude-ref-prefix '${prefix}' must start with refs/ (for example refs/pull/)`);
    }
  }
  return [...new Set(values)];
}

export function resolveScope(flags: ScopeFlags): RefScope {
  const allRefs = flags.allRefs === true;
  if (allRefs && flags.branches !== undefined) {
    throw new UsageError('--all-refs cannot be combined with --branch; drop one (use --branch with --tags for branches and tags)');
  }
  const maps = parseRefMappings(flags.maps ?? []);
  const mapBySource = new Map(maps.map((mapping) => [mapping.source, mapping] as const));
  const mapByTarget = new Map(maps.map((mapping) => [mapping.target, mapping] as const));
  let branches: RefScope['branches'];
  if (flags.branches !== undefined) {
    const listed = parseBranchList(flags.branches).map((name) => `${BRANCH_PREFIX}${name}`);
    for (const name of listed) {
      const asSource = mapBySource.get(name);
      if (asSource !== undefined && asSource.target !== name) {
        throw new UsageError(
          `${name} is listed in --branch and mapped by --map '${asSource.spec}'; a source has one target, drop it from --branch`,
        );
      }
      const asTarget = mapByTarget.get(name);
      if (asTarget !== undefined && asTarget.source !== name) {
        throw new UsageError(
          `${name} would receive both the branch listed in --branch and --map '${asTarget.spec}'; drop one of them`,
        );
      }
    }
    branches = listed;
  } else {
    branches = maps.length > 0 ? 'mapped-only' : 'all';
  }
  return {
    branches,
    maps,
    tags: flags.tags === true || allRefs,
    allRefs,
    excludeRefPrefixes: parseExcludePrefixes(flags.excludeRefPrefixes ?? []),
    mapBySource,
    mapByTarget,
  };
}

/** True when the name is excluded by a `--exclude-ref-prefix`. */
export function isExcluded(scope: RefScope, name: RefName): boolean {
  // A loop, not some() and its closure: every listed name is asked.
  const prefixes = scope.excludeRefPrefixes;
  for (let i = 0; i < prefixes.length; i++) if (name.startsWith(prefixes[i]!)) return true;
  return false;
}

/**
 * The pattern part of the scope (branches, tags, all refs, minus exclusions, minus git-sync's
 * temporary refs), without `--map`. It applies to source names and to target names alike.
 */
export function patternScopeContains(scope: RefScope, name: RefName): boolean {
  if (!isManageableRefName(name) || name.startsWith(GITSYNC_TEMP_PREFIX) || isExcluded(scope, name)) return false;
  if (scope.allRefs) return true;
  if (scope.tags && name.startsWith(TAG_PREFIX)) return true;
  if (!name.startsWith(BRANCH_PREFIX)) return false;
  if (scope.branches === 'all') return true;
  if (scope.branches === 'mapped-only') return false;
  return scope.branches.includes(name);
}

/** Where a source ref goes on the target, or null when the ref is not managed. */
export function targetNameFor(scope: RefScope, sourceName: RefName): RefName | null {
  const mapping = scope.mapBySource.get(sourceName);
  if (mapping !== undefined) return mapping.target;
  return patternScopeContains(scope, sourceName) ? sourceName : null;
}

/** True when a target ref lies inside the managed scope, so `--prune` may delete it. */
export function targetScopeContains(scope: RefScope, targetName: RefName): boolean {
  return scope.mapByTarget.has(targetName) || patternScopeContains(scope, targetName);
}

/**
 * `ref-prefix` values for a v2 `ls-refs` on the source, covering the scope (HEAD included for its
 * symref). The server may answer with more; the planner filters exactly.
 */
export function sourceRefPrefixes(scope: RefScope): string[] {
  const prefixes = ['HEAD'];
  if (scope.allRefs) {
    prefixes.push('refs/');
  } else {
    if (scope.branches === 'all') prefixes.push(BRANCH_PREFIX);
    else if (scope.branches !== 'mapped-only') prefixes.push(...scope.branches);
    if (scope.tags) prefixes.push(TAG_PREFIX);
  }
  for (const mapping of scope.maps) prefixes.push(mapping.source);
  const unique = [...new Set(prefixes)];
  return unique.filter((prefix) => !unique.some((other) => other !== prefix && prefix.startsWith(other)));
}
