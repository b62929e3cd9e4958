/**
 * Batched relay (DESIGN "Body limits"): when one push would exceed the target's body limit, the
 * branches' history goes over in checkpoints. Each checkpoint is pushed to a temporary ref
 * (`refs/gitsync/bootstrap/heads/<branch>`) with a pack fetched against everything the target
 * already holds (its refs, and every checkpoint pushed so far), so consecutive packs never
 * repeat an object. When every branch is across, the real refs are created or updated (and tags
 * and other refs follow) in a cutover push, then the temporary refs are deleted. A rerun after an
 * interruption finds the temporary refs, fetches only what lies beyond them, and finishes.
 *
 * Checkpoints come from the compact commit graph of the commits the target lacks:
 * - `first-parent`: along each branch's first-parent chain; a merge brings its side branch in
 *   the same batch;
 * - `topo`: every commit in a deterministic topological order (parents first, first parents
 *   explored first), so side branches are split too. A cut then may have several tips, each
 *   held by a temporary ref (`refs/gitsync/bootstrap/tips/<branch>/<batch>-<n>`).
 *
 * The branches' cut points, branch after branch, form one sequence; a batch is a consecutive
 * range of it, so the end of one branch and the small branches after it share a push.
 *
 * Sizing comes from evidence: a pack that crosses the budget, or (while the range is a guess)
 * whose bytes per object so far project well past it, is aborted before the target can apply it
 * and its range is split; a pack that fit tells the bytes per commit, from which the next range
 * is sized (small ranges grow again). The first range is the whole sequence, unless the graph
 * came from a whole ordinary pack, whose bytes per commit then size it.
 */
import { HttpStatusError, UnsupportedError, throwIfAborted } from '../errors.js';
import { extractLeadingCommits } from '../pack/commit-extractor.js';
import type { CommitGraph } from '../pack/commit-graph.js';
import { BOOTSTRAP_TEMP_PREFIX, orderForPush, targetObjectHashes, type DeletePlan, type PushPlan, type RefPlan } from '../plan/index.js';
import type { ReceivePackSession } from '../protocol/receive-pack-session.js';
import { pushReportError } from '../protocol/report-status.js';
import type { PushCommand } from '../protocol/receive-pack.js';
import type { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { Oid } from '../types.js';
import { executePlan, type ExecuteOptions, type ExecuteOutcome } from './execute.js';
import { PackOverBudgetError, relayPush } from './relay.js';

export type BootstrapStrategy = 'first-parent' | 'topo';

export interface BatchOptions extends ExecuteOptions {
  /** The target's body limit in bytes. */
  limitBytes: number;
  strategy: BootstrapStrategy;
}

export interface BatchOutcome extends ExecuteOutcome {
  /** Checkpoint pushes that landed in this run. */
  batchCount: number;
  /** Checkpoint pushes this run expects in all: the latest estimate from evidence, at least `batchCount` at the end. */
  plannedBatchCount: number;
  /** Temporary refs this run used (all deleted when it succeeds). */
  tempRefs: string[];
}

/**
 * Aim each batch sized from measured bytes per commit at this share of the budget: commits differ
 * in size, and a batch that still crosses the budget is stopped there and split (a push less).
 */
const TARGET_SHARE = 0.9;
/** Room for the command section and HTTP framing in each push body. */
const HEADROOM_BYTES = 16 * 1024;

export function primaryTempRef(branch: string): string {
  return `${BOOTSTRAP_TEMP_PREFIX}heads/${branch.replace(/^refs\/heads\//, '')}`;
}

function extraTempRef(branch: string, batch: number, n: number): string {
  return `${BOOTSTRAP_TEMP_PREFIX}tips/${branch.replace(/^refs\/heads\//, '')}/${batch}-${n}`;
}

/** Commits of the graph reachable from `start` that are not covered yet, marked covered. */
function cover(graph: CommitGraph, covered: Uint8Array, start: number): void {
  if (start < 0 || covered[start]) return;
  const stack = [start];
  covered[start] = 1;
  while (stack.length > 0) {
    for (const parent of graph.parentIndicesOf(stack.pop()!)) {
      if (parent >= 0 && !covered[parent]) {
        covered[parent] = 1;
        stack.push(parent);
      }
    }
  }
}

/** The cut points of one branch, oldest first, over commits not covered yet. */
function cutPoints(graph: CommitGraph, covered: Uint8Array, tip: number, strategy: BootstrapStrategy): number[] {
  if (strategy === 'first-parent') {
    const chain: number[] = [];
    for (let at = tip; at >= 0 && !covered[at]; at = graph.parentIndicesOf(at)[0] ?? -1) chain.push(at);
    return chain.reverse();
  }
  // Iterative depth-first post-order: a commit comes after all its (uncovered) parents.
  const order: number[] = [];
  const state = new Uint8Array(graph.size); // 0 new, 1 on stack, 2 done
  const stack: { at: number; next: number }[] = [{ at: tip, next: 0 }];
  state[tip] = 1;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const parents = graph.parentIndicesOf(frame.at);
    if (frame.next < parents.length) {
      const parent = parents[frame.next++]!;
      if (parent >= 0 && !covered[parent] && state[parent] === 0) {
        state[parent] = 1;
        stack.push({ at: parent, next: 0 });
      }
    } else {
      state[frame.at] = 2;
      order.push(frame.at);
      stack.pop();
    }
  }
  return order;
}

