/**
 * The shared first half of plan, sync, replicate and bootstrap: validate flags (before any
 * network traffic), list both sides, answer ancestry questions, plan every ref, and choose a
 * relay. Sessions stay open so an executing verb can go on to push.
 */
import { UnsupportedError } from '../errors.js';
import {
  ancestryFromMap,
  ancestryKey,
  ancestryQuestions,
  chooseRelay,
  guardDeletions,
  managedSourceCount,
  pairRefs,
  planActions,
  resolvePlanPolicy,
  sourceRefPrefixes,
  summarizePlans,
  targetObjectHashes,
  GITSYNC_TEMP_PREFIX,
  type AncestryAnswer,
  type AncestryQuestion,
  type PlanInput,
  type PlanPolicy,
  type PlanSummary,
  type RefPlan,
  type RelayChoice,
  type SyncMode,
  type TrippedGuard,
} from '../plan/index.js';
import { ReceivePackSession } from '../protocol/receive-pack-session.js';
import { UploadPackSession } from '../protocol/upload-pack-session.js';
import { answerAncestry } from './ancestry.js';
import { assertNamedRefsListed } from './ref-selection.js';
import { assertDifferentRepositories } from './same-repository.js';
import type { CommonOptions, EndpointOptions } from './options.js';
import { RunContext } from './run-context.js';
import type { Ref } from '../types.js';

/** Flags shared by sync, plan, replicate and bootstrap (docs/usage.md, "Commands"). */
export interface SyncScopeOptions {
  branches?: readonly string[];
  /** `--map src:dst` entries. */
  maps?: readonly string[];
  tags?: boolean;
  allRefs?: boolean;
  excludeRefPrefixes?: readonly string[];
  prune?: boolean;
  forceWithLease?: boolean;
  forceBlind?: boolean;
  /** The target's body limit in bytes: pushes are split into batches that fit. */
  targetMaxPackBytes?: number | null;
  /** Most managed refs one run may delete (default 100); more blocks every delete. */
  maxDeletes?: number;
  /** The source may really list no managed refs: do not block its deletes for that. */
  allowEmptySource?: boolean;
}

export interface PlanningOptions extends CommonOptions, SyncScopeOptions {
  source: EndpointOptions;
  target: EndpointOptions;
}

export interface Planning {
  context: RunContext;
  policy: PlanPolicy;
  source: UploadPackSession;
  target: ReceivePackSession;
  plans: RefPlan[];
  summary: PlanSummary;
  relay: RelayChoice;
  /** Temporary refs of an earlier batched run found on the target. */
  tempRefs: string[];
  /** Fetch requests spent answering ancestry questions. */
  ancestryRequests: number;
  /**
   * Questions planned as "ancestor" without asking the source (`PlanRunOptions.assumeFastForwards`):
   * the relay's pack must prove them (execute/ancestry-proof.ts). Empty when the source answered.
   */
  assumed: AncestryQuestion[];
  /** The deletion guard that blocked the deletes, if one did. */
  guard: TrippedGuard;
}

function describeSource(source: UploadPackSession): string {
  const { discovery } = source;
  const filter = source.supportsFilter ? 'offers filter' : 'no filter';
  return `source: protocol ${discovery.protocol}, ${discovery.refs.length} ref(s) listed, HEAD ${discovery.head ?? '(none)'}, ${filter}`;
}

function describeTarget(target: ReceivePackSession): string {
  const { refs, features } = target.discovery;
  const offered = [features.atomic && 'atomic', features.sideBand64k && 'side-band-64k', features.reportStatusV2 && 'report-status-v2'].filter(Boolean);
  return `target: ${refs.length} ref(s), offers ${offered.length > 0 ? offered.join(', ') : 'neither atomic nor side-band-64k'}`;
}

