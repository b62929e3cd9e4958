/**
 * The relay (docs/architecture.md, "The relay"): one upload-pack fetch whose pack streams, chunk by chunk,
 * into one receive-pack request. A PackReader watches the bytes as they pass — it counts
 * objects, enforces `maxPackBytes` before a chunk that would cross it is sent, and verifies the
 * trailing checksum before the last chunk is released, so the target never receives a complete
 * pack git-sync has not checked. A failure on either side aborts the other; the target then
 * sees a truncated pack and refuses it, and no ref moves.
 */
import { GitSyncError, HttpStatusError, onSide, PUSH_REFUSAL_STATUSES, PackTooLargeError, PushRefusedError, RemoteError, throwIfAborted } from '../errors.js';
import { limitNamedIn } from '../plan/index.js';
import { PackReader, type ObjectFormat, type PackSummary } from '../pack/pack-reader.js';
import { PackStreamCheck } from '../pack/pack-stream-check.js';
import type { PushCommand } from '../protocol/receive-pack.js';
import type { FetchResponse } from '../protocol/upload-pack.js';
import type { PushReport } from '../protocol/report-status.js';
import type { Oid } from '../types.js';
import type { AncestryQuestion } from '../plan/index.js';
import { AncestryUnprovenError, proveFromPack, type AncestryProof } from './ancestry-proof.js';
import type { SharedFetchMember } from './pack-tee.js';
import type { RelayContext } from './context.js';
import { pushCommands } from './push.js';
import { monotonicMillis } from '../builtins.js';

/**
 * A batch's pack would not fit the target's body limit: either it crossed the limit, or the pack
 * so far (bytes per object times the objects the header declares) projects well past it. Thrown
 * before the offending bytes leave, so the target sees a truncated pack and applies nothing.
 */
export class PackOverBudgetError extends GitSyncError {
  /**
   * `crossed`: the pack went past the budget after `sentBytes` (its full size is not known);
   * `projected`: its first `sentBytes` project it at `projectedBytes`, well past the budget.
   */
  constructor(
    readonly budgetBytes: number,
    readonly sentBytes: number,
    readonly projectedBytes: number | null,
    readonly how: 'crossed' | 'projected',
  ) {
    super(
      'PACK_TOO_LARGE',
      how === 'crossed'
        ? `pack crossed the target's budget of ${budgetBytes} bytes at ${sentBytes} bytes`
        : `pack projected at ${projectedBytes} bytes from its first ${sentBytes} does not fit the target's budget of ${budgetBytes} bytes`,
    );
  }
}

/** One receive-pack request of a run, relayed: the context says where from and to. */
export interface RelayRequest {
  commands: readonly PushCommand[];
  /** What the pack must bring; none makes the push ref-only. */
  wants: readonly Oid[];
  /** Every object the target is known to hold. */
  haves: readonly Oid[];
  atomic: boolean;
  /** The target's body limit for this push: a pack that crosses it is aborted before it does. */
  budgetBytes?: number | null;
  /**
   * With a budget: also walk the pack's objects to project its size early (bytes per object so
   * far times the objects declared), so a pack far over the budget stops long before it. The walk
   * inflates every object, which costs CPU: worth it while a range's size is a guess.
   */
  projectSize?: boolean;
  /**
   * Fast-forwards this push was planned on without asking the source: the pack's own commits
   * must prove each one before its last bytes leave (execute/ancestry-proof.ts); otherwise the
   * relay fails with AncestryUnprovenError and the target applies nothing.
   */
  proveAncestry?: readonly AncestryQuestion[];
  /**
   * The source's answer for these wants and haves, asked ahead of this push (a batched relay
   * asks for the next batch while the target indexes the one before): used instead of a fetch.
   */
  prefetched?: Promise<FetchResponse>;
  /** Called once the pack's last byte went to the target, with the pack's size. */
  onPackSent?: (bytes: number) => void;
}

export interface RelayOutcome {
  report: PushReport;
  /** The relayed pack, or null for a ref-only push. */
  pack: RelayedPack | null;
  /** Where the push's time went, or null for a ref-only push. */
  timing: RelayTiming | null;
}

/**
 * Where one relayed push spent its time (docs/json.md, `batches`), split at the pack's first byte
 * from the source and its last byte handed to the target.
 */
