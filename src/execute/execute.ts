/**
 * Executes a plan: the ref commands in push order, split into requests of at most
 * `maxRefUpdates`, each request one relay (or a ref-only push). Haves are every object the
 * target is known to hold — its tips at plan time plus what earlier requests of this run pushed —
 * so each pack is exactly what the target lacks.
 *
 * Policies: `--force-with-lease` sends the planned target value as each command's old value, so a
 * concurrent writer makes the push fail (TargetRefMovedError) instead of being overwritten.
 * `--force-blind` re-reads the target after such a failure and retries with the values it holds
 * then (stock git refuses an all-zero old value for an existing ref, so the current value is
 * always sent). Best-effort (`--all-refs`) pushes non-atomically and turns per-ref rejections
 * into `warn`.
 */
import { TargetRefMovedError, TargetRejectedError } from '../errors.js';
import {
  applyTargetRejections,
  chunkRefCommands,
  orderForPush,
  targetObjectHashes,
  type ForcePolicy,
  type PushPlan,
  type RefPlan,
} from '../plan/index.js';
import type { AncestryQuestion } from '../plan/index.js';
import type { PushCommand } from '../protocol/receive-pack.js';
import { ReceivePackSession } from '../protocol/receive-pack-session.js';
import { pushReportError } from '../protocol/report-status.js';
import type { Oid, Ref } from '../types.js';
import type { RelayContext } from './context.js';
import { relayPush } from './relay.js';

/** How often `--force-blind` re-reads the target and tries again after a moved ref. */
const BLIND_ATTEMPTS = 3;

/** How a plan is pushed: what the run's options and the plan's policy say. */
export interface ExecutePolicy {
  /** Ask for an atomic push when the target offers one. */
  atomic: boolean;
  bestEffort: boolean;
  force: ForcePolicy;
  /** Objects the target holds beyond its advertised refs (pushed earlier in this run). */
  extraHaves?: Iterable<Oid>;
  /**
   * Fast-forwards the plan assumed: the relay's pack proves them (RelayRequest.proveAncestry).
   * Only for a plan pushed in one request.
   */
  proveAncestry?: readonly AncestryQuestion[];
}

export interface ExecuteOutcome {
  /** The plans, with best-effort rejections turned into `warn`. */
  plans: RefPlan[];
}

function commandOf(plan: PushPlan): PushCommand {
  return { ref: plan.targetRef, oldHash: plan.targetHash, newHash: plan.sourceHash };
}

/** The objects a request's commands need that the target does not have: the relay's wants. */
function wantsOf(commands: readonly PushCommand[], have: ReadonlySet<string>): Oid[] {
  return [...new Set(commands.flatMap((c) => (c.newHash !== null && !have.has(c.newHash) ? [c.newHash as Oid] : [])))];
}

/**
 * The pack executePlan's relay asks for when the plan goes in one request: its wants and haves.
 * A fan-out groups targets by it (api/fan-out.ts).
 */
export function oneRequestPack(plans: readonly RefPlan[], targetRefs: readonly Ref[], sourceHead: string | null): { wants: Oid[]; haves: Oid[] } {
  const have = targetObjectHashes(targetRefs);
  return { wants: wantsOf(orderForPush(plans, sourceHead).map(commandOf), have), haves: [...have] as Oid[] };
}

export async function executePlan(context: RelayContext, plans: readonly RefPlan[], policy: ExecutePolicy): Promise<ExecuteOutcome> {
  const { source, observer, signal } = context;
  const initialTarget = context.target;
  let target = initialTarget;
  const atomic = policy.atomic && !policy.bestEffort && target.discovery.features.atomic;
  const ordered = orderForPush(plans, source.discovery.head);
  const have = targetObjectHashes(target.discovery.refs);
  for (const hash of policy.extraHaves ?? []) have.add(hash);
  const rejections = new Map<string, string>();
  const outcome: ExecuteOutcome = { plans: [...plans] };
  const chunks = chunkRefCommands(ordered.map(commandOf), context.maxRefUpdates);
  const prove = policy.proveAncestry ?? [];
  if (prove.length > 0 && chunks.length > 1) throw new Error('assumed fast-forwards are proven by one relay: the plan must fit one push request');
  if (chunks.length > 1) observer.decision(`push: ${ordered.length} ref commands in ${chunks.length} requests of at most ${context.maxRefUpdates}`);

  let request = 0;
  for (let chunk of chunks) {
    request += 1;
    observer.phase('push', chunks.length > 1 ? { unit: 'request', index: request, total: chunks.length } : null);
    for (let attempt = 1; ; attempt++) {
      const wants = wantsOf(chunk, have);
      observer.decision(
        wants.length === 0
          ? `push: ${chunk.length} ref command(s), ref-only (the target has every object)`
          : `push: ${chunk.length} ref command(s), relaying ${wants.length} want(s) against ${have.size} have(s)${atomic ? ', atomic' : ''}`,
      );
      const { report } = await relayPush({ ...context, target }, { commands: chunk, wants, haves: [...have], atomic, proveAncestry: prove });
      const failure = pushReportError(report, chunk);
      if (failure instanceof TargetRefMovedError && policy.force === 'blind' && attempt < BLIND_ATTEMPTS && !policy.bestEffort) {
        observer.decision(`push: ${failure.ref} moved on the target (${failure.reason}); --force-blind re-reads the target and retries`);
        const stale = target;
        target = await ReceivePackSession.open(target.transport, { signal });
        if (stale !== initialTarget) await stale.close().catch(() => undefined);
        const current = new Map(target.discovery.refs.map((ref) => [ref.name, ref.hash] as const));
        for (const hash of targetObjectHashes(target.discovery.refs)) have.add(hash);
        chunk = chunk.map((c) => ({ ...c, oldHash: current.get(c.ref) ?? null }));
        continue;
      }
      if (failure !== null) {
        const perRef = failure instanceof TargetRejectedError && failure.unpackError === null;
        if (!(policy.bestEffort && (perRef || failure instanceof TargetRefMovedError))) throw failure;
        for (const ref of report.refs) if (ref.status === 'ng') rejections.set(ref.ref, ref.reason);
      }
      for (const ref of report.refs) {
        const command = chunk.find((c) => c.ref === ref.ref);
        if (ref.status === 'ok' && command?.newHash) have.add(command.newHash);
      }
      break;
    }
  }
  if (target !== initialTarget) await target.close().catch(() => undefined);
  if (rejections.size > 0) {
    observer.decision(`push: the target rejected ${rejections.size} ref(s); best-effort turns them into warnings`);
    outcome.plans = applyTargetRejections(outcome.plans, rejections);
  }
  return outcome;
}
