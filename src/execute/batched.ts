/**
 * Batched relay (docs/architecture.md, "Batched relay"): when one push would exceed the target's
 * body limit, the branches' history goes over in checkpoints. Each checkpoint is pushed to a
 * temporary ref (`refs/gitsync/bootstrap/heads/<branch>`) with a pack fetched against
 * everything the target already holds (its refs, and every checkpoint pushed so far), so
 * consecutive packs never repeat an object. When every branch is across, the real refs are
 * created, updated or overwritten (and tags, other refs and prunes follow) in a cutover push,
 * then the temporary refs are deleted. A rerun after an interruption finds the temporary refs,
 * fetches only what lies beyond them, and finishes.
 *
 * The decisions are pure and live in plan/: where history is cut and which temporary refs hold
 * it (`plan/checkpoints.ts`), and how many checkpoints go into each push (`plan/batch-sizer.ts`).
 * This file is the loop that carries them out.
 */
import { UnsupportedError, PushRefusedError, throwIfAborted } from '../errors.js';
import {
  BOOTSTRAP_TEMP_PREFIX,
  BatchSizer,
  batchCommands,
  batchParts,
  checkpointSegments,
  orderForPush,
  targetObjectHashes,
  type BatchPart,
  type CheckpointPlacement,
  type DeletePlan,
  type Misfit,
  type PushPlan,
  type RefPlan,
} from '../plan/index.js';
import { pushReportError } from '../protocol/report-status.js';
import type { Oid } from '../types.js';
import type { RelayContext } from './context.js';
import { executePlan, type ExecuteOutcome, type ExecutePolicy } from './execute.js';
import { fetchCommits } from './fetch-commits.js';
import { PackOverBudgetError, fetchForTarget, relayPush, type RelayOutcome } from './relay.js';
import type { FetchResponse } from '../protocol/upload-pack.js';
import { monotonicMillis } from '../builtins.js';

export interface BatchPolicy extends ExecutePolicy {
  /** The target's body limit in bytes. */
  limitBytes: number;
  placement: CheckpointPlacement;
}

export interface BatchOutcome extends ExecuteOutcome {
  /** Checkpoint pushes that landed in this run. */
  batchCount: number;
  /** Checkpoint pushes this run expects in all: the latest estimate from evidence, at least `batchCount` at the end. */
  plannedBatchCount: number;
  /** Temporary refs this run used (all deleted when it succeeds). */
  tempRefs: string[];
  /** Every checkpoint push that landed, in order, with where its time went. */
  batches: BatchRecord[];
}

/**
 * One checkpoint push that landed (docs/json.md, `batches`). Its time splits as the relay saw it
 * (RelayTiming), plus what was lost before: ranges that did not fit and were subdivided, and the
 * planning between pushes.
 */
export interface BatchRecord {
  index: number;
  commits: number;
  packBytes: number;
  objects: number;
  /** Pushes tried for this range: 1, or more when a range did not fit and was subdivided. */
  attempts: number;
  /** From the end of the previous batch (or the checkpoint walk) to this one's report. */
  totalMillis: number;
  sourceWaitMillis: number;
  transferMillis: number;
  targetWaitMillis: number;
  /** The rest of totalMillis: attempts that did not fit, and sizing and planning between pushes. */
  otherMillis: number;
}

/** What a range that did not fit tells the sizer, and how -v says it. */
function misfitOf(error: PackOverBudgetError | PushRefusedError, limit: number): { misfit: Misfit; said: string } {
  if (error instanceof PushRefusedError) {
    return { misfit: { kind: 'refused', status: error.status, namedLimit: error.namedLimit }, said: `the target answered HTTP ${error.status}` };
  }
  const budget = `its ${error.budgetBytes}-byte budget (the ${limit}-byte limit less ${limit - error.budgetBytes} for the request)`;
  if (error.how === 'projected' && error.projectedBytes !== null) {
    return {
      misfit: { kind: 'projected', sentBytes: error.sentBytes, projectedBytes: error.projectedBytes },
      said: `its first ${error.sentBytes} bytes project the pack at ${error.projectedBytes} bytes, past ${budget}`,
    };
  }
  return { misfit: { kind: 'crossed', sentBytes: error.sentBytes }, said: `the pack reached ${error.sentBytes} bytes, past ${budget}` };
}

/** The one checkpoint that cannot be split, named, with what would let it through. */
function indivisible(parts: readonly BatchPart[], graph: { idOf(i: number): string; parentIndicesOf(i: number): number[] }, placement: CheckpointPlacement, limit: number, cause: unknown): UnsupportedError {
  const last = parts[parts.length - 1]!;
  const commit = last.segment.cuts[last.last]!;
  const merge = placement === 'first-parent' && graph.parentIndicesOf(commit).length > 1;
  const what = merge ? ' (a merge: its side branch comes with it; --bootstrap-strategy topo splits side branches)' : '';
  return new UnsupportedError(
    `${last.segment.plan.targetRef}: commit ${graph.idOf(commit).slice(0, 12)} alone needs more than the target's limit of ${limit} bytes${what}; raise --target-max-pack-bytes or the target's body limit`,
    { cause },
  );
}

