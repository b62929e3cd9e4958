/**
 * Repository chores for the scenarios: the same isolated git the tests use (no user config, fixed
 * identity), pack sizes, disk usage, and the refs check every relay run ends with.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createRepo } from '../../test/helpers/fixtures.js';
import { forEachRef, git, isolatedGitEnv } from '../../test/helpers/git.js';

export { git, forEachRef, isolatedGitEnv };

/** A new bare repository `<parentDir>/<name>.git`, HEAD on `main`, no automatic gc. */
export async function initBare(parentDir: string, name: string): Promise<string> {
  return (await createRepo({ parentDir, name })).path;
}

/** Bytes of every pack file of a bare repository (what `count-objects` calls size-pack). */
export async function packBytes(repoDir: string): Promise<number> {
  const packDir = join(repoDir, 'objects', 'pack');
  let total = 0;
  for (const name of await readdir(packDir)) {
    if (name.endsWith('.pack')) total += (await stat(join(packDir, name))).size;
  }
  return total;
}

/** Bytes a directory takes on disk (allocated blocks), recursively. */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskUsage(path);
    else total += (await stat(path)).blocks * 512;
  }
  return total;
}

export class RefsMismatchError extends Error {
  override readonly name = 'RefsMismatchError';
}

/** Throws unless the target has exactly the source's refs, at the same objects. */
export async function assertSameRefs(sourceDir: string, targetDir: string, what: string): Promise<number> {
  const source = await forEachRef(sourceDir);
  const target = await forEachRef(targetDir);
  const problems: string[] = [];
  for (const [ref, oid] of source) {
    const got = target.get(ref);
    if (got !== oid) problems.push(`${ref}: source ${oid}, target ${got ?? 'missing'}`);
  }
  for (const [ref, oid] of target) if (!source.has(ref)) problems.push(`${ref}: only on the target (${oid})`);
  if (problems.length > 0) {
    throw new RefsMismatchError(`${what}: target refs differ from the source's (${problems.length} refs):\n  ${problems.slice(0, 20).join('\n  ')}`);
  }
  return source.size;
}
