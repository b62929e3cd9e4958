/**
 * Node built-ins that only some runs need, loaded on first use instead of when the process
 * starts: hashing and inflating (packs), TLS (an https URL or a proxy tunnel), V8's collector
 * controls (the GC pacer) and performance observers (`--measure-memory`). Loaded at start-up
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
export const lazyPerfHooks = onFirstUse<typeof import('node:perf_hooks')>('node:perf_hooks');
