/**
 * One source, many targets (docs/architecture.md, "One source, many targets"): the source is
 * listed once; every target is listed and planned on its own (its own actions, blocks, result);
 * targets that need the same pack (the same wants, the same haves: typically all empty, or all at
 * the same tips) share one fetch whose chunks go to all their pushes at once, the slowest paced
 * (execute/pack-tee.ts); the others, and any a body limit sends to batches, run one after the
 * other on the same source session. A target that fails or is blocked does not stop the others.
 */
import { GitSyncError, PushRefusedError, UsageError } from '../errors.js';
import { oneRequestPack } from '../execute/execute.js';
import { fetchForTarget } from '../execute/relay.js';
import { SharedFetch, type GroupRequest } from '../execute/pack-tee.js';
import { redactUrl } from '../observe/redact.js';
import { DEFAULT_MAX_REF_UPDATES, isPushPlan, type PlanPolicy, type SyncMode } from '../plan/index.js';
import { repositoryIdentity } from './same-repository.js';
import type { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { Oid } from '../types.js';
import type { EndpointOptions, Observed } from './options.js';
import { failedBeforePlan, planResult, type SyncResult } from './plan.js';
import { openSource, planTarget, resolvePolicy, type Planning } from './planning.js';
import { RunContext } from './run-context.js';
import { DEFAULT_RETRIES } from './retry.js';
import { pushPlanned, targetUnchanged, type SyncOptions } from './sync.js';

export interface FanOutOptions extends Omit<SyncOptions, 'target'> {
  /** What to do on every target: a pushing verb, or `plan` (nothing pushed). */
  operation: SyncMode | 'plan';
  /** For `plan`: which verb's rules it previews (default `sync`). */
  mode?: SyncMode;
  /** Two or more (one works too); each a repository of its own, none the source. */
  targets: readonly EndpointOptions[];
}

/** One target's outcome: its result as a one-target run reports it, and its error, if any. */
export interface TargetOutcome {
  result: SyncResult;
  error: GitSyncError | null;
}

export interface FanOutResult extends Observed {
  operation: SyncMode | 'plan';
  source: SyncResult['source'];
  /** In the order given. */
  targets: TargetOutcome[];
  /** Source fetches the relays shared: one per group of targets that needed the same pack. */
  sharedFetches: number;
}

interface Member {
  index: number;
  options: SyncOptions;
  context: RunContext;
  planning: Planning | null;
  outcome: TargetOutcome | null;
  /** A one-shot push the target refused for its size, to be resumed in batches. */
  refused: PushRefusedError | null;
}

/** The pack a target's one-shot relay will ask for, when it is one request a group can share. */
function sharedRequest(planning: Planning, options: SyncOptions, policy: PlanPolicy): (GroupRequest & { key: string }) | null {
  const mode = planning.relay.relayMode;
  if (mode !== 'bootstrap' && mode !== 'incremental' && mode !== 'replicate') return null;
  if (planning.summary.blocked > 0 || policy.force === 'blind') return null;
  const pushes = planning.plans.filter(isPushPlan);
  if (pushes.length === 0 || pushes.length > (options.targetMaxRefUpdates ?? DEFAULT_MAX_REF_UPDATES)) return null;
  const { wants, haves } = oneRequestPack(planning.plans, planning.target.discovery.refs, planning.source.discovery.head);
  if (wants.length === 0) return null;
  const thin = haves.length > 0 && !planning.target.discovery.features.noThin;
  return { wants, haves, key: `${[...wants].sort().join(',')}|${[...haves].sort().join(',')}|${thin}` };
}

/** Runs `operation` from one source into every target; never throws for one target's failure. */
export async function fanOut(options: FanOutOptions): Promise<FanOutResult> {
  if (options.targets.length === 0) throw new UsageError('no target given: pass one or more targets');
  const mode: SyncMode = options.operation === 'plan' ? (options.mode ?? 'sync') : options.operation;
  const cwd = options.cwd ?? process.cwd();
  const targetOptions = options.targets.map((target): SyncOptions => ({ ...options, target }));
  const policy = resolvePolicy(targetOptions[0]!, mode);
  const seen = new Map<string, string>();
  for (const target of options.targets) {
    resolvePolicy({ ...options, target }, mode);
    const key = repositoryIdentity(target.url, cwd);
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new UsageError(`${redactUrl(target.url)} and ${redactUrl(earlier)} are the same target repository; name each target once`);
    seen.set(key, target.url);
  }

  const context = new RunContext(options);
  const members: Member[] = targetOptions.map((targetOptionsOf, index) => {
    const label = redactUrl(targetOptionsOf.target.url);
    // Each target's own context: its statistics, its transports, its decisions named.
    const own = new RunContext({
      ...targetOptionsOf,
      measureMemory: false,
      onProgress:
        options.onProgress === undefined
          ? undefined
          : (event) => options.onProgress!(event.kind === 'decision' ? { ...event, message: `[${label}] ${event.message}` } : event),
    });
    return { index, options: targetOptionsOf, context: own, planning: null, outcome: null, refused: null };
  });
  let source: UploadPackSession | null = null;
  let sharedFetches = 0;
  const urls = (member: Member): { source: string; target: string } => ({ source: redactUrl(options.source.url), target: redactUrl(member.options.target.url) });
  const fail = (member: Member, error: unknown): void => {
    const typed = error instanceof GitSyncError ? error : new GitSyncError('USAGE', String(error));
    const partial = (typed.result as SyncResult | null) ?? failedBeforePlan(options.operation, mode, urls(member), member.context.known, policy.deletionGuard.maxDeletes, member.context.observedSoFar());
    member.outcome = { result: partial, error: typed };
  };
  try {
    source = await context.retrying(() => openSource(context, targetOptions[0]!, policy));
    // Every target listed and planned; the fast-forward questions of each asked of the one source
    // session, one target after the other.
    for (const member of members) {
      try {
        // Listing and planning only read: a transient failure is tried again (`retries`).
        member.planning = await member.context.retrying(() => planTarget(member.context, member.options, policy, source!));
      } catch (error) {
        fail(member, error);
      }
    }
    if (options.operation === 'plan') {
      for (const member of members) if (member.planning !== null) member.outcome = { result: planResult('plan', true, member.planning), error: null };
    } else {
      // Targets that need the same pack share one fetch; a group of one is a plain relay.
      const groups = new Map<string, { request: GroupRequest; members: Member[] }>();
      const alone: Member[] = [];
      for (const member of members) {
        if (member.planning === null) continue;
        const request = sharedRequest(member.planning, member.options, policy);
        if (request === null) {
          alone.push(member);
          continue;
        }
        const group = groups.get(request.key) ?? { request, members: [] };
        group.members.push(member);
        groups.set(request.key, group);
      }
      /** Members of a group that failed for a transient reason with their target unchanged. */
      const retryAlone: Member[] = [];
      const run = async (member: Member, hooks: Parameters<typeof pushPlanned>[5], grouped: boolean): Promise<void> => {
        try {
          const push = (): Promise<SyncResult> => pushPlanned(member.planning!, mode, member.options, policy, member.context, hooks);
          // Alone, a push whose failure left the target as it was is tried again (retries); a
          // group's member cannot fetch its pack again by itself: it is tried alone after the group.
          const result = grouped ? await push() : await member.context.retrying(push, targetUnchanged);
          await member.context.succeeded();
          member.outcome = { result, error: null };
        } catch (error) {
          if (error instanceof PushRefusedError && hooks?.deferRefusal === true) member.refused = error;
          else if (grouped && error instanceof GitSyncError && error.transient && targetUnchanged(error) && (options.retries ?? DEFAULT_RETRIES) > 0) {
            member.context.observer.decision(`fan-out: ${error.message}; the target is unchanged: trying it again alone`);
            retryAlone.push(member);
          } else fail(member, error);
        }
      };
      for (const group of groups.values()) {
        if (group.members.length === 1) {
          alone.push(group.members[0]!);
          continue;
        }
        const first = group.members[0]!.planning!;
        const firstContext = group.members[0]!.context;
        context.observer.decision(`fan-out: one fetch for ${group.members.length} targets (${group.request.wants.length} want(s), ${group.request.haves.length} have(s))`);
        sharedFetches += 1;
        const shared = new SharedFetch(
          group.members.length,
          group.request,
          (signal) =>
            fetchForTarget(
              { source: first.source, target: first.target, maxPackBytes: options.maxPackBytes ?? null, maxRefUpdates: options.targetMaxRefUpdates ?? DEFAULT_MAX_REF_UPDATES, signal, observer: firstContext.observer },
              group.request.wants as Oid[],
              group.request.haves as Oid[],
              signal,
            ),
          context.signal,
          { objectFormat: first.source.discovery.capabilities.objectFormat(), maxBytes: options.maxPackBytes ?? null },
        );
        await Promise.all(
          group.members.map(async (member) => {
            const handle = shared.member();
            try {
              await run(member, { sharedFetch: handle, deferRefusal: true }, true);
            } finally {
              handle.done();
            }
          }),
        );
      }
      // One after the other on the source session: targets with packs of their own, and those a
      // body limit sends to batches.
      for (const member of [...alone, ...retryAlone, ...members.filter((m) => m.refused !== null)].sort((a, b) => a.index - b.index)) {
        await run(member, member.refused !== null ? { refused: member.refused } : {}, false);
      }
    }
  } catch (error) {
    // The source could not be listed: every target fails with it.
    for (const member of members) if (member.outcome === null) fail(member, error);
  } finally {
    await source?.close().catch(() => undefined);
    for (const member of members) {
      await member.planning?.target.close().catch(() => undefined);
      const observed = member.context.finish();
      if (member.outcome !== null) member.outcome.result = { ...member.outcome.result, ...observed };
      await member.context.close();
    }
  }
  const observed = context.finish();
  await context.close();
  return {
    operation: options.operation,
    source: context.known.source ?? { url: redactUrl(options.source.url), protocol: null, head: null, invalidRefs: [] },
    targets: members.map((member) => member.outcome!),
    sharedFetches,
    ...observed,
  };
}
