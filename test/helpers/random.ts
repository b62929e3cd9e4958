/**
 * Deterministic pseudo-randomness for tests and generated histories: the same seed gives the same
 * numbers on every machine, so a failing case can be replayed and a generated repository has the
 * same object ids every time.
 */

/** mulberry32: a small, fast 32-bit generator; returns floats in [0, 1). */
export function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
