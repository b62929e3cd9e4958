/**
 * The order of receive-pack commands. Deletes go first (in a non-atomic push, deleting
 * `refs/heads/a` must precede creating `refs/heads/a/b`); then the branch the source HEAD points
 * at, so a host seeded by a bootstrap picks it as its default branch; then other branches, tags,
 * and other refs, each group sorted by target name.
 */

import type { RefName } from '../types.js';
import { isPushPlan, type PushPlan, type RefPlan } from './plan-types.js';
import { compareRefNames } from './ref-kind.js';

function group(plan: PushPlan, sourceHead: RefName | null): number {
  if (plan.action === 'delete') return 0;
  if (plan.kind === 'branch') return sourceHead !== null && plan.sourceRef === sourceHead ? 1 : 2;
  return plan.kind === 'tag' ? 3 : 4;
}

/** The create, update and delete plans, in push order. `sourceHead`: HEAD's symref target on the source. */
export function orderForPush(plans: readonly RefPlan[], sourceHead: RefName | null): PushPlan[] {
  return plans
    .filter(isPushPlan)
    .map((plan) => ({ plan, group: group(plan, sourceHead) }))
    .sort((a, b) => a.group - b.group || compareRefNames(a.plan.targetRef, b.plan.targetRef))
    .map(({ plan }) => plan);
}
