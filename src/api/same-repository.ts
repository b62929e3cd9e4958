/**
 * Whether a source and a target name the same repository (docs/usage.md, "Sources and targets": refused before any
 * network traffic). Both are parsed by the one endpoint grammar (`transport/endpoint.ts`) and
 * compared by identity; a local path is first replaced by its real path, so `./a.git` and `./a`
 * are two repositories, while a symlink, `./repo` and `/abs/repo`, or a work tree and its
 * `.git`, are one. Only the local file system is looked at.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { endpointIdentity, parseEndpoint, type Endpoint } from '../transport/endpoint.js';

/**
 * The real path of a local repository: its git directory when it is a work tree, resolved
 * through symlinks; for a path that does not exist yet (a target to create), the real path of
 * its nearest existing parent with the rest appended.
 */
function realRepositoryPath(location: string): string {
  const gitDir = path.join(location, '.git');
  const resolved = existsSync(gitDir) && statSync(gitDir).isDirectory() ? gitDir : location;
  let existing = resolved;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = path.dirname(existing);
    if (parent === existing) break;
    rest.unshift(path.basename(existing));
    existing = parent;
  }
  let real: string;
  try {
    real = realpathSync.native(existing);
  } catch {
    real = existing;
  }
  return path.join(real, ...rest).replace(/\/+$/, '') || '/';
}

/** The identity of a location as the sync compares it (real paths for local ones). */
export function repositoryIdentity(location: string, cwd: string): string {
  const endpoint: Endpoint = parseEndpoint(location, cwd);
  return endpointIdentity(endpoint.kind === 'local' ? { ...endpoint, path: realRepositoryPath(endpoint.path) } : endpoint);
}

export function assertDifferentRepositories(source: string, target: string, cwd: string): void {
  const identity = repositoryIdentity(source, cwd);
  if (identity === repositoryIdentity(target, cwd)) {
    throw new UsageError(`source and target are the same repository (${identity}); pass two different repositories`);
  }
}
