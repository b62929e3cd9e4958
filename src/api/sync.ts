/**
 * `sync`, `replicate` and `bootstrap` (CONTRACT §2-§4): plan, then execute the plan by relaying
 * the source's pack into the target. A plan with blocked refs pushes nothing.
 */
import { RefBlockedError, UnsupportedError } from '../errors.js';
import { DEFAULT_MAX_REF_UPDATES, summarizePlans, type SyncMode } from '../plan/index.js';
import { executePlan } from '../strategy/execute.js';
import type { SyncResult } from './plan.js';
import { planRun, resolvePolicy, type Planning, type PlanningOptions } from './planning.js';
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

function resultOf(operation: SyncResult['operation'], planning: Planning): SyncResult {
  const { strategy } = planning;
  return {
    operation,
    dryRun: false,
    source: { url: planning.source.displayUrl, protocol: planning.source.discovery.protocol, head: planning.source.discovery.head },
    target: { url: planning.target.transport.displayUrl, capabilities: planning.target.discovery.capabilities.toList() },
    plans: planning.plans,
    ...planning.summary,
    relay: strategy.relay,
    relayMode: strategy.relayMode,
    relayReason: strategy.relayReason,
    bootstrapSuggested: strategy.bootstrapSuggested,
    batching: false,
    batchCount: 0,
    plannedBatchCount: 0,
    tempRefs: planning.tempRefs,
    stats: null,
    measurement: null,
  };
}

async function run(operation: 'sync' | 'replicate' | 'bootstrap', mode: SyncMode, options: SyncOptions): Promise<SyncResult> {
  const policy = resolvePolicy(options, mode);
  const context = new RunContext(options);
  try {
    const planning = await planRun(context, options, policy);
    try {
      const result = resultOf(operation, planning);
      if (planning.summary.blocked > 0) {
        const error = new RefBlockedError(planning.plans.filter((p) => p.action === 'block').map((p) => p.targetRef));
        error.result = { ...result, ...context.finish() };
        throw error;
      }
      if (planning.strategy.relayMode === 'bootstrap-batch' || planning.strategy.relayMode === 'incremental-batch') {
        throw new UnsupportedError('batched pushes (--target-max-pack-bytes, or a resume of an earlier batched run) are not available in this build; run without --target-max-pack-bytes');
      }
      if (planning.strategy.relayMode !== 'none') {
        const outcome = await executePlan(planning.source, planning.target, planning.plans, {
          atomic: options.atomic ?? true,
          bestEffort: policy.bestEffort,
          force: policy.force,
          maxPackBytes: options.maxPackBytes ?? null,
          maxRefUpdates: options.targetMaxRefUpdates ?? DEFAULT_MAX_REF_UPDATES,
          stats: context.stats,
          signal: options.signal,
          onSourceProgress: context.progress('source'),
          onTargetProgress: context.progress('target'),
          onDecision: context.decisions(),
        });
        result.plans = outcome.plans;
        Object.assign(result, summarizePlans(outcome.plans));
      }
      return { ...result, ...context.finish() };
    } finally {
      await planning.source.close().catch(() => undefined);
      await planning.target.close().catch(() => undefined);
    }
  } finally {
    context.finish();
    await context.close();
  }
}

/** Makes target refs follow source refs safely; bootstraps an empty target. */
export function sync(options: SyncOptions): Promise<SyncResult> {
  return run('sync', 'sync', options);
}

/** Makes target refs equal source refs (overwrite; deletes with `prune`). Never blocks. */
export function replicate(options: SyncOptions): Promise<SyncResult> {
  return run('replicate', 'replicate', options);
}

/** Create-only seeding; refuses when a managed target ref exists. */
export function bootstrap(options: SyncOptions): Promise<SyncResult> {
  return run('bootstrap', 'bootstrap', options);
}
