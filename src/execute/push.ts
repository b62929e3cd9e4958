/**
 * One receive-pack request: the command section, then the pack bytes (relayed from the source,
 * or the empty pack of a ref-only push, or nothing when every command deletes), then the
 * target's report read back. The body streams: the next pack chunk is pulled only once the
 * socket has drained.
 */
import { onSide } from '../errors.js';
import { AGENT } from '../version.js';
import { emptyPack } from '../pack/pack-writer.js';
import type { ReceivePackSession } from '../protocol/receive-pack-session.js';
import { emptyPackRequired, receivePackRequest, type PushCommand } from '../protocol/receive-pack.js';
import { readReportStatus, type PushReport } from '../protocol/report-status.js';
import type { RunObserver } from '../observe/observer.js';

export interface PushOptions {
  atomic: boolean;
  observer: RunObserver;
  signal?: AbortSignal;
}

/**
 * Sends `commands` followed by `pack` (null: a ref-only push, which sends the empty pack unless
 * every command deletes). Resolves with the target's report; a failure of the pack stream
 * rejects with that failure, never with the secondary transport error it causes.
 */
export async function pushCommands(
  target: ReceivePackSession,
  commands: readonly PushCommand[],
  pack: AsyncIterable<Buffer> | null,
  options: PushOptions,
): Promise<PushReport> {
  const { features } = target.discovery;
  const head = receivePackRequest(features, commands, { atomic: options.atomic, agent: AGENT });
  const counters = options.observer.counters('target push');
  if (counters !== null) counters.commands += commands.length;
  let packFailure: unknown = null;
  async function* body(): AsyncGenerator<Buffer> {
    yield head;
    if (!emptyPackRequired(commands)) return;
    if (pack === null) {
      yield emptyPack(features.objectFormat);
      return;
    }
    try {
      for await (const chunk of pack) yield chunk;
    } catch (error) {
      packFailure = onSide(error, 'source');
      throw error;
    }
  }
  try {
    const reader = await target.push(body(), { phase: 'target push', signal: options.signal });
    const report = await readReportStatus(reader, { sideband: features.sideBand64k, commands: commands.length, onProgress: options.observer.serverProgress('target') ?? undefined, signal: options.signal });
    await target.finishPush(reader);
    return report;
  } catch (error) {
    throw packFailure ?? onSide(error, 'target');
  }
}
