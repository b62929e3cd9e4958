/**
 * The planner: pure decisions from two ref listings, no I/O. The order of use:
 * resolvePlanPolicy (flags) -> ancestryQuestions -> [I/O answers them] -> planActions ->
 * chooseRelay -> orderForPush / chunkRefCommands -> [push] -> applyTargetRejections ->
 * summarizePlans.
 */

export {
  ancestryFromMap,
  ancestryKey,
  ancestryQuestions,
  type AncestryAnswer,
  type AncestryOracle,
  type AncestryQuestion,
} from './ancestry-questions.js';
export { BatchSizer, FILL_SHARE, REQUEST_HEADROOM_BYTES, limitNamedIn, type Misfit } from './batch-sizer.js';
export {
  batchCommands,
  batchParts,
  checkpointBranch,
  checkpointSegments,
  checkpointsOfManagedBranches,
  cutPoints,
  extraTempRef,
  hasBootstrapCheckpoints,
  primaryTempRef,
  type BatchPart,
  type CheckpointPlacement,
  type CommitDag,
  type Segment,
} from './checkpoints.js';
export { parseByteSize } from './byte-size.js';
export { parseDuration } from './duration.js';
export { branchNameProblem, isValidRefName, refNameProblem, type RefFormatOptions } from './check-ref-format.js';
export { screenListedRefs, type ScreenedListing } from './listed-refs.js';
export { planActions, type PlanActionsInput } from './plan-actions.js';
export { resolvePlanPolicy, type ForcePolicy, type PlanFlags, type PlanPolicy, type SyncMode } from './plan-policy.js';
export { summarizePlans, type PlanSummary } from './plan-summary.js';
export {
  isPushPlan,
  type BlockPlan,
  type CreatePlan,
  type DeletePlan,
  type PlanAction,
  type PlanInput,
  type PushPlan,
  type RefPlan,
  type SkipPlan,
  type UpdatePlan,
  type WarnPlan,
} from './plan-types.js';
export { chunkRefCommands, DEFAULT_MAX_REF_UPDATES } from './push-chunks.js';
export { orderForPush } from './push-order.js';
export { shortHash } from './reasons.js';
export {
  BOOTSTRAP_TEMP_PREFIX,
  GITSYNC_TEMP_PREFIX,
  refKind,
  shortBranchName,
  type RefKind,
} from './ref-kind.js';
export { parseRefMapping, parseRefMappings, type RefMapping } from './ref-map.js';
export { refCandidates, resolveRefName } from './ref-lookup.js';
export { pairRefs, type RefPair } from './ref-pairs.js';
export {
  parseBranchList,
  patternScopeContains,
  resolveScope,
  sourceRefPrefixes,
  targetNameFor,
  targetScopeContains,
  type RefScope,
  type ScopeFlags,
} from './ref-scope.js';
export {
  chooseRelay,
  targetObjectHashes,
  type RelayMode,
  type RelayReason,
  type RelayChoice,
  type RelayChoiceInput,
} from './relay-choice.js';
export {
  DEFAULT_MAX_DELETES,
  guardDeletions,
  guardReasons,
  managedSourceCount,
  missingSourceRefs,
  type DeletionGuard,
  type MissingSourceRef,
  type TrippedGuard,
} from './safety-guards.js';
export { applyTargetRejections } from './target-rejections.js';
