/**
 * Best-effort runs (`--all-refs` on sync/bootstrap) keep going when the target refuses some refs
 * (hosts often refuse `refs/pull/*` and the like). The executor reports those refusals; this
 * turns the refused commands into `warn` plans. Call it only in best-effort mode: elsewhere a
 * rejection is a failure.
 */

import type { RefName } from '../types.js';
import { isPushPlan, type RefPlan } from './plan-types.js';
import { reasons } from './reasons.js';

/** `rejections`: target ref name -> the server's reason (from report-status `ng <ref> <reason>`). */
export function applyTargetRejections(plans: readonly RefPlan[], rejections: ReadonlyMap<RefName, string>): RefPlan[] {
  return plans.map((plan) => {
    const serverReason = rejections.get(plan.targetRef);
    if (serverReason === undefined || !isPushPlan(plan)) return plan;
    return {
      branch: plan.branch,
      sourceRef: plan.sourceRef,
      targetRef: plan.targetRef,
      sourceHash: plan.sourceHash,
      targetHash: plan.targetHash,
      kind: plan.kind,
      action: 'warn',
      reason: reasons.targetRejected(serverReason),
      forced: plan.forced,
    };
  });
}