/** The tips of the ancestor-closed prefix `cuts[0..end]`: commits with no child inside it. */
function prefixTips(graph: CommitGraph, cuts: readonly number[], end: number): number[] {
  const tips = new Set<number>();
  for (let i = 0; i <= end; i++) {
    for (const parent of graph.parentIndicesOf(cuts[i]!)) tips.delete(parent);
    tips.add(cuts[i]!);
  }
  // The cut itself first: it is what the primary temporary ref holds.
  return [cuts[end]!, ...[...tips].filter((tip) => tip !== cuts[end])];
}

/** One branch's share of the checkpoint sequence: its commits the target lacks, oldest first. */
interface Segment {
  plan: PushPlan;
  tempRef: string;
  cuts: number[];
}

/**
 * The branches' cut points, branch after branch in push order, each branch over the commits no
 * earlier branch brings. Batches are consecutive ranges of this sequence, so the tail of one
 * branch and a few small branches after it share one push.
 */
function checkpointSegments(graph: CommitGraph, branches: readonly (PushPlan & { sourceHash: Oid })[], strategy: BootstrapStrategy): Segment[] {
  const covered = new Uint8Array(graph.size);
  const segments: Segment[] = [];
  for (const plan of branches) {
    const tip = graph.indexOf(plan.sourceHash);
    if (tip < 0 || covered[tip]) continue;
    const cuts = cutPoints(graph, covered, tip, strategy);
    cover(graph, covered, tip);
    segments.push({ plan, tempRef: primaryTempRef(plan.targetRef), cuts });
  }
  return segments;
}

/** A batch's part in one segment: commits `first..last` (segment positions) and the tips to push. */
interface BatchPart {
  segment: Segment;
  first: number;
  last: number;
  tips: number[];
}

/** The parts of the sequence range `from..end` (positions in the whole sequence). */
function batchParts(graph: CommitGraph, segments: readonly Segment[], from: number, end: number, strategy: BootstrapStrategy): BatchPart[] {
  const parts: BatchPart[] = [];
  let start = 0;
  for (const segment of segments) {
    const stop = start + segment.cuts.length - 1;
    if (start <= end && stop >= from) {
      const first = Math.max(from, start) - start;
      const last = Math.min(end, stop) - start;
      const tips = strategy === 'topo' ? prefixTips(graph, segment.cuts, last) : [segment.cuts[last]!];
      parts.push({ segment, first, last, tips });
    }
    start = stop + 1;
  }
  return parts;
}

