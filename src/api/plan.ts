/** `plan`: exactly what sync (or replicate) would do, pushing nothing (CONTRACT §2, §5). */
import type { PlanSummary, RefPlan, RelayMode, RelayReason, SyncMode } from '../plan/index.js';
import type { ProtocolVersion } from '../types.js';
import type { Observed } from './options.js';
import { planRun, resolvePolicy, type Planning, type PlanningOptions } from './planning.js';
import { RunContext } from './run-context.js';

export interface PlanOptions extends PlanningOptions {
  /** Which operation to preview; default `sync`. */
  mode?: 'sync' | 'replicate';
}

/** The CONTRACT §5 result shared by plan, sync, replicate and bootstrap. */
export interface SyncResult extends PlanSummary, Observed {
  operation: 'sync' | 'plan' | 'replicate' | 'bootstrap';
  /** What the run does (for plan: what it previews): sync, replicate or bootstrap rules. */
  mode: SyncMode;
  dryRun: boolean;
  source: { url: string; protocol: ProtocolVersion; head: string | null };
  target: { url: string; capabilities: string[] };
  plans: RefPlan[];
  relay: boolean;
  relayMode: RelayMode;
  relayReason: RelayReason;
  bootstrapSuggested: boolean;
  batching: boolean;
  batchCount: number;
  plannedBatchCount: number;
  tempRefs: string[];
  /** The deletion guard in force: most managed refs the run may delete. */
  maxDeletes: number;
}

/** The CONTRACT §5 result of a planned run, before anything is executed. */
export function planResult(operation: SyncResult['operation'], dryRun: boolean, planning: Planning): SyncResult {
  const { strategy } = planning;
  return {
    operation,
    mode: planning.policy.mode,
    dryRun,
    source: { url: planning.source.displayUrl, protocol: planning.source.discovery.protocol, head: planning.source.discovery.head },
    target: { url: planning.target.transport.displayUrl, capabilities: planning.target.discovery.capabilities.toList() },
    plans: planning.plans,
    ...planning.summary,
    relay: strategy.relay,
    relayMode: strategy.relayMode,
    relayReason: strategy.relayReason,
    bootstrapSuggested: strategy.bootstrapSuggested,
    batching: strategy.relayMode === 'bootstrap-batch' || strategy.relayMode === 'incremental-batch',
    batchCount: 0,
    plannedBatchCount: 0,
    tempRefs: planning.tempRefs,
    maxDeletes: planning.policy.deletionGuard.maxDeletes,
    stats: null,
    measurement: null,
  };
}

export async function plan(options: PlanOptions): Promise<SyncResult> {
  const policy = resolvePolicy(options, options.mode ?? 'sync');
  const context = new RunContext(options);
  try {
    const planning = await planRun(context, options, policy);
    await planning.source.close();
    await planning.target.close();
    await context.succeeded();
    return { ...planResult('plan', true, planning), ...context.finish() };
  } finally {
    context.finish();
    await context.close();
  }
}
