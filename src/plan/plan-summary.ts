/** The counts of a run (docs/json.md: pushed, deleted, skipped, blocked, warned). */

import type { RefPlan } from './plan-types.js';

export interface PlanSummary {
  /** create + update */
  pushed: number;
  deleted: number;
  skipped: number;
  blocked: number;
  warned: number;
}

export function summarizePlans(plans: readonly RefPlan[]): PlanSummary {
  const summary: PlanSummary = { pushed: 0, deleted: 0, skipped: 0, blocked: 0, warned: 0 };
  // Indexed: for-of makes an iterator result per ref in cold code (docs/architecture.md, "No-op runs at scale").
  for (let i = 0; i < plans.length; i++) {
    switch (plans[i]!.action) {
      case 'create':
      case 'update':
        summary.pushed += 1;
        break;
      case 'delete':
        summary.deleted += 1;
        break;
      case 'skip':
        summary.skipped += 1;
        break;
      case 'block':
        summary.blocked += 1;
        break;
      case 'warn':
        summary.warned += 1;
        break;
    }
  }
  return summary;
}