/** The next batch's fetch, asked ahead (executeBatched). */
interface FetchAhead {
  /** The last checkpoint of the range it was asked for. */
  end: number;
  wants: readonly Oid[];
  response: Promise<FetchResponse>;
  controller: AbortController;
}

function sameHashes(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((hash) => set.has(hash));
}

function batchRecord(index: number, commits: number, result: RelayOutcome, attempts: number, totalMillis: number): BatchRecord {
  const timing = result.timing ?? { sourceWaitMillis: 0, transferMillis: 0, targetWaitMillis: 0 };
  const total = Math.round(totalMillis);
  return {
    index,
    commits,
    packBytes: result.pack?.bytes ?? 0,
    objects: result.pack?.objectCount ?? 0,
    attempts,
    totalMillis: total,
    ...timing,
    otherMillis: Math.max(0, total - timing.sourceWaitMillis - timing.transferMillis - timing.targetWaitMillis),
  };
}

const seconds = (millis: number): string => `${(millis / 1000).toFixed(1)} s`;

/** How -v says where a batch's time went. */
function timeSplit(record: BatchRecord): string {
  const parts = [
    `source ${seconds(record.sourceWaitMillis)} before its first byte`,
    `${seconds(record.transferMillis)} streaming`,
    `target ${seconds(record.targetWaitMillis)} after the last byte`,
  ];
  if (record.attempts > 1) parts.push(`${record.attempts - 1} range(s) that did not fit`);
  return parts.join(', ');
}