export interface RelayTiming {
  /** From asking the source to its first pack byte: the source counting and starting to pack. */
  sourceWaitMillis: number;
  /** From the first pack byte to the last one handed to the target: both sides streaming. */
  transferMillis: number;
  /** From the last pack byte to the target's report: its index-pack, checks and ref updates. */
  targetWaitMillis: number;
}

/** Moments of one relayed push (monotonicMillis() values), filled in as they happen. */
interface RelayClock {
  firstByteAt: number | null;
  lastByteAt: number | null;
}

/** Past this share of a budget, a projection over it aborts the push early. */
const PROJECTION_MIN_SHARE = 0.25;

/** What watches the pack as it passes: the full object walk, or the header-and-checksum check. */
interface PackWatcher {
  write(chunk: Buffer): Promise<void> | void;
  end(): Promise<RelayedPack> | RelayedPack;
  readonly declaredObjects: number | null;
  /** Objects walked so far; null when the watcher does not walk objects. */
  readonly objectsRead: number | null;
  destroy(reason?: Error): void;
}

/** What the relay reports of a pack it passed on. */
export interface RelayedPack {
  bytes: number;
  objectCount: number;
  checksum: string;
}

function objectWalker(maxBytes: number | undefined, signal: AbortSignal, objectFormat: ObjectFormat): PackWatcher {
  const reader = new PackReader({ maxBytes, signal, objectFormat });
  return {
    write: (chunk) => reader.write(chunk),
    end: async () => {
      const summary: PackSummary = await reader.end();
      return { bytes: summary.bytes, objectCount: summary.objectCount, checksum: summary.checksum };
    },
    get declaredObjects() {
      return reader.declaredObjects;
    },
    get objectsRead() {
      return reader.objectsRead;
    },
    destroy: (reason) => reader.destroy(reason),
  };
}

function checksumOnly(maxBytes: number | undefined, objectFormat: ObjectFormat): PackWatcher {
  const check = new PackStreamCheck({ maxBytes, objectFormat });
  return {
    write: (chunk) => check.write(chunk),
    end: () => check.end(),
    get declaredObjects() {
      return check.declaredObjects;
    },
    objectsRead: null,
    destroy: () => undefined,
  };
}

/** A pack a shared fetch checks once for its group (execute/pack-tee.ts): nothing to hash here. */
function checkedByGroup(member: SharedFetchMember): PackWatcher {
  return {
    write: () => undefined,
    end: () => {
      const summary = member.verified();
      if (summary === null) throw new Error('a shared pack ended before its group checked it');
      return summary;
    },
    declaredObjects: null,
    objectsRead: null,
    destroy: () => undefined,
  };
}

/** How far a relayed pack got: bytes handed to the target, and what stopped it, if anything. */
interface PackProgress {
  bytes: number;
  failure: unknown;
}

/** Holds back one chunk so the checksum is verified before the pack's last bytes leave. */
async function* observedPack(
  source: AsyncIterable<Buffer>,
  watcher: PackWatcher,
  proof: AncestryProof | null,
  limit: number | null,
  budget: number | null,
  sent: PackProgress,
  done: (summary: RelayedPack) => void,
  clock: RelayClock,
  onSent?: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  try {
    let held: Buffer | null = null;
    let total = 0;
    for await (const chunk of source) {
      clock.firstByteAt ??= monotonicMillis();
      total += chunk.length;
      if (limit !== null && total > limit) throw new PackTooLargeError(limit);
      if (budget !== null && total > budget) throw new PackOverBudgetError(budget, total, null, 'crossed');
      await watcher.write(chunk);
      if (proof !== null) await proof.write(chunk);
      const read = watcher.objectsRead;
      if (budget !== null && read !== null && total > budget * PROJECTION_MIN_SHARE) {
        // Bytes per object so far, times the objects the header declares. Object sizes vary a
        // lot (a few big blobs among many small trees), so only a projection made on a good share
        // of the objects, and far over the budget, aborts early; the byte limit catches the rest.
        const declared = watcher.declaredObjects ?? 0;
        const projected = read > 0 ? Math.round((total / read) * declared) : total;
        if (read >= Math.max(64, declared / 4) && projected > budget * 2) throw new PackOverBudgetError(budget, total, projected, 'projected');
      }
      if (held !== null) {
        yield held;
        sent.bytes += held.length;
      }
      held = chunk;
    }
    done(await watcher.end());
    if (proof !== null) {
      proof.end();
      await proof.proven;
    }
    if (held !== null) {
      yield held;
      sent.bytes += held.length;
    }
  } catch (error) {
    // What stopped the pack: the target may answer after that without saying so (relayPush).
    sent.failure = error;
    throw error;
  }
  clock.lastByteAt = monotonicMillis();
  onSent?.(sent.bytes);
}

