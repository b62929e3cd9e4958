/**
 * The relay (DESIGN "Flow of one run"): one upload-pack fetch whose pack streams, chunk by chunk,
 * into one receive-pack request. A PackReader watches the bytes as they pass — it counts
 * objects, enforces `maxPackBytes` before a chunk that would cross it is sent, and verifies the
 * trailing checksum before the last chunk is released, so the target never receives a complete
 * pack git-sync has not checked. A failure on either side aborts the other; the target then
 * sees a truncated pack and refuses it, and no ref moves.
 */
import { PackTooLargeError } from '../errors.js';
import { PackReader, type PackSummary } from '../pack/pack-reader.js';
import type { PushCommand } from '../protocol/receive-pack.js';
import type { ReceivePackSession } from '../protocol/receive-pack-session.js';
import type { PushReport } from '../protocol/report-status.js';
import type { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { StatsRecorder } from '../observe/stats.js';
import type { Oid } from '../types.js';
import { pushCommands } from './push.js';

export interface RelayOptions {
  atomic: boolean;
  maxPackBytes?: number | null;
  stats?: StatsRecorder;
  signal?: AbortSignal;
  onSourceProgress?: (message: string) => void;
  onTargetProgress?: (message: string) => void;
}

export interface RelayOutcome {
  report: PushReport;
  /** The relayed pack, or null for a ref-only push. */
  pack: PackSummary | null;
}

/** Holds back one chunk so the checksum is verified before the pack's last bytes leave. */
async function* observedPack(source: AsyncIterable<Buffer>, reader: PackReader, limit: number | null, done: (summary: PackSummary) => void): AsyncGenerator<Buffer> {
  let held: Buffer | null = null;
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (limit !== null && total > limit) throw new PackTooLargeError(limit);
    await reader.write(chunk);
    if (held !== null) yield held;
    held = chunk;
  }
  done(await reader.end());
  if (held !== null) yield held;
}

/**
 * Pushes `commands`, relaying a pack with `wants` computed against `haves` (every object the
 * target is known to hold). With no wants the push is ref-only.
 */
export async function relayPush(
  source: UploadPackSession,
  target: ReceivePackSession,
  commands: readonly PushCommand[],
  wants: readonly Oid[],
  haves: readonly Oid[],
  options: RelayOptions,
): Promise<RelayOutcome> {
  const pushOptions = { atomic: options.atomic, stats: options.stats, signal: options.signal, onProgress: options.onTargetProgress };
  if (wants.length === 0) {
    return { report: await pushCommands(target, commands, null, pushOptions), pack: null };
  }
  // One controller for both sides: whichever fails first stops the other.
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await source.fetch({ wants, haves, onProgress: options.onSourceProgress, signal: controller.signal });
    const limit = options.maxPackBytes ?? null;
    const reader = new PackReader({ maxBytes: limit ?? undefined, signal: controller.signal });
    let summary: PackSummary | null = null;
    const pack = observedPack(response.pack, reader, limit, (result) => (summary = result));
    try {
      const report = await pushCommands(target, commands, pack, { ...pushOptions, signal: controller.signal });
      return { report, pack: summary };
    } catch (error) {
      controller.abort(error);
      await pack.return(undefined).catch(() => undefined);
      throw error;
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