/** `plan: 5 ref(s): 2 create, 1 update, 2 skip`. */
function describePlans(plans: readonly RefPlan[]): string {
  const counts = new Map<string, number>();
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  for (let i = 0; i < plans.length; i++) {
    const action = plans[i]!.action;
    counts.set(action, (counts.get(action) ?? 0) + 1);
  }
  const parts = [...counts].map(([action, count]) => `${count} ${action}`);
  return `plan: ${plans.length} ref(s)${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`;
}

/** Usage checks that need no network: run them before opening anything. */
export function resolvePolicy(options: PlanningOptions, mode: SyncMode): PlanPolicy {
  const policy = resolvePlanPolicy({
    mode,
    branches: options.branches && options.branches.length > 0 ? options.branches : undefined,
    maps: options.maps,
    tags: options.tags,
    allRefs: options.allRefs,
    excludeRefPrefixes: options.excludeRefPrefixes,
    prune: options.prune,
    forceWithLease: options.forceWithLease,
    forceBlind: options.forceBlind,
    maxDeletes: options.maxDeletes,
    allowEmptySource: options.allowEmptySource,
  });
  assertDifferentRepositories(options.source.url, options.target.url, options.cwd ?? process.cwd());
  return policy;
}

/**
 * Lists both sides and plans. On failure every session opened so far is closed. The target is
 * only looked at: a local target that does not exist yet is created by `prepareForPush`, once
 * the run is known to go ahead.
 */
export interface PlanRunOptions {
  /**
   * A pushing sync may leave its fast-forward questions to the relay's own pack instead of a
   * commits-only fetch first (docs/architecture.md, "One fetch for an incremental sync"), where
   * that relay is one plain push: no body limit, no checkpoints to resume, at most
   * `maxRefUpdates` refs.
   */
  assumeFastForwards?: { maxRefUpdates: number } | null;
}

export async function planRun(context: RunContext, options: PlanningOptions, policy: PlanPolicy, runOptions: PlanRunOptions = {}): Promise<Planning> {
  const sourceEndpoint = context.endpoint(options.source);
  const targetEndpoint = context.endpoint(options.target);
  const sourceTransport = context.transport('source', sourceEndpoint, options.source);
  const targetTransport = context.transport('target', targetEndpoint, options.target);
  const { observer } = context;
  observer.phase('discover');
  // Both sides are listed at once: neither depends on the other, and a mirror job's wall time is
  // mostly round trips when little has changed.
  const sourceOpening = UploadPackSession.open(sourceTransport, {
    protocol: options.protocol ?? 'auto',
    refPrefixes: sourceRefPrefixes(policy.scope),
    observer,
    signal: context.signal,
  });
  const [sourceOpened, targetOpened] = await Promise.allSettled([
    sourceOpening,
    ReceivePackSession.open(targetTransport, { signal: context.signal, readOnly: true }),
  ]);
  if (sourceOpened.status === 'fulfilled') {
    const { discovery } = sourceOpened.value;
    context.known.source = { url: sourceOpened.value.displayUrl, protocol: discovery.protocol, head: discovery.head, invalidRefs: discovery.invalidRefs };
  }
  if (targetOpened.status === 'fulfilled') {
    const { discovery } = targetOpened.value;
    context.known.target = { url: targetOpened.value.transport.displayUrl, capabilities: discovery.capabilities.toList(), invalidRefs: discovery.invalidRefs };
  }
  if (sourceOpened.status === 'rejected' || targetOpened.status === 'rejected') {
    if (sourceOpened.status === 'fulfilled') await sourceOpened.value.close().catch(() => undefined);
    if (targetOpened.status === 'fulfilled') await targetOpened.value.close().catch(() => undefined);
    throw sourceOpened.status === 'rejected' ? sourceOpened.reason : (targetOpened as PromiseRejectedResult).reason;
  }
  const source = sourceOpened.value;
  const target: ReceivePackSession = targetOpened.value;
  try {
    observer.decision(describeSource(source));
    observer.decision(describeTarget(target));
    await assertNamedRefsListed(policy.scope, source, [], context.signal);
    const sourceFormat = source.discovery.capabilities.objectFormat();
    const targetFormat = target.discovery.features.objectFormat;
    // A target that does not exist yet is created in the source's format (prepareForPush).
    if (sourceFormat !== targetFormat && !target.missing) {
      // Object ids differ between the formats: no pack of one can land in the other.
      throw new UnsupportedError(
        `${source.displayUrl} uses ${sourceFormat} object ids and ${targetTransport.displayUrl} uses ${targetFormat}; git cannot move objects between the two: create the target with \`git init --bare --object-format=${sourceFormat}\``,
      );
    }
    return await planListed(context, options, policy, source, target, runOptions);
  } catch (error) {
    await source.close().catch(() => undefined);
    await target.close().catch(() => undefined);
    throw error;
  }
}