/**
 * The filter that leaves nothing out (no tree is that deep) but makes the source's pack-objects
 * walk the objects instead of answering from its reachability bitmaps, the only walk that
 * finds a thin pack's bases: from a source with bitmaps (any host after gc), a one-line edit of a
 * large file would otherwise travel whole (docs/protocol.md, "Thin packs").
 */
export const THIN_PACK_FILTER = 'tree:2147483647';

/**
 * The relay's fetch. Every have is an object the target holds (its refs, or what this run
 * pushed): its receive-pack completes a thin pack from them (`index-pack --fix-thin`), unless it
 * says `no-thin`; without haves there is nothing to be thin against. A source that offers
 * filters is asked with THIN_PACK_FILTER; one that refuses it (a `uploadpackfilter` limit) is
 * asked again without, before anything reached the target.
 */
export async function fetchForTarget(context: RelayContext, wants: readonly Oid[], haves: readonly Oid[], signal: AbortSignal): Promise<FetchResponse> {
  const { source, target, observer } = context;
  const thinPack = haves.length > 0 && !target.discovery.features.noThin;
  const onProgress = observer.serverProgress('source') ?? undefined;
  if (!thinPack || !source.supportsFilter) return source.fetch({ wants, haves, thinPack, onProgress, signal });
  try {
    return await source.fetch({ wants, haves, thinPack, filter: THIN_PACK_FILTER, onProgress, signal });
  } catch (error) {
    // Only a refusal of the filter itself ("filter 'tree' not supported", "tree filter allows max
    // depth 10"): any other error is the fetch's failure, not something to ask again.
    if (signal.aborted || !(error instanceof RemoteError) || !/filter/i.test(error.remoteMessage)) throw error;
    observer.decision(`relay: the source refused filter ${THIN_PACK_FILTER} (${error.remoteMessage}); asking again without it`);
    return source.fetch({ wants, haves, thinPack, onProgress, signal });
  }
}

/** The pack for one reader that may stop early without closing it (the relay closes it). */
function openEnded(pack: AsyncGenerator<Buffer>): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => pack.next(),
      return: async () => ({ done: true, value: undefined }),
    }),
  };
}

/** What stopped a relayed pack, when that is the source's: a corrupt or truncated pack (side `source`). */
function sourcePackFault(failure: unknown): GitSyncError | null {
  return failure instanceof GitSyncError && failure.code === 'PACK_FORMAT' ? onSide(failure, 'source') : null;
}

/**
 * Reads what is left of a relayed pack through its checks without sending it anywhere: the
 * source's failure (a corrupt or truncated pack, side `source`), or null when the pack is sound
 * or reading it failed for another reason.
 *
 * The push may still be reading the same pack (its read of the next chunk was asked before ours
 * and is answered first): the failure then reaches the push's read, and ours only sees the pack
 * end. Either way observedPack recorded it in `sent.failure`, which is what this answers from.
 */
async function packFaultBehind(pack: AsyncGenerator<Buffer>, sent: PackProgress): Promise<GitSyncError | null> {
  try {
    for await (const chunk of pack) void chunk;
  } catch {
    // Recorded in sent.failure, whichever read met it.
  }
  return sourcePackFault(sent.failure);
}

/**
 * Pushes the request's commands, relaying a pack with its wants computed against its haves.
 * With no wants the push is ref-only.
 */
