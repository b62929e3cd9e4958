/**
 * One planned ref. The union is discriminated by `action`; every variant has exactly the keys of
 * a docs/json.md `plans[]` entry, created in that order, so `JSON.stringify` is the contract.
 */

import type { Oid, Ref, RefName } from '../types.js';
import type { ForcePolicy, SyncMode } from './plan-policy.js';
import type { RefKind } from './ref-kind.js';
import type { RefPair } from './ref-pairs.js';
import type { RefScope } from './ref-scope.js';

export type PlanAction = 'create' | 'update' | 'delete' | 'skip' | 'block' | 'warn';

interface PlanFields {
  /** Short name of the target branch (`stable` for `--map main:stable`); null for tags and others. */
  branch: string | null;
  targetRef: RefName;
  kind: RefKind;
  reason: string;
}

/** Same hash on both sides. */
export interface SkipPlan extends PlanFields {
  action: 'skip';
  sourceRef: RefName;
  sourceHash: Oid;
  targetHash: Oid;
  forced: false;
}

/** Absent on the target. */
export interface CreatePlan extends PlanFields {
  action: 'create';
  sourceRef: RefName;
  sourceHash: Oid;
  targetHash: null;
  forced: false;
}

/** A fast-forward (`forced: false`) or an overwrite the user allowed (`forced: true`). */
export interface UpdatePlan extends PlanFields {
  action: 'update';
  sourceRef: RefName;
  sourceHash: Oid;
  targetHash: Oid;
  forced: boolean;
}

/** On the target, gone from the source, `--prune`. */
export interface DeletePlan extends PlanFields {
  action: 'delete';
  sourceRef: null;
  sourceHash: null;
  targetHash: Oid;
  forced: false;
}

/** Refused: pushing it would lose target history (or, in bootstrap, the target ref exists). */
export interface BlockPlan extends PlanFields {
  action: 'block';
  sourceRef: RefName | null;
  sourceHash: Oid | null;
  targetHash: Oid;
  forced: false;
}

/** Best-effort mode: the target rejected this ref's command; the rest of the push went on. */
export interface WarnPlan extends PlanFields {
  action: 'warn';
  sourceRef: RefName | null;
  sourceHash: Oid | null;
  targetHash: Oid | null;
  forced: boolean;
}

export type RefPlan = SkipPlan | CreatePlan | UpdatePlan | DeletePlan | BlockPlan | WarnPlan;

/** The plans that turn into receive-pack commands. */
export type PushPlan = CreatePlan | UpdatePlan | DeletePlan;

export function isPushPlan(plan: RefPlan): plan is PushPlan {
  return plan.action === 'create' || plan.action === 'update' || plan.action === 'delete';
}

/** What the planner needs to know about a run, both listings included. */
export interface PlanInput {
  mode: SyncMode;
  scope: RefScope;
  prune: boolean;
  force: ForcePolicy;
  sourceRefs: readonly Ref[];
  targetRefs: readonly Ref[];
  /**
   * `pairRefs(scope, sourceRefs, targetRefs)`, when the caller already made it: ancestryQuestions
   * and planActions then share one pairing instead of each making its own (10,000 refs: a few
   * milliseconds each).
   */
  pairs?: readonly RefPair[];
}
