/**
 * Node built-ins that only some runs need, loaded on first use instead of when the process
 * starts: hashing and inflating (packs), TLS (an https URL or a proxy tunnel), V8's collector
 * controls (the GC pacer) and performance observers (`--measure-memory`). Loaded at start-up
 * they cost every CLI run about 10 ms, a share of a no-op sync, which mirror fleets run thousands
 * of times and which never needs any of them over plain HTTP (docs/architecture.md, "No-op runs
 * at scale").
 */
import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');
type Zlib = typeof import('node:zlib');
type Https = typeof import('node:https');
type Tls = typeof import('node:tls');
type V8 = typeof import('node:v8');
type Vm = typeof import('node:vm');
type PerfHooks = typeof import('node:perf_hooks');

const load = createRequire(import.meta.url);

let crypto: Crypto | undefined;
let zlib: Zlib | undefined;
let https: Https | undefined;
let tls: Tls | undefined;
let v8: V8 | undefined;
let vm: Vm | undefined;
let perfHooks: PerfHooks | undefined;

export function lazyCrypto(): Crypto {
  return (crypto ??= load('node:crypto') as Crypto);
}

export function lazyZlib(): Zlib {
  return (zlib ??= load('node:zlib') as Zlib);
}

export function lazyHttps(): Https {
  return (https ??= load('node:https') as Https);
}

export function lazyTls(): Tls {
  return (tls ??= load('node:tls') as Tls);
}

export function lazyV8(): V8 {
  return (v8 ??= load('node:v8') as V8);
}

export function lazyVm(): Vm {
  return (vm ??= load('node:vm') as Vm);
}

export function lazyPerfHooks(): PerfHooks {
  return (perfHooks ??= load('node:perf_hooks') as PerfHooks);
}