export async function relayPush(context: RelayContext, request: RelayRequest): Promise<RelayOutcome> {
  const { source, target, observer, signal } = context;
  const { commands, wants, haves } = request;
  throwIfAborted(signal);
  const pushOptions = { atomic: request.atomic, observer, signal };
  if (wants.length === 0 && (request.proveAncestry ?? []).length > 0) {
    // The target holds the new tips already: no pack, so nothing proves the fast-forwards.
    throw new AncestryUnprovenError(request.proveAncestry!.map((question) => question.targetRef), 'the target holds the new tips already, so no pack carries their commits');
  }
  if (wants.length === 0) {
    return { report: await pushCommands(target, commands, null, pushOptions), pack: null, timing: null };
  }
  // One controller for both sides: whichever fails first stops the other.
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const askedAt = monotonicMillis();
    const response =
      request.prefetched !== undefined
        ? await request.prefetched
        : context.sharedFetch !== undefined
          ? await context.sharedFetch.fetch({ wants, haves })
          : await fetchForTarget(context, wants, haves, controller.signal);
    const limit = context.maxPackBytes;
    // Projecting a batch's size needs the object walk; otherwise object checks are the target's.
    const budget = request.budgetBytes ?? null;
    // The pack's trailer (and any object id) uses the repository's hash: SHA-1 or SHA-256.
    const format = source.discovery.capabilities.objectFormat();
    const watcher =
      budget !== null && request.projectSize === true
        ? objectWalker(limit ?? undefined, controller.signal, format)
        : context.sharedFetch !== undefined
          ? checkedByGroup(context.sharedFetch)
          : checksumOnly(limit ?? undefined, format);
    const questions = request.proveAncestry ?? [];
    const proof = questions.length > 0 ? proveFromPack(questions, haves, { objectFormat: format, signal: controller.signal }) : null;
    // A fast-forward the commits do not prove stops the relay at once, not at the pack's end.
    proof?.proven.catch((error: unknown) => controller.abort(error));
    let summary: RelayedPack | null = null;
    const sent: PackProgress = { bytes: 0, failure: null };
    const clock: RelayClock = { firstByteAt: null, lastByteAt: null };
    const pack = observedPack(response.pack, watcher, proof, limit, budget, sent, (result) => (summary = result), clock, request.onPackSent);
    try {
      // The push may stop reading early (the target answered); the pack stays open for us to
      // read through its checks below, or to close.
      const report = await pushCommands(target, commands, openEnded(pack), { ...pushOptions, signal: controller.signal });
      if (summary === null) {
        // The target answered before it took the whole pack. When it could not unpack it, the
        // fault may be the source's (a corrupt byte the target met before our checksum at the
        // pack's end): read the rest through the same checks, so the error names who broke it.
        const sourceFault = sourcePackFault(sent.failure) ?? (report.unpackOk ? null : await packFaultBehind(pack, sent));
        controller.abort(sourceFault ?? new Error('the target answered before the whole pack was sent'));
        await pack.return(undefined).catch(() => undefined);
        if (sourceFault !== null) throw sourceFault;
      }
      const reportedAt = monotonicMillis();
      const firstByteAt = clock.firstByteAt ?? reportedAt;
      const lastByteAt = clock.lastByteAt ?? reportedAt;
      const timing: RelayTiming = {
        sourceWaitMillis: Math.round(firstByteAt - askedAt),
        transferMillis: Math.round(lastByteAt - firstByteAt),
        targetWaitMillis: Math.round(reportedAt - lastByteAt),
      };
      return { report, pack: summary, timing };
    } catch (error) {
      controller.abort(error);
      watcher.destroy(error instanceof Error ? error : undefined);
      proof?.destroy();
      await pack.return(undefined).catch(() => undefined);
      // Stopped by the proof: that is the failure, whatever either side said after it.
      if (controller.signal.reason instanceof AncestryUnprovenError) throw controller.signal.reason;
      // A corrupt source pack is the source's failure, whatever the target said when it met it.
      const sourceFault = sourcePackFault(sent.failure);
      if (sourceFault !== null) throw sourceFault;
      // A host that refuses the body for its size or duration: say how far the pack got and
      // what size the host named, for the batched relay that answers it.
      if (error instanceof HttpStatusError && PUSH_REFUSAL_STATUSES.includes(error.status)) {
        throw new PushRefusedError(error, sent.bytes, limitNamedIn(error.message));
      }
      throw error;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