/** A size the server named in its 413 answer ("max 104857600 bytes", "limit is 100MB"), if any. */
export function limitFromRefusal(error: HttpStatusError): number | null {
  const match = /(\d+(?:\.\d+)?)\s*(bytes|b|kb|kib|mb|mib|gb|gib)\b/i.exec(error.message);
  if (!match) return null;
  const units: Record<string, number> = { bytes: 1, b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
  const value = Math.floor(Number(match[1]) * units[match[2]!.toLowerCase()]!);
  return value > 0 ? value : null;
}

/** The pack bytes one push may carry under a body limit: the limit minus room for the request. */
function budgetOf(limit: number): number {
  return Math.max(1, limit - HEADROOM_BYTES);
}

/** Why a range did not fit, with the figures that decided it. */
function whyNotFit(error: PackOverBudgetError | HttpStatusError, limit: number): string {
  if (error instanceof HttpStatusError) return `the target answered HTTP ${error.status}`;
  const budget = `its ${error.budgetBytes}-byte budget (the ${limit}-byte limit less ${limit - error.budgetBytes} for the request)`;
  return error.how === 'crossed'
    ? `the pack reached ${error.sentBytes} bytes, past ${budget}`
    : `its first ${error.sentBytes} bytes project the pack at ${error.projectedBytes} bytes, past ${budget}`;
}

function isRefusal(error: unknown): error is HttpStatusError {
  return error instanceof HttpStatusError && [408, 413, 504].includes(error.status);
}

export async function executeBatched(
  source: UploadPackSession,
  target: ReceivePackSession,
  plans: readonly RefPlan[],
  options: BatchOptions,
): Promise<BatchOutcome> {
  const decide = options.onDecision ?? (() => undefined);
  const { protocol, capabilities } = source.discovery;
  if (protocol === 'v1' && !capabilities.has('allow-reachable-sha1-in-want')) {
    throw new UnsupportedError(
      `${source.displayUrl}: batching needs the source to serve commits that are not ref tips, which it refuses over protocol v1; use --protocol v2 (or auto) or enable uploadpack.allowReachableSHA1InWant on the source`,
    );
  }
  let limit = options.limitBytes;
  const ordered = orderForPush(plans, source.discovery.head);
  const branches = ordered.filter((plan): plan is PushPlan & { sourceHash: Oid } => plan.kind === 'branch' && plan.action !== 'delete' && plan.sourceHash !== null);
  const have = targetObjectHashes(target.discovery.refs);
  const tempValues = new Map<string, Oid>(target.discovery.refs.filter((ref) => ref.name.startsWith(BOOTSTRAP_TEMP_PREFIX)).map((ref) => [ref.name, ref.hash]));
  const usedTemps = new Set<string>();
  const outcome: BatchOutcome = { plans: [...plans], batchCount: 0, plannedBatchCount: 0, tempRefs: [] };

  if (tempValues.size > 0) decide(`batch: resuming from ${tempValues.size} checkpoint ref(s) left on the target`);
  const wants = [...new Set(branches.map((plan) => plan.sourceHash))].filter((hash) => !have.has(hash));
  let graph: CommitGraph | null = null;
  /** Bytes of the ordinary pack the graph was read from, when it was read to its end. */
  let graphBytes: number | null = null;
  if (wants.length > 0) {
    decide(
      source.supportsFilter
        ? `batch: fetching the commits the target lacks (filter tree:0) to place checkpoints`
        : `batch: the source offers no commit filter; reading its pack's commits to place checkpoints (the trees and blobs after them are left unread)`,
    );
    options.onPhase?.('checkpoints', null);
    const response = await source.fetch({ wants, haves: [...have], filter: source.supportsFilter ? 'tree:0' : null, signal: options.signal });
    // Once the commits are all in (they come first), the trees and blobs are not read: the
    // first batch then measures sizes itself. A pack read to its end tells its bytes.
    const extracted = await extractLeadingCommits(response.pack, (sofar) => sofar.coversFetch(wants, have), {
      signal: options.signal,
      objectFormat: source.discovery.capabilities.objectFormat(),
    });
    graph = extracted.graph;
    if (!source.supportsFilter && extracted.summary !== null) graphBytes = extracted.summary.bytes;
  }
  const segments = graph === null ? [] : checkpointSegments(graph, branches, options.strategy);
  const total = segments.reduce((sum, segment) => sum + segment.cuts.length, 0);
  for (const segment of segments) {
    decide(`batch: ${segment.plan.targetRef}: ${segment.cuts.length} commit(s) to send (${options.strategy}) under a limit of ${limit} bytes`);
  }
  // The first batch tries the whole sequence and learns from how far it gets, unless the graph
  // came from an ordinary pack read to its end: that is the pack of one batch of the whole
  // sequence, and its bytes per cut are evidence. (Steps count cut points: under first-parent a
  // cut brings its side branches.)
  let bytesPerCommit: number | null = null;
  let step = total;
  if (graphBytes !== null && total > 0 && graphBytes > limit - HEADROOM_BYTES) {
    bytesPerCommit = Math.max(1, graphBytes / total);
    step = Math.max(1, Math.floor((budgetOf(limit) * TARGET_SHARE) / bytesPerCommit));
  }
  let done = -1;
  /** A batch has landed since the last failed one: its bytes per commit size the next range. */
  let measured = false;
  while (graph !== null && done < total - 1) {
    throwIfAborted(options.signal);
    const end = Math.min(done + step, total - 1);
    const batch = outcome.batchCount + 1;
    const parts = batchParts(graph, segments, done + 1, end, options.strategy);
    const commands: PushCommand[] = parts.flatMap((part) =>
      part.tips.map((index, n) => {
        const ref = n === 0 ? part.segment.tempRef : extraTempRef(part.segment.plan.targetRef, batch, n);
        return { ref, oldHash: tempValues.get(ref) ?? null, newHash: graph!.idOf(index) as Oid };
      }),
    );
    const tipWants = commands.map((command) => command.newHash!).filter((hash) => !have.has(hash));
    if (bytesPerCommit !== null) {
      const remaining = total - 1 - done;
      outcome.plannedBatchCount = outcome.batchCount + Math.ceil(remaining / Math.max(1, Math.floor((budgetOf(limit) * TARGET_SHARE) / bytesPerCommit)));
    }
    const described = parts.map((part) => `${part.segment.plan.targetRef} commits ${part.first + 1}-${part.last + 1} of ${part.segment.cuts.length} -> ${part.segment.tempRef}`);
    decide(`batch ${batch}${outcome.plannedBatchCount > 0 ? `/${outcome.plannedBatchCount}` : ''}: ${described.join('; ')}`);
    options.onPhase?.('push', { unit: 'batch', index: batch, total: outcome.plannedBatchCount > 0 ? outcome.plannedBatchCount : null });
    let result: Awaited<ReturnType<typeof relayPush>>;
    try {
      result = await relayPush(source, target, commands, tipWants, [...have], {
        atomic: target.discovery.features.atomic,
        budgetBytes: budgetOf(limit),
        // Until a batch has landed the range is a guess: project early. Later ranges are sized
        // from measured batches, and one that still crosses the limit is stopped there.
        projectSize: !measured,
        maxPackBytes: options.maxPackBytes,
        stats: options.stats,
        signal: options.signal,
        onSourceProgress: options.onSourceProgress,
        onTargetProgress: options.onTargetProgress,
      });
    } catch (error) {
      const tooLarge = error instanceof PackOverBudgetError || isRefusal(error);
      if (!tooLarge) throw error;
      if (isRefusal(error)) {
        const named = limitFromRefusal(error);
        if (named !== null && named < limit) {
          decide(`batch: the target named its limit: ${named} bytes (was ${limit})`);
          limit = named;
        }
      }
      const span = end - done;
      if (span <= 1) {
        const last = parts[parts.length - 1]!;
        const commit = last.segment.cuts[last.last]!;
        const what = options.strategy === 'first-parent' && graph.parentIndicesOf(commit).length > 1 ? ' (a merge: its side branch comes with it; --bootstrap-strategy topo splits side branches)' : '';
        throw new UnsupportedError(
          `${last.segment.plan.targetRef}: commit ${graph.idOf(commit).slice(0, 12)} alone needs more than the target's limit of ${limit} bytes${what}; raise --target-max-pack-bytes or the target's body limit`,
          { cause: error },
        );
      }
      // A projection says how much smaller the range must be; a crossing or a refusal only that
      // it must be smaller: halve it.
      const projected = error instanceof PackOverBudgetError ? error.projectedBytes : null;
      const shrink = projected !== null ? Math.max(1, Math.floor((span * budgetOf(limit) * TARGET_SHARE) / projected)) : Math.floor(span / 2);
      step = Math.max(1, Math.min(Math.floor(span / 2), shrink));
      measured = false;
      decide(`batch ${batch}: ${span} commit(s) do not fit (${whyNotFit(error, limit)}); subdividing to ${step}`);
      continue;
    }
    const failure = pushReportError(result.report, commands);
    if (failure !== null) throw failure;
    outcome.batchCount += 1;
    const bytes = result.pack?.bytes ?? 0;
    for (const command of commands) {
      tempValues.set(command.ref, command.newHash!);
      usedTemps.add(command.ref);
      have.add(command.newHash!);
    }
    const span = end - done;
    bytesPerCommit = Math.max(1, bytes / span);
    measured = true;
    done = end;
    const next = Math.max(1, Math.floor((budgetOf(limit) * TARGET_SHARE) / bytesPerCommit));
    decide(`batch ${batch}: ${bytes} bytes for ${span} commit(s)${next !== step ? `; next batches of ${next} commit(s)` : ''}`);
    step = next;
  }
  outcome.plannedBatchCount = Math.max(outcome.plannedBatchCount, outcome.batchCount);

  // Cutover: real refs (their objects are across now), tags and other refs, then the temporaries.
  decide(`batch: cutover of ${ordered.length} ref(s)`);
  const cutover = await executePlan(source, target, plans, { ...options, extraHaves: have });
  const temps = [...tempValues].map(([name, hash]): DeletePlan => ({
    branch: null,
    sourceRef: null,
    targetRef: name,
    kind: 'other',
    action: 'delete',
    reason: `${hash.slice(0, 8)} -> deleted`,
    sourceHash: null,
    targetHash: hash,
    forced: false,
  }));
  if (temps.length > 0) {
    decide(`batch: deleting ${temps.length} checkpoint ref(s)`);
    await executePlan(source, target, temps, { ...options, bestEffort: false, extraHaves: have });
  }
  outcome.plans = cutover.plans;
  outcome.tempRefs = [...new Set([...usedTemps, ...tempValues.keys()])].sort();
  return outcome;
}

