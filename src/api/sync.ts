/**
 * `sync`, `replicate` and `bootstrap` (docs/usage.md, "Commands"-§4): plan, then execute the plan by relaying
 * the source's pack into the target. A plan with blocked refs pushes nothing.
 */
import { GitSyncError, PushRefusedError, RefBlockedError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import {
  DEFAULT_MAX_REF_UPDATES,
  GITSYNC_TEMP_PREFIX,
  checkpointsOfManagedBranches,
  isPushPlan,
  summarizePlans,
  targetScopeContains,
  type DeletePlan,
  type PlanPolicy,
  type RefPlan,
  type SyncMode,
} from '../plan/index.js';
import { ReceivePackSession } from '../protocol/receive-pack-session.js';
import { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { RelayContext } from '../execute/context.js';
import { executeBatched } from '../execute/batched.js';
import { AncestryUnprovenError } from '../execute/ancestry-proof.js';
import type { SharedFetchMember } from '../execute/pack-tee.js';
import { executePlan, type ExecutePolicy } from '../execute/execute.js';
import type { RunObserver } from '../observe/observer.js';
import { failedBeforePlan, isBatched, planResult, withApplied, type ResultPlan, type SyncResult } from './plan.js';
import { planRun, replanAskingSource, resolvePolicy, type Planning, type PlanningOptions } from './planning.js';
import { RunContext } from './run-context.js';

export interface SyncOptions extends PlanningOptions {
  /** Abort a relayed source pack larger than this many bytes; the target is left untouched. */
  maxPackBytes?: number | null;
  /** Most ref commands per receive-pack request (default 5000). */
  targetMaxRefUpdates?: number;
  /** Ask for an atomic push when the target offers one (default true). */
  atomic?: boolean;
  bootstrapStrategy?: 'first-parent' | 'topo';
}

/** The body limit a resumed batched run assumes when none is given (GitHub's is about 2 GiB). */
const DEFAULT_RESUME_LIMIT_BYTES = 1024 * 1024 * 1024;
/** The smallest limit guessed from a refused push. */
const MIN_GUESSED_LIMIT_BYTES = 256 * 1024;

/** The plans as executed: every push plan applied, except the ones best-effort turned into `warn`. */
function appliedAll(plans: readonly RefPlan[]): ResultPlan[] {
  return plans.map((plan) => withApplied(plan, isPushPlan(plan) ? true : plan.action === 'warn' ? false : null));
}

/**
 * After a failed push: what did the target do? It is listed again and each push plan compared
 * with what it holds now: applied (the planned value), not applied (the value seen at plan
 * time), or, when the target cannot be listed or holds a third value, `applied` null. The
 * counts then say what happened, and the target's temporary refs are the ones left.
 */
async function settleAfterFailure(planning: Planning, result: SyncResult, signal: AbortSignal | undefined): Promise<void> {
  let now: Map<string, string>;
  try {
    const listing = await ReceivePackSession.open(planning.target.transport, { signal, readOnly: true });
    await listing.close().catch(() => undefined);
    now = new Map(listing.discovery.refs.map((ref) => [ref.name, ref.hash] as const));
  } catch {
    result.plans = result.plans.map((plan) => withApplied(plan, isPushPlan(plan) || plan.action === 'warn' ? null : plan.applied));
    result.pushed = 0;
    result.deleted = 0;
    return;
  }
  result.plans = result.plans.map((plan) => {
    if (!isPushPlan(plan) && plan.action !== 'warn') return plan;
    const current = now.get(plan.targetRef) ?? null;
    const wanted = plan.action === 'delete' ? null : plan.sourceHash;
    const before = plan.targetHash;
    return withApplied(plan, current === wanted ? true : current === before ? false : null);
  });
  result.pushed = result.plans.filter((plan) => (plan.action === 'create' || plan.action === 'update') && plan.applied === true).length;
  result.deleted = result.plans.filter((plan) => plan.action === 'delete' && plan.applied === true).length;
  result.tempRefs = [...now.keys()].filter((name) => name.startsWith(GITSYNC_TEMP_PREFIX)).sort();
}

/**
 * The branch the target's HEAD names after a run that changed refs, asked from the target's
 * upload-pack (v2 `ls-refs` reports even an unborn HEAD). A local target whose HEAD names a
 * branch it does not have, while the source's default branch is now there, gets HEAD pointed at
 * it, as `git clone` would have made it. Null when it cannot be asked: the run did succeed.
 */
async function settleTargetHead(
  planning: Planning,
  result: SyncResult,
  signal: AbortSignal | undefined,
  observer: RunObserver,
): Promise<string | null> {
  const transport = planning.target.transport;
  let head: string | null;
  try {
    const session = await UploadPackSession.open(transport, { protocol: 'auto', refPrefixes: ['HEAD'], listingPhase: 'target', signal });
    head = session.discovery.head;
    await session.close().catch(() => undefined);
  } catch (error) {
    observer.decision(`target: HEAD not known after the run (${error instanceof Error ? error.message : String(error)})`);
    return null;
  }
  const present = new Set(planning.target.discovery.refs.map((ref) => ref.name));
  for (const plan of result.plans) {
    if (plan.applied !== true) continue;
    if (plan.action === 'delete') present.delete(plan.targetRef);
    else present.add(plan.targetRef);
  }
  const sourceHead = planning.source.discovery.head;
  const dangling = head === null || !present.has(head);
  if (transport.setHead !== undefined && dangling && sourceHead !== null && sourceHead.startsWith('refs/heads/') && present.has(sourceHead)) {
    try {
      await transport.setHead(sourceHead, signal);
      observer.decision(`target: HEAD named ${head ?? 'nothing'}, which the target does not have; pointed it at ${sourceHead}, the source's default branch`);
      return sourceHead;
    } catch (error) {
      observer.decision(`target: HEAD left at ${head ?? 'nothing'}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return head;
}

function attachResult(error: unknown, result: SyncResult): unknown {
  if (error instanceof GitSyncError && error.result === null) error.result = result;
  return error;
}

/**
 * A verb that pushes: its mode is also the `operation` its result names. Attempts that fail for a
 * transient reason are tried again (RunContext.retrying) as long as the target is as it was: a
 * failed attempt that applied nothing (each plan's `applied` false, read back from the target)
 * left at most checkpoint refs, which the next attempt resumes from.
 */
async function run(mode: SyncMode, options: SyncOptions): Promise<SyncResult> {
  const policy = resolvePolicy(options, mode);
  const context = new RunContext(options);
  const urls = { source: redactUrl(options.source.url), target: redactUrl(options.target.url) };
  try {
    const result = await context.retrying(() => attempt(mode, options, policy, context, urls), targetUnchanged);
    await context.succeeded();
    return { ...result, ...context.finish() };
  } catch (error) {
    // The figures of the whole run, retries included.
    if (error instanceof GitSyncError && error.result !== null) error.result = { ...(error.result as SyncResult), ...context.finish() };
    throw error;
  } finally {
    context.finish();
    await context.close();
  }
}

/** True when the failed attempt changed no ref it planned: trying again cannot repeat a change. */
export function targetUnchanged(error: GitSyncError): boolean {
  const result = error.result as SyncResult | null;
  return result === null || result.plans.every((plan) => plan.applied !== true && (plan.applied === false || !(isPushPlan(plan) || plan.action === 'warn')));
}

/** One attempt: list both sides, plan, push; every error carries what it knew (its `result`). */
async function attempt(mode: SyncMode, options: SyncOptions, policy: PlanPolicy, context: RunContext, urls: { source: string; target: string }): Promise<SyncResult> {
  let planning: Planning;
  try {
    // A sync leaves its fast-forward questions to the relay's pack where it can (one fetch
    // instead of two: docs/architecture.md, "One fetch for an incremental sync").
    const maxRefUpdates = options.targetMaxRefUpdates ?? DEFAULT_MAX_REF_UPDATES;
    planning = await planRun(context, options, policy, { assumeFastForwards: { maxRefUpdates } });
  } catch (error) {
    throw attachResult(error, failedBeforePlan(mode, mode, urls, context.known, policy.deletionGuard.maxDeletes, context.observedSoFar()));
  }
  try {
    try {
      return await pushPlanned(planning, mode, options, policy, context);
    } catch (error) {
      if (!(error instanceof AncestryUnprovenError)) throw error;
      // The pack stopped before its end: the target applied nothing. Plan again, the source asked.
      context.observer.decision(`ancestry: ${error.message}; nothing was applied; asking the source and planning again`);
      try {
        planning = await replanAskingSource(planning, options);
      } catch (replanError) {
        throw attachResult(replanError, failedBeforePlan(mode, mode, urls, context.known, policy.deletionGuard.maxDeletes, context.observedSoFar()));
      }
      return await pushPlanned(planning, mode, options, policy, context);
    }
  } finally {
    await planning.source.close().catch(() => undefined);
    await planning.target.close().catch(() => undefined);
  }
}

/**
 * How a fan-out (api/fan-out.ts) runs one target's push: its relay's pack from a fetch the group
 * shares, and a one-shot push the target refuses for its size handed back (PushRefusedError)
 * instead of turned into batches at once, which would fetch from the source while the group's
 * fetch is still streaming; `refused` then resumes it in batches.
 */
export interface ExecuteHooks {
  sharedFetch?: SharedFetchMember;
  deferRefusal?: boolean;
  refused?: PushRefusedError;
}

/** Pushes a plan (nothing when it blocks); every error carries what it knew (its `result`). */
export async function pushPlanned(planning: Planning, mode: SyncMode, options: SyncOptions, policy: PlanPolicy, context: RunContext, hooks: ExecuteHooks = {}): Promise<SyncResult> {
  const result = planResult(mode, false, planning);
  if (planning.summary.blocked > 0) {
    const hint =
      planning.guard === 'empty-source'
        ? 'the source lists no managed refs: check its URL and access, or pass --allow-empty-source if it is really empty'
        : planning.guard === 'max-deletes'
          ? `more deletes than --max-deletes ${policy.deletionGuard.maxDeletes}: check the source, or raise --max-deletes`
          : undefined;
    const error = new RefBlockedError(planning.plans.filter((p) => p.action === 'block').map((p) => p.targetRef), { hint });
    // Nothing happened on the target: the counts say so (the plans still say what was planned).
    error.result = { ...result, plans: result.plans.map((plan) => withApplied(plan, isPushPlan(plan) ? false : null)), pushed: 0, deleted: 0, relay: false, ...context.observedSoFar() };
    throw error;
  }
  try {
    await execute(planning, result, options, policy, context, hooks);
    // HEAD is read back where it matters and costs little: after a bootstrap (a host picks its
    // default branch from the first push) and on local targets; not after every mirror run.
    const seeded = result.relayMode === 'bootstrap' || result.relayMode === 'bootstrap-batch';
    if (result.pushed + result.deleted > 0 && (seeded || planning.target.transport.kind === 'local')) {
      result.target.head = await settleTargetHead(planning, result, context.signal, context.observer);
    }
  } catch (error) {
    // The pack stopped before its end: nothing applied; the caller plans again. A refusal handed
    // back to a fan-out: nothing applied either; it resumes the push in batches.
    if (error instanceof AncestryUnprovenError || (hooks.deferRefusal === true && error instanceof PushRefusedError)) throw error;
    // The caller's own signal only: after the deadline the target is still read back once, so
    // the result says what happened (bounded by the idle timeout).
    await settleAfterFailure(planning, result, options.signal);
    throw attachResult(error, { ...result, ...context.observedSoFar() });
  }
  return result;
}

/** Pushes what the plan says, one-shot or in batches; fills `result` with what was done. */
async function execute(planning: Planning, result: SyncResult, options: SyncOptions, policy: PlanPolicy, context: RunContext, hooks: ExecuteHooks): Promise<void> {
  // A local target that does not exist yet is created now, as the source is: its object
  // format, and HEAD on the source's default branch.
  const sourceHead = planning.source.discovery.head;
  await planning.target.prepareForPush(
    {
      objectFormat: planning.source.discovery.capabilities.objectFormat(),
      headBranch: sourceHead !== null && sourceHead.startsWith('refs/heads/') ? sourceHead.slice('refs/heads/'.length) : null,
    },
    context.signal,
  );
  const relayContext: RelayContext = {
    source: planning.source,
    target: planning.target,
    maxPackBytes: options.maxPackBytes ?? null,
    maxRefUpdates: options.targetMaxRefUpdates ?? DEFAULT_MAX_REF_UPDATES,
    signal: context.signal,
    observer: context.observer,
    ...(hooks.sharedFetch !== undefined ? { sharedFetch: hooks.sharedFetch } : {}),
  };
  const executePolicy: ExecutePolicy = { atomic: options.atomic ?? true, bestEffort: policy.bestEffort, force: policy.force };
  const batched = async (limitBytes: number): Promise<void> => {
    result.batching = true;
    const outcome = await executeBatched(relayContext, planning.plans, { ...executePolicy, limitBytes, placement: options.bootstrapStrategy ?? 'first-parent' });
    result.plans = appliedAll(outcome.plans);
    Object.assign(result, summarizePlans(outcome.plans));
    result.batchCount = outcome.batchCount;
    result.plannedBatchCount = outcome.plannedBatchCount;
    result.batches = outcome.batches;
    result.tempRefs = outcome.tempRefs;
  };
  const relay = planning.relay.relayMode;
  if (isBatched(relay)) {
    await batched(options.targetMaxPackBytes ?? DEFAULT_RESUME_LIMIT_BYTES);
    return;
  }
  if (relay !== 'none') {
    try {
      if (hooks.refused !== undefined) throw hooks.refused;
      const outcome = await executePlan(relayContext, planning.plans, { ...executePolicy, proveAncestry: planning.assumed });
      result.plans = appliedAll(outcome.plans);
      Object.assign(result, summarizePlans(outcome.plans));
    } catch (error) {
      // A target that refuses a one-shot push for its size or duration gets batches instead.
      if (!(error instanceof PushRefusedError)) throw error;
      if (hooks.deferRefusal === true) throw error;
      // Batches are planned on answers from the source, not on assumed fast-forwards.
      if (planning.assumed.length > 0) {
        throw new AncestryUnprovenError(planning.assumed.map((question) => question.targetRef), `the target refused the one-shot push (HTTP ${error.status}) before the pack proved them`);
      }
      // The size the server named in its answer, else a guess from how far the push got (the
      // batches shrink further if the target still refuses).
      const guessed = Math.max(MIN_GUESSED_LIMIT_BYTES, Math.floor(error.packBytesSent * (error.status === 413 ? 0.9 : 0.5)));
      const limit = error.namedLimit ?? guessed;
      context.observer.decision(
        `relay: the target answered HTTP ${error.status} to a one-shot push after ${error.packBytesSent} pack bytes; switching to batches of at most ${limit} bytes${error.namedLimit !== null ? ' (the size it named)' : ''}`,
      );
      result.relayMode = relay === 'bootstrap' ? 'bootstrap-batch' : relay === 'replicate' ? 'replicate-batch' : 'incremental-batch';
      result.relayReason = 'target-body-limit';
      await batched(limit);
      return;
    }
  }
  await deleteStaleCheckpoints(relayContext, planning, result, executePolicy);
}

/**
 * Checkpoint refs of an earlier batched run (one that crashed, or ran with another scope) that
 * hold history for branches this run manages: the relay above already used them as haves; once
 * the run has succeeded they are deleted, so a successful run leaves none behind.
 */
async function deleteStaleCheckpoints(context: RelayContext, planning: Planning, result: SyncResult, policy: ExecutePolicy): Promise<void> {
  const { scope } = planning.policy;
  const stale = checkpointsOfManagedBranches(planning.target.discovery.refs, (branch) => targetScopeContains(scope, branch));
  if (stale.length === 0) return;
  context.observer.decision(`batch: deleting ${stale.length} checkpoint ref(s) an earlier batched run left on the target`);
  const deletes = stale.map((ref): DeletePlan => ({
    branch: null,
    sourceRef: null,
    targetRef: ref.name,
    kind: 'other',
    action: 'delete',
    reason: `${ref.hash.slice(0, 8)} -> deleted`,
    sourceHash: null,
    targetHash: ref.hash,
    forced: false,
  }));
  await executePlan(context, deletes, { ...policy, bestEffort: false, extraHaves: [] });
  result.tempRefs = stale.map((ref) => ref.name).sort();
}

/** Makes target refs follow source refs safely; bootstraps an empty target. */
export function sync(options: SyncOptions): Promise<SyncResult> {
  return run('sync', options);
}

/** Makes target refs equal source refs (overwrite; deletes with `prune`). Never blocks. */
export function replicate(options: SyncOptions): Promise<SyncResult> {
  return run('replicate', options);
}

/** Create-only seeding; refuses when a managed target ref exists. */
export function bootstrap(options: SyncOptions): Promise<SyncResult> {
  return run('bootstrap', options);
}
