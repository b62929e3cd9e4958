/**
 * What every fuzz property shares (docs/testing.md, "Fuzzing"): how many cases it runs and from
 * which seed, the outcome check (a parse settles, in time, with a result or a typed error of the
 * codes the parser may raise, without a large allocation), and generators of byte soups, cuts
 * and mutations.
 *
 * Under `npm test` every property runs its own modest number of cases from one fixed seed, so
 * CI is repeatable. `npm run fuzz` (scripts/fuzz.mjs) sets FUZZ_RUNS (cases per property) and a
 * fresh FUZZ_SEED, which it prints; the same two variables replay a failure.
 */
import fc from 'fast-check';
import { GitSyncError, type ErrorCode } from '../../src/errors.js';

/** The seed under `npm test`. */
const DEFAULT_SEED = 424242;

function envInteger(name: string): number | null {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return null;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** The seed every property starts from: FUZZ_SEED, or the fixed default. */
export const FUZZ_SEED: number = envInteger('FUZZ_SEED') ?? DEFAULT_SEED;
/** Cases per property asked for by FUZZ_RUNS, or null under `npm test`. */
export const FUZZ_RUNS: number | null = envInteger('FUZZ_RUNS');

/**
 * fast-check parameters for one property: `runs` cases under `npm test`, FUZZ_RUNS otherwise
 * (at most `maxRuns`, for properties that start a process per case). A failure report names
 * the seed and the path of the shrunk counterexample.
 */
export function fuzzParameters<T>(runs: number, options: { maxRuns?: number } = {}): fc.Parameters<T> {
  const asked = FUZZ_RUNS ?? runs;
  return { seed: FUZZ_SEED, numRuns: Math.min(asked, options.maxRuns ?? Number.POSITIVE_INFINITY), includeErrorInReport: true };
}

/** How long one parse may take before it counts as hung (generous: CI machines are shared). */
export const CASE_TIMEOUT_MS = 10_000;
/**
 * How much the ArrayBuffer memory may grow across one case. Inputs are at most a few hundred
 * KiB: growth past this means something was allocated from a size the input only claims.
 */
export const CASE_MEMORY_BOUND = 256 * 1024 * 1024;

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: GitSyncError };

/**
 * Runs one parse and checks the properties every parser has: it settles within CASE_TIMEOUT_MS,
 * it fails only with a GitSyncError whose code is one of `codes` (never a TypeError, a
 * RangeError, a zlib error or an allocation failure), and it allocates no more than
 * CASE_MEMORY_BOUND. Returns what it settled to; throws (failing the property) otherwise.
 */