/**
 * No question's new tip is an object the target holds already (a tip or a peeled value). Built
 * only when there are questions: a no-op over thousands of refs asks none.
 */
function newToTarget(questions: readonly AncestryQuestion[], targetRefs: readonly Ref[]): boolean {
  const held = targetObjectHashes(targetRefs);
  return questions.every((question) => !held.has(question.sourceHash));
}

/**
 * Plans from both sides' listings. Also used again after a relay's pack did not prove the
 * fast-forwards it was planned on: the same sessions, the source asked this time.
 */
async function planListed(
  context: RunContext,
  options: PlanningOptions,
  policy: PlanPolicy,
  source: UploadPackSession,
  target: ReceivePackSession,
  runOptions: PlanRunOptions,
): Promise<Planning> {
  const { observer } = context;
  const input: PlanInput = {
    mode: policy.mode,
    scope: policy.scope,
    prune: policy.prune,
    force: policy.force,
    sourceRefs: source.discovery.refs,
    targetRefs: target.discovery.refs,
  };
  input.pairs = pairRefs(input.scope, input.sourceRefs, input.targetRefs);
  const questions = ancestryQuestions(input);
  const tempRefs: string[] = [];
  const targetRefs = target.discovery.refs;
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  for (let i = 0; i < targetRefs.length; i++) if (targetRefs[i]!.name.startsWith(GITSYNC_TEMP_PREFIX)) tempRefs.push(targetRefs[i]!.name);
  const assume = runOptions.assumeFastForwards ?? null;
  let assumed =
    questions.length > 0 &&
    assume !== null &&
    policy.mode === 'sync' &&
    policy.force === 'none' &&
    // With filters the relay's fetch walks objects (relay.ts, THIN_PACK_FILTER): no commit in
    // its pack is a delta against one the target has, which a bitmap walk allows, and which no
    // reader could open. Without, the source is asked first, as before.
    source.supportsFilter &&
    (options.targetMaxPackBytes ?? null) === null &&
    tempRefs.length === 0 &&
    input.pairs.length <= assume.maxRefUpdates &&
    // A new tip the target holds already travels in no pack: nothing there could prove it.
    newToTarget(questions, target.discovery.refs)
      ? questions
      : [];
  const planWith = (answers: ReadonlyMap<string, AncestryAnswer>) =>
    guardDeletions(planActions({ ...input, ancestry: ancestryFromMap(answers) }), policy.deletionGuard, () => managedSourceCount(policy.scope, source.discovery.refs));
  const ask = async () => {
    if (questions.length > 0) observer.phase('ancestry');
    return answerAncestry(source, questions, { signal: context.signal, observer });
  };
  let ancestry: Awaited<ReturnType<typeof answerAncestry>>;
  let guarded: ReturnType<typeof planWith>;
  if (assumed.length > 0) {
    ancestry = { answers: new Map(questions.map((question) => [ancestryKey(question.targetHash, question.sourceHash), 'ancestor'] as const)), requests: 0, commits: 0 };
    guarded = planWith(ancestry.answers);
    if (guarded.plans.some((plan) => plan.action === 'block')) {
      // A run that blocks pushes nothing, and its report must be exact: ask the source.
      assumed = [];
      ancestry = await ask();
      guarded = planWith(ancestry.answers);
    } else {
      observer.decision(`ancestry: ${questions.length} question(s) left to the relay's pack: planned as fast-forwards, proven by the pack's commits before the target takes it`);
    }
  } else {
    ancestry = await ask();
    guarded = planWith(ancestry.answers);
  }
  const plans = guarded.plans;
  if (guarded.tripped !== null) observer.decision(`plan: deletes blocked by the ${guarded.tripped} guard`);
  const relay = chooseRelay({
    mode: policy.mode,
    plans,
    targetRefs: target.discovery.refs,
    targetMaxPackBytes: options.targetMaxPackBytes ?? null,
  });
  observer.decision(describePlans(plans));
  observer.decision(`relay: ${relay.relayMode} (${relay.relayReason})`);
  return {
    context,
    policy,
    source,
    target,
    plans,
    summary: summarizePlans(plans),
    relay,
    tempRefs,
    ancestryRequests: ancestry.requests,
    assumed,
    guard: guarded.tripped,
  };
}