export async function executeBatched(context: RelayContext, plans: readonly RefPlan[], policy: BatchPolicy): Promise<BatchOutcome> {
  const { source, target, observer, signal } = context;
  const decide = (message: string): void => observer.decision(message);
  const { protocol, capabilities } = source.discovery;
  if (protocol === 'v1' && !capabilities.has('allow-reachable-sha1-in-want')) {
    throw new UnsupportedError(
      `${source.displayUrl}: batching needs the source to serve commits that are not ref tips, which it refuses over protocol v1; use --protocol v2 (or auto) or enable uploadpack.allowReachableSHA1InWant on the source`,
    );
  }
  const ordered = orderForPush(plans, source.discovery.head);
  const branches = ordered.filter((plan): plan is PushPlan & { sourceHash: Oid } => plan.kind === 'branch' && plan.action !== 'delete' && plan.sourceHash !== null);
  const have = targetObjectHashes(target.discovery.refs);
  const tempValues = new Map<string, Oid>(target.discovery.refs.filter((ref) => ref.name.startsWith(BOOTSTRAP_TEMP_PREFIX)).map((ref) => [ref.name, ref.hash]));
  const usedTemps = new Set<string>();
  const outcome: BatchOutcome = { plans: [...plans], batchCount: 0, plannedBatchCount: 0, tempRefs: [], batches: [] };
  if (tempValues.size > 0) decide(`batch: resuming from ${tempValues.size} checkpoint ref(s) left on the target`);

  const wants = [...new Set(branches.map((plan) => plan.sourceHash))].filter((hash) => !have.has(hash));
  if (wants.length > 0) {
    decide(
      source.supportsFilter
        ? 'batch: fetching the commits the target lacks (filter tree:0) to place checkpoints'
        : "batch: the source offers no commit filter; reading its pack's commits to place checkpoints (the trees and blobs after them are left unread)",
    );
    observer.phase('checkpoints');
    const { graph, ordinaryPackBytes } = await fetchCommits(source, wants, [...have], { signal, observer });
    const segments = checkpointSegments(graph, branches, policy.placement);
    const total = segments.reduce((sum, segment) => sum + segment.cuts.length, 0);
    for (const segment of segments) {
      decide(`batch: ${segment.plan.targetRef}: ${segment.cuts.length} commit(s) to send (${policy.placement}) under a limit of ${policy.limitBytes} bytes`);
    }
    const sizer = new BatchSizer(policy.limitBytes, total, ordinaryPackBytes);
    let batchStartedAt = monotonicMillis();
    let attempts = 0;
    // The next batch's fetch, asked as soon as this batch's last byte went to the target: the
    // source counts and starts packing it while the target indexes this one, instead of after
    // (docs/architecture.md, "Batched relay"). Dropped when the next range turns out otherwise.
    let ahead: FetchAhead | null = null;
    const dropAhead = (): void => {
      ahead?.controller.abort();
      ahead = null;
    };
    const fetchAhead = (end: number, span: number, bytes: number, batch: number, commands: readonly { ref: string; newHash: string }[]): FetchAhead | null => {
      const nextEnd = sizer.endAfterFit(span, bytes, end);
      const landed = new Map(tempValues);
      const heldAfter = new Set(have);
      for (const command of commands) {
        landed.set(command.ref, command.newHash as Oid);
        heldAfter.add(command.newHash as Oid);
      }
      const nextParts = batchParts(graph, segments, end + 1, nextEnd, policy.placement);
      const nextWants = batchCommands(graph, nextParts, batch + 1, landed).map((command) => command.newHash as Oid).filter((hash) => !heldAfter.has(hash));
      if (nextWants.length === 0) return null;
      const controller = new AbortController();
      const response = fetchForTarget(context, nextWants, [...heldAfter], signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]));
      // Awaited by the push that uses it; one that is dropped must not be an unhandled rejection.
      response.catch(() => undefined);
      decide(`batch ${batch + 1}: asking the source for it while the target indexes batch ${batch}`);
      return { end: nextEnd, wants: nextWants, response, controller };
    };
    try {
      for (let done = -1; done < total - 1; ) {
        throwIfAborted(signal);
        const end = sizer.nextEnd(done);
        const span = end - done;
        const batch = outcome.batchCount + 1;
        const parts = batchParts(graph, segments, done + 1, end, policy.placement);
        const commands = batchCommands(graph, parts, batch, tempValues).map((command) => ({ ...command, newHash: command.newHash as Oid, oldHash: command.oldHash as Oid | null }));
        outcome.plannedBatchCount = sizer.planned(outcome.batchCount, done);
        const described = parts.map((part) => `${part.segment.plan.targetRef} commits ${part.first + 1}-${part.last + 1} of ${part.segment.cuts.length} -> ${part.segment.tempRef}`);
        decide(`batch ${batch}${outcome.plannedBatchCount > 0 ? `/${outcome.plannedBatchCount}` : ''}: ${described.join('; ')}`);
        observer.phase('push', { unit: 'batch', index: batch, total: outcome.plannedBatchCount > 0 ? outcome.plannedBatchCount : null });
        let result: Awaited<ReturnType<typeof relayPush>>;
        attempts += 1;
        const wants = commands.map((command) => command.newHash).filter((hash) => !have.has(hash));
        // Set by the previous batch's onPackSent (a callback: the compiler cannot see it).
        const asked = ahead as FetchAhead | null;
        const prefetched = asked !== null && asked.end === end && sameHashes(asked.wants, wants) ? asked : null;
        if (prefetched === null) dropAhead();
        ahead = null;
        try {
          result = await relayPush(context, {
            commands,
            wants,
            haves: [...have],
            atomic: target.discovery.features.atomic,
            budgetBytes: sizer.budget,
            // While the range is a guess, project its size early; a range sized from a landed
            // batch is only stopped where it crosses the budget.
            projectSize: sizer.guessing,
            ...(prefetched !== null ? { prefetched: prefetched.response } : {}),
            ...(end < total - 1 && context.sharedFetch === undefined
              ? { onPackSent: (bytes: number) => (ahead = fetchAhead(end, span, bytes, batch, commands)) }
              : {}),
          });
        } catch (error) {
          prefetched?.controller.abort();
          dropAhead();
          if (!(error instanceof PackOverBudgetError || error instanceof PushRefusedError)) throw error;
          const limit = sizer.limit;
          const { misfit, said } = misfitOf(error, limit);
          const step = sizer.misfit(span, misfit);
          if (sizer.limit !== limit) decide(`batch: the target named its limit: ${sizer.limit} bytes (was ${limit})`);
          if (step === null) throw indivisible(parts, graph, policy.placement, sizer.limit, error);
          decide(`batch ${batch}: ${span} commit(s) do not fit (${said}); subdividing to ${step}`);
          continue;
        }
        const failure = pushReportError(result.report, commands);
        if (failure !== null) throw failure;
        outcome.batchCount += 1;
        for (const command of commands) {
          tempValues.set(command.ref, command.newHash);
          usedTemps.add(command.ref);
          have.add(command.newHash);
        }
        const bytes = result.pack?.bytes ?? 0;
        const before = sizer.step;
        const next = sizer.fitted(span, bytes);
        const record = batchRecord(batch, span, result, attempts, monotonicMillis() - batchStartedAt);
        outcome.batches.push(record);
        decide(`batch ${batch}: ${bytes} bytes for ${span} commit(s) in ${seconds(record.totalMillis)} (${timeSplit(record)})${next !== before ? `; next batches of ${next} commit(s)` : ''}`);
        done = end;
        batchStartedAt = monotonicMillis();
        attempts = 0;
      }
    } finally {
      dropAhead();
    }
  }
  outcome.plannedBatchCount = Math.max(outcome.plannedBatchCount, outcome.batchCount);

  // Cutover: real refs (their objects are across now), tags and other refs, then the temporaries.
  decide(`batch: cutover of ${ordered.length} ref(s)`);
  const cutover = await executePlan(context, plans, { ...policy, extraHaves: have });
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
    await executePlan(context, temps, { ...policy, bestEffort: false, extraHaves: have });
  }
  outcome.plans = cutover.plans;
  outcome.tempRefs = [...new Set([...usedTemps, ...tempValues.keys()])].sort();
  return outcome;
}