export async function settle<T>(codes: readonly ErrorCode[], run: () => Promise<T> | T): Promise<Outcome<T>> {
  const before = process.memoryUsage().arrayBuffers;
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangError(`did not settle within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
  });
  let outcome: Outcome<T>;
  try {
    outcome = { ok: true, value: await Promise.race([Promise.resolve().then(run), hung]) };
  } catch (error) {
    if (error instanceof HangError) throw error;
    if (!(error instanceof GitSyncError)) {
      throw new Error(`an untyped error escaped: ${error instanceof Error ? error.stack ?? error.message : String(error)}`, { cause: error });
    }
    if (!codes.includes(error.code)) {
      throw new Error(`error code ${error.code} is not one of ${codes.join(', ')}: ${error.message}`, { cause: error });
    }
    if (error.message.length === 0) throw new Error(`a ${error.code} error without a message`);
    outcome = { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  if (grown > CASE_MEMORY_BOUND) throw new Error(`one case allocated ${grown} bytes of buffers`);
  return outcome;
}

class HangError extends Error {}

/**
 * Whether it succeeded (with what) or the code it failed with, for parsers whose message may
 * depend on how much had arrived when they refused (a pack's first wrong byte is refused at once).
 */
export function verdictOf<T>(outcome: Outcome<T>, value: (v: T) => unknown = (v) => v): unknown {
  return outcome.ok ? { ok: value(outcome.value) } : { error: outcome.error.code };
}

/** The outcome as plain data, for comparing two runs (the same bytes cut differently). */
export function describeOutcome<T>(outcome: Outcome<T>, value: (v: T) => unknown = (v) => v): unknown {
  return outcome.ok ? { ok: value(outcome.value) } : { error: outcome.error.code, message: outcome.error.message };
}

/**
 * Chunk sizes for cutting a byte string: small (every boundary), mid-sized, and 0 (an empty
 * chunk, which streams may yield). Used cyclically by `cut`.
 */
export const chunkSizes: fc.Arbitrary<number[]> = fc.array(
  fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5000 })),
  { minLength: 1, maxLength: 6 },
);

/** At most this many chunks: the last takes the rest (a 64 KiB packet in 1-byte chunks is slow to stream, and tells nothing new). */
const MAX_CHUNKS = 300;

/**
 * `data` cut into chunks of `sizes` (cyclically), at most MAX_CHUNKS of them; the whole as one
 * chunk when no size is positive.
 */
export function cut(data: Buffer, sizes: readonly number[]): Buffer[] {
  if (!sizes.some((size) => size > 0)) return [data];
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; (at < data.length || out.length === 0) && out.length < MAX_CHUNKS - 1; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(data.subarray(at, at + size));
    at += size;
  }
  if (at < data.length) out.push(data.subarray(at));
  return out;
}

/** The chunks as a stream; `plain` yields Uint8Arrays rather than Buffers (sources may). */
export async function* streamOf(chunks: readonly Buffer[], plain = false): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield plain ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) : chunk;
}

/** One edit of a byte string; positions are taken modulo its length. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7f, 0x80, 0xff, 0x30, 0x66) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }) },
);

export const mutations: fc.Arbitrary<Mutation[]> = fc.array(mutation, { minLength: 1, maxLength: 4 });

/** `data` with the edits applied in order (a copy). */
export function mutate(data: Buffer, edits: readonly Mutation[]): Buffer<ArrayBuffer> {
  let out: Buffer = Buffer.from(data);
  for (const edit of edits) {
    const at = out.length === 0 ? 0 : edit.at % out.length;
    switch (edit.kind) {
      case 'flip':
        if (out.length > 0) out[at] = out[at]! ^ (1 << edit.bit);
        break;
      case 'set':
        if (out.length > 0) out[at] = edit.value;
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), edit.bytes, out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + edit.length)]);
        break;
      case 'repeat':
        out = Buffer.concat([out.subarray(0, at + edit.length), out.subarray(at)]);
        break;
    }
  }
  return Buffer.from(out);
}

/** A lowercase hex object id of either format (40 or 64 digits). */
export const oidArb: fc.Arbitrary<string> = fc.oneof(
  fc.uint8Array({ minLength: 20, maxLength: 20 }),
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
).map((bytes) => Buffer.from(bytes).toString('hex'));

/** A hex id of one format. */
export function oidOf(format: 'sha1' | 'sha256'): fc.Arbitrary<string> {
  const length = format === 'sha1' ? 20 : 32;
  return fc.uint8Array({ minLength: length, maxLength: length }).map((bytes) => Buffer.from(bytes).toString('hex'));
}

/**
 * A valid full ref name: `refs/` and one to three components of characters git allows (no
 * component starting with `.` or ending in `.lock`, no `..`, no `@{`).
 */
export const refNameArb: fc.Arbitrary<string> = fc
  .array(fc.stringMatching(/^[a-zA-Z0-9_+-][a-zA-Z0-9_+.,@=-]{0,11}$/), { minLength: 1, maxLength: 3 })
  .map((parts) => `refs/${parts.join('/')}`)
  .filter((name) => !name.includes('..') && !name.includes('@{') && !name.endsWith('.') && !name.split('/').some((p) => p.endsWith('.lock')));
