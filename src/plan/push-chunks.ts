/** Receive-pack requests carry at most `--target-max-ref-updates` commands each. */

import { UsageError } from '../errors.js';

export const DEFAULT_MAX_REF_UPDATES = 5000;

/** Consecutive chunks of at most `maxPerChunk` items, order kept; no chunks for no items. */
export function chunkRefCommands<T>(items: readonly T[], maxPerChunk: number = DEFAULT_MAX_REF_UPDATES): T[][] {
  if (!Number.isSafeInteger(maxPerChunk) || maxPerChunk < 1) {
    throw new UsageError(`--target-max-ref-updates must be a whole number of at least 1, got ${maxPerChunk}`);
  }
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += maxPerChunk) chunks.push(items.slice(start, start + maxPerChunk));
  return chunks;
}
