/**
 * Paces garbage collection while bytes stream through the process. A relay allocates a Buffer
 * per socket read and per parsed chunk; they die at once, but V8 collects them only when its
 * young generation fills, so tens of megabytes of dead chunks can pile up between collections
 * and the allocator keeps that memory afterwards. A minor collection every few megabytes of
 * traffic keeps the peak flat at a cost of well under a millisecond each.
 *
 * Collections are only paced when the host made `gc` reachable (`enableGcPacing()`, which the
 * CLI calls at start-up); a library embedded in another program leaves its heap alone. The
 * collector is set up at the first collection, not when pacing is enabled: a run that streams
 * less than PACE_BYTES (a no-op sync) never loads V8's controls (src/builtins.ts).
 */
import { lazyV8, lazyVm } from '../builtins.js';

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

const PACE_BYTES = 2 * 1024 * 1024;

/** Set on globalThis once the pacer has changed V8's flags (gcFunction). */
export const V8_FLAGS_CHANGED = Symbol.for('git-sync.v8-flags-changed');

let enabled = false;
let collect: GcFunction | null = null;
let sinceLast = 0;

/** Lets the pacer collect garbage (see gcFunction for how). Safe to call more than once. */
export function enableGcPacing(): void {
  enabled = true;
}

/**
 * Makes V8's `gc` available, and keeps the young generation small: by default it grows to 16 MiB
 * semi-spaces, which a streaming process fills with short-lived chunk wrappers (measured:
 * 1,000,000 commits parsed at 181 MiB peak RSS with the default, 147 MiB without growth).
 */
function gcFunction(): GcFunction {
  if (collect === null) {
    // V8 refuses a code cache made under other flags: the CLI's launcher writes none once the
    // flags below have changed (src/cli/launch.ts, which reads this mark by its name).
    (globalThis as Record<symbol, unknown>)[V8_FLAGS_CHANGED] = true;
    const v8 = lazyV8();
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    v8.setFlagsFromString('--max-semi-space-size=1');
    v8.setFlagsFromString('--expose-gc');
    collect = lazyVm().runInNewContext('gc') as GcFunction;
  }
  return collect;
}

/** Counts streamed bytes; runs a minor collection every PACE_BYTES when pacing is enabled. */
export function noteStreamedBytes(bytes: number): void {
  if (!enabled) return;
  sinceLast += bytes;
  if (sinceLast >= PACE_BYTES) {
    sinceLast = 0;
    gcFunction()({ type: 'minor' });
  }
}

/** Releasing at least this much long-lived memory at once is worth a full collection. */
const RELEASE_COLLECT_BYTES = 4 * 1024 * 1024;

/**
 * Says that `bytes` of long-lived buffers were just let go (a store of commits closed at the
 * end of a read). Such buffers sit in V8's old generation, where only a full collection frees
 * them, and V8 runs one only after tens of megabytes of external memory have piled up: without
 * it, the next phase (a relay) runs on top of memory nobody uses. When pacing is enabled and
 * the release is large, one full collection runs now (a few milliseconds on a small heap).
 */
export function noteReleasedBytes(bytes: number): void {
  if (!enabled || bytes < RELEASE_COLLECT_BYTES) return;
  gcFunction()({ type: 'major' });
}
