/**
 * Generated repositories are expensive (a million commits, a 100 MB delta-rich history), so each
 * is built once into `<cache>/<key>/` and reused. The key names the scenario, the size and the
 * generator version; a directory counts as built only once its `meta.json` exists, and it is
 * built under a temporary name and renamed, so an interrupted build is never mistaken for one.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `$GITSYNC_BENCH_CACHE`, or `<os tmpdir>/git-sync-bench`. */
export function defaultCacheDir(): string {
  const fromEnv = process.env['GITSYNC_BENCH_CACHE'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(tmpdir(), 'git-sync-bench');
}

export interface Cached<T> {
  dir: string;
  meta: T;
  /** False when this call built it. */
  reused: boolean;
  /** Time spent building (0 when reused). */
  buildMillis: number;
}

/**
 * The cached directory for `key`, built by `build(dir)` when absent. `build` fills `dir` and
 * returns the metadata later runs get back without rebuilding.
 */
export async function cached<T>(cacheDir: string, key: string, build: (dir: string) => Promise<T>, log: (message: string) => void): Promise<Cached<T>> {
  const dir = join(cacheDir, key);
  const metaPath = join(dir, 'meta.json');
  if (existsSync(metaPath)) {
    return { dir, meta: JSON.parse(await readFile(metaPath, 'utf8')) as T, reused: true, buildMillis: 0 };
  }
  await mkdir(cacheDir, { recursive: true });
  await rm(dir, { recursive: true, force: true });
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial);
  log(`generating ${key} (cached under ${cacheDir} for later runs)`);
  const started = performance.now();
  try {
    // Built under the temporary name, then renamed: nothing inside may record its own path.
    const meta = await build(partial);
    await writeFile(join(partial, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    await rename(partial, dir);
    const buildMillis = performance.now() - started;
    log(`generated ${key} in ${(buildMillis / 1000).toFixed(1)} s`);
    return { dir, meta, reused: false, buildMillis };
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
}
