/** `plan`: exactly what sync (or replicate) would do, pushing nothing (docs/usage.md, "Commands", §5). */
import { GitSyncError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import type { PlanSummary, RefPlan, RelayMode, RelayReason, SyncMode } from '../plan/index.js';
import type { InvalidRefName, ProtocolVersion } from '../types.js';
import type { BatchRecord } from '../execute/batched.js';
import type { Observed } from './options.js';
import { planRun, resolvePolicy, type Planning, type PlanningOptions } from './planning.js';
import { RunContext } from './run-context.js';

export interface PlanOptions extends PlanningOptions {
  /** Which operation to preview; default `sync`. */
  mode?: 'sync' | 'replicate';
}

/**
 * A planned ref in a result: the plan, and what the target did. `applied`: true when the target
 * holds the planned value after the run, false when it does not (the push failed or the target
 * refused the ref), null when nothing was to be done (skip, block, a dry run) or the target
 * could not be listed again after a failure.
 */
export type ResultPlan = RefPlan & { applied: boolean | null };

/** The docs/json.md result shared by plan, sync, replicate and bootstrap. */
export interface SyncResult extends PlanSummary, Observed {
  operation: 'sync' | 'plan' | 'replicate' | 'bootstrap';
  /** What the run does (for plan: what it previews): sync, replicate or bootstrap rules. */
  mode: SyncMode;
  dryRun: boolean;
  /**
   * `protocol` is null only in the result of a run that failed before it listed the source.
   * `invalidRefs`: names the source listed that git refuses, skipped (plan/listed-refs.ts).
   */
  source: { url: string; protocol: ProtocolVersion | null; head: string | null; invalidRefs: InvalidRefName[] };
  /**
   * `head`: the branch the target's HEAD names after the run, asked after a bootstrap and, on a
   * local target, after any run that changed refs; null otherwise or when it could not be asked.
   */
  target: { url: string; capabilities: string[]; head: string | null; invalidRefs: InvalidRefName[] };
  plans: ResultPlan[];
  relay: boolean;
  relayMode: RelayMode;
  /** Null only in the result of a run that failed before it planned. */
  relayReason: RelayReason | null;
  bootstrapSuggested: boolean;
  batching: boolean;
  batchCount: number;
  plannedBatchCount: number;
  /** The checkpoint pushes that landed, with where each one's time went (empty without batching). */
  batches: BatchRecord[];
  tempRefs: string[];
  /** The deletion guard in force: most managed refs the run may delete (null: not known, the run failed first). */
  maxDeletes: number | null;
}

/** The relay modes that push history in batches under a body limit. */
export function isBatched(mode: RelayMode): boolean {
  return mode === 'bootstrap-batch' || mode === 'incremental-batch' || mode === 'replicate-batch';
}

/** Every plan of a run that has not pushed anything (yet): `applied` null. */
export function unapplied(plans: readonly RefPlan[]): ResultPlan[] {
  return plans.map((plan) => withApplied(plan, null));
}

/**
 * `plan` with `applied`, its fields written out in the planner's order (plan/plan-actions.ts):
 * a spread copies through V8's generic path, and a no-op over 10,000 refs spent 4 ms of its
 * 70 in it (`npm run bench -- noop`).
 */
export function withApplied(plan: RefPlan, applied: boolean | null): ResultPlan {
  return {
    branch: plan.branch,
    sourceRef: plan.sourceRef,
    targetRef: plan.targetRef,
    sourceHash: plan.sourceHash,
    targetHash: plan.targetHash,
    kind: plan.kind,
    action: plan.action,
    reason: plan.reason,
    forced: plan.forced,
    applied,
  } as ResultPlan;
}

/**
 * The result of a run that failed before its plan was made: every field the run learned (the
 * sides it listed, its statistics) filled, the rest empty.
 */
export function failedBeforePlan(
  operation: SyncResult['operation'],
  mode: SyncMode,
  urls: { source: string; target: string },
  known: { source?: SyncResult['source']; target?: Omit<SyncResult['target'], 'head'> },
  maxDeletes: number | null,
  observed: Observed,
): SyncResult {
  return {
    operation,
    mode,
    dryRun: operation === 'plan',
    source: known.source ?? { url: urls.source, protocol: null, head: null, invalidRefs: [] },
    target: known.target === undefined
      ? { url: urls.target, capabilities: [], head: null, invalidRefs: [] }
      : { url: known.target.url, capabilities: known.target.capabilities, head: null, invalidRefs: known.target.invalidRefs },
    plans: [],
    pushed: 0,
    deleted: 0,
    skipped: 0,
    blocked: 0,
    warned: 0,
    relay: false,
    relayMode: 'none',
    relayReason: null,
    bootstrapSuggested: false,
    batching: false,
    batchCount: 0,
    plannedBatchCount: 0,
    batches: [],
    tempRefs: [],
    maxDeletes,
    ...observed,
  };
}

/** The docs/json.md result of a planned run, before anything is executed. */
export function planResult(operation: SyncResult['operation'], dryRun: boolean, planning: Planning): SyncResult {
  const { relay } = planning;
  return {
    operation,
    mode: planning.policy.mode,
    dryRun,
    source: {
      url: planning.source.displayUrl,
      protocol: planning.source.discovery.protocol,
      head: planning.source.discovery.head,
      invalidRefs: planning.source.discovery.invalidRefs,
    },
    target: {
      url: planning.target.transport.displayUrl,
      capabilities: planning.target.discovery.capabilities.toList(),
      head: null,
      invalidRefs: planning.target.discovery.invalidRefs,
    },
    plans: unapplied(planning.plans),
    ...planning.summary,
    relay: relay.relay,
    relayMode: relay.relayMode,
    relayReason: relay.relayReason,
    bootstrapSuggested: relay.bootstrapSuggested,
    batching: isBatched(relay.relayMode),
    batchCount: 0,
    plannedBatchCount: 0,
    batches: [],
    tempRefs: planning.tempRefs,
    maxDeletes: planning.policy.deletionGuard.maxDeletes,
    stats: null,
    measurement: null,
  };
}

export async function plan(options: PlanOptions): Promise<SyncResult> {
  const mode = options.mode ?? 'sync';
  const policy = resolvePolicy(options, mode);
  const context = new RunContext(options);
  const urls = { source: redactUrl(options.source.url), target: redactUrl(options.target.url) };
  try {
    // Planning only reads: a transient failure is always safe to try again.
    const planning = await context.retrying(async () => {
      try {
        return await planRun(context, options, policy);
      } catch (error) {
        if (error instanceof GitSyncError && error.result === null) {
          error.result = failedBeforePlan('plan', mode, urls, context.known, policy.deletionGuard.maxDeletes, context.observedSoFar());
        }
        throw error;
      }
    });
    await planning.source.close();
    await planning.target.close();
    await context.succeeded();
    return { ...planResult('plan', true, planning), ...context.finish() };
  } catch (error) {
    if (error instanceof GitSyncError && error.result !== null) error.result = { ...(error.result as SyncResult), ...context.finish() };
    throw error;
  } finally {
    context.finish();
    await context.close();
  }
}