/**
 * Lists the source alone, for a run with several targets (api/fan-out.ts): the session every
 * target's plan and relay then share.
 */
export async function openSource(context: RunContext, options: PlanningOptions, policy: PlanPolicy): Promise<UploadPackSession> {
  const transport = context.transport('source', context.endpoint(options.source), options.source);
  context.observer.phase('discover');
  const source = await UploadPackSession.open(transport, {
    protocol: options.protocol ?? 'auto',
    refPrefixes: sourceRefPrefixes(policy.scope),
    observer: context.observer,
    signal: context.signal,
  });
  context.known.source = { url: source.displayUrl, protocol: source.discovery.protocol, head: source.discovery.head, invalidRefs: source.discovery.invalidRefs };
  try {
    context.observer.decision(describeSource(source));
    await assertNamedRefsListed(policy.scope, source, [], context.signal);
    return source;
  } catch (error) {
    await source.close().catch(() => undefined);
    throw error;
  }
}

/**
 * One target of a run with several (api/fan-out.ts): listed with its own context, planned against
 * the shared source session (fast-forwards asked of the source: no relay is left to prove them
 * alone when several targets share it). The caller closes the target session.
 */
export async function planTarget(context: RunContext, options: PlanningOptions, policy: PlanPolicy, source: UploadPackSession): Promise<Planning> {
  const transport = context.transport('target', context.endpoint(options.target), options.target);
  const target = await ReceivePackSession.open(transport, { signal: context.signal, readOnly: true });
  context.known.source = { url: source.displayUrl, protocol: source.discovery.protocol, head: source.discovery.head, invalidRefs: source.discovery.invalidRefs };
  context.known.target = { url: transport.displayUrl, capabilities: target.discovery.capabilities.toList(), invalidRefs: target.discovery.invalidRefs };
  try {
    context.observer.decision(describeTarget(target));
    const sourceFormat = source.discovery.capabilities.objectFormat();
    const targetFormat = target.discovery.features.objectFormat;
    if (sourceFormat !== targetFormat && !target.missing) {
      throw new UnsupportedError(
        `${source.displayUrl} uses ${sourceFormat} object ids and ${transport.displayUrl} uses ${targetFormat}; git cannot move objects between the two: create the target with \`git init --bare --object-format=${sourceFormat}\``,
      );
    }
    return await planListed(context, options, policy, source, target, {});
  } catch (error) {
    await target.close().catch(() => undefined);
    throw error;
  }
}

/** Plans again on `planning`'s sessions, with the fast-forward questions asked of the source. */
export function replanAskingSource(planning: Planning, options: PlanningOptions): Promise<Planning> {
  return planListed(planning.context, options, planning.policy, planning.source, planning.target, {});
}
