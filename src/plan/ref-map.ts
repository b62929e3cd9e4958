/**
 * `--map src:dst` entries: `main:stable` (short branch names) or full names on both sides
 * (`refs/heads/x:refs/heads/y`, `refs/tags/a:refs/tags/b`, `refs/notes/a:refs/notes/b`).
 */

import { UsageError } from '../errors.js';
import type { RefName } from '../types.js';
import { branchNameProblem, refNameProblem } from './check-ref-format.js';
import { BRANCH_PREFIX, refKind, type RefKind } from './ref-kind.js';

export interface RefMapping {
  /** The entry as the user wrote it, for messages. */
  spec: string;
  source: RefName;
  target: RefName;
  kind: RefKind;
}

const KIND_WORDS: Record<RefKind, string> = { branch: 'a branch', tag: 'a tag', other: 'a non-branch, non-tag ref' };

function isFullName(side: string): boolean {
  return side.startsWith('refs/');
}

function checkSide(spec: string, side: string, full: boolean): RefName {
  if (full) {
    const problem = refNameProblem(side);
    if (problem !== null) throw new UsageError(`--map '${spec}': ref name '${side}' ${problem}; fix the name`);
    return side;
  }
  const problem = branchNameProblem(side);
  if (problem !== null) throw new UsageError(`--map '${spec}': branch name '${side}' ${problem}; fix the name`);
  return `${BRANCH_PREFIX}${side}`;
}

export function parseRefMapping(spec: string): RefMapping {
  if (spec.startsWith('+')) {
    throw new UsageError(`--map '${spec}': a leading '+' is refspec syntax; drop it and pass --force-with-lease to allow overwrites`);
  }
  const parts = spec.split(':');
  if (parts.length !== 2) {
    throw new UsageError(`--map '${spec}' must have exactly one ':' between source and target, e.g. --map main:stable`);
  }
  const [sourceSide, targetSide] = parts as [string, string];
  if (sourceSide === '' || targetSide === '') {
    throw new UsageError(`--map '${spec}' needs a name on both sides of ':', e.g. --map main:stable`);
  }
  const sourceFull = isFullName(sourceSide);
  if (sourceFull !== isFullName(targetSide)) {
    throw new UsageError(
      `--map '${spec}' mixes a short and a full ref name; write both short (main:stable) or both full (refs/heads/main:refs/heads/stable)`,
    );
  }
  const source = checkSide(spec, sourceSide, sourceFull);
  const target = checkSide(spec, targetSide, sourceFull);
  const kind = refKind(source);
  const targetKind = refKind(target);
  if (kind !== targetKind) {
    throw new UsageError(`--map '${spec}' maps ${KIND_WORDS[kind]} onto ${KIND_WORDS[targetKind]}; map within one kind`);
  }
  return { spec, source, target, kind };
}

/** Parses every entry and refuses a source mapped twice or two sources onto one target. */
export function parseRefMappings(specs: readonly string[]): RefMapping[] {
  const mappings = specs.map(parseRefMapping);
  const bySource = new Map<RefName, RefMapping>();
  const byTarget = new Map<RefName, RefMapping>();
  for (const mapping of mappings) {
    const sameSource = bySource.get(mapping.source);
    if (sameSource !== undefined) {
      if (sameSource.target === mapping.target) continue;
      throw new UsageError(
        `--map '${sameSource.spec}' and --map '${mapping.spec}' map the same source ${mapping.source} twice; a source has one target, keep one entry`,
      );
    }
    const sameTarget = byTarget.get(mapping.target);
    if (sameTarget !== undefined) {
      throw new UsageError(
        `--map '${sameTarget.spec}' and --map '${mapping.spec}' both write ${mapping.target}; two sources cannot share one target, keep one entry`,
      );
    }
    bySource.set(mapping.source, mapping);
    byTarget.set(mapping.target, mapping);
  }
  return [...bySource.values()];
}
