/**
 * Node built-ins that only some runs need, loaded on first use instead of when the process
 * starts: hashing and inflating (packs), TLS (an https URL or a proxy tunnel), V8's collector
 * controls (the GC pacer), performance observers (`--measure-memory`) and fs/promises (local
 * paths, remote helpers: it loads Node's readline too, 2-3 ms). Loaded at start-up
 * they cost every CLI run about 10 ms, a share of a no-op sync, which mirror fleets run thousands
 * of times and which never needs any of them over plain HTTP (docs/architecture.md, "No-op runs
 * at scale").
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A getter that loads the built-in `id` on its first call and returns the same module after. */
function onFirstUse<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(id) as T);
}

export const lazyCrypto = onFirstUse<typeof import('node:crypto')>('node:crypto');
export const lazyZlib = onFirstUse<typeof import('node:zlib')>('node:zlib');
export const lazyHttps = onFirstUse<typeof import('node:https')>('node:https');
export const lazyTls = onFirstUse<typeof import('node:tls')>('node:tls');
export const lazyV8 = onFirstUse<typeof import('node:v8')>('node:v8');
export const lazyVm = onFirstUse<typeof import('node:vm')>('node:vm');
export const lazyFsPromises = onFirstUse<typeof import('node:fs/promises')>('node:fs/promises');
export const lazyPerfHooks = onFirstUse<typeof import('node:perf_hooks')>('node:perf_hooks');

/**
 * Milliseconds on a monotonic clock, as `performance.now()` counts them but from another origin:
 * only differences between two readings mean anything. The global `performance` loads ten of
 * Node's modules at its first use, about 2 ms of every CLI start.
 */
export function monotonicMillis(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1000 + nanoseconds / 1e6;
}
