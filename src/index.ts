/** The git-sync library: every verb the CLI offers, their option and result types, and errors. */
export { probe, type ProbeOptions, type ProbeResult } from './api/probe.js';
export { plan, type PlanOptions, type SyncResult } from './api/plan.js';
export { sync, replicate, bootstrap, type SyncOptions } from './api/sync.js';
export { fanOut, type FanOutOptions, type FanOutResult, type TargetOutcome } from './api/fan-out.js';
export type { SyncScopeOptions } from './api/planning.js';
export type { RefPlan } from './plan/index.js';
export { fetch, type FetchOptions, type FetchResult, type ObjectCounts } from './api/fetch.js';
export type { CommonOptions, EndpointOptions, RefSelection, Observed } from './api/options.js';
export type {
  ProgressEvent,
  ServerProgressEvent,
  DecisionEvent,
  PhaseEvent,
  PhaseStep,
  RunPhase,
  TransferEvent,
} from './observe/progress.js';
export * from './errors.js';
export type { InvalidRefName, Oid, Ref, RefName, ProtocolVersion, ProtocolPreference, ObjectType } from './types.js';
export type { StatsReport, PhaseStats, SideStats } from './observe/stats.js';
export type { Measurement } from './observe/memory.js';
export { VERSION } from './version.js';
export { enableGcPacing } from './observe/gc-pacer.js';
export type { SideCredentials } from './transport/open.js';
export { ConnectionPool, DEFAULT_POOL_IDLE_MILLIS, type ConnectionPoolOptions } from './transport/connection-pool.js';
export type { Credential, CredentialProvider, CredentialRequest } from './auth/credential-provider.js';
export { GitCredentialHelper, type GitCredentialHelperOptions } from './auth/credential-helper.js';
export { HTTP_TRACE_CHANNEL, formatHttpTrace, traceHttp, type HttpTraceEvent } from './observe/http-trace.js';
export { escapeControlCharacters, escapeJsonText, type EscapeOptions } from './observe/terminal-text.js';
export {
  parseManifest,
  loadManifest,
  deriveMirrorId,
  parseSchedule,
  type FleetManifest,
  type MirrorSpec,
  type MirrorSchedule,
  type MirrorDefaults,
  type MirrorSyncOptions,
  type CredentialRefs,
} from './fleet/manifest.js';
export { MANIFEST_SCHEMA } from './fleet/manifest-schema.js';
export {
  FleetState,
  type RunRecord,
  type RunRow,
  type RunOutcome,
  type RunTrigger,
  type MirrorStatus,
  type PruneOptions,
} from './fleet/state.js';
export {
  runMirror,
  runFleet,
  createFleetLogger,
  worstOutcome,
  DEFAULT_CONCURRENCY,
  DEFAULT_PER_HOST_CONCURRENCY,
  type FleetLogger,
  type MirrorRunResult,
  type TargetRunResult,
  type FleetRunResult,
  type RunMirrorOptions,
  type RunFleetOptions,
} from './fleet/runner.js';
export { HostLimiter, hostOf, type HostLimits } from './fleet/host-limiter.js';
export {
  Scheduler,
  SYSTEM_CLOCK,
  backoffDelay,
  nextSlot,
  periodOf,
  type Clock,
  type Schedule,
  type SchedulerOptions,
  type MirrorHistory,
  type ScheduledStatus,
} from './fleet/scheduler.js';
export { FleetService, handleSignals, runMirrorForServe, type ServeOptions, type ServedMirror, type ReloadResult, type MirrorRunner, type RunSummary } from './fleet/serve.js';
export { startFleetServer, parseListen, DEFAULT_MAX_BODY_BYTES, type FleetServer, type FleetServerOptions, type ServerHandlers } from './fleet/server.js';
export { FleetMetrics, type FleetMetricsOptions, type RunMetrics, type MirrorGaugeSource } from './fleet/metrics.js';
export {
  judgeHook,
  githubSignature,
  githubSignatureValid,
  secretsEqual,
  repositoryKey,
  pushedRepositoryUrls,
  mirrorsForUrls,
  type HookProvider,
  type HookSecrets,
  type HookRequest,
  type HookMirror,
  type HookVerdict,
} from './fleet/webhooks.js';
// The distributed fleet (docs/fleet.md, "Distributed workers"): bullmq and ioredis load only when these are used.
export {
  parseQueueUrl,
  connectRedis,
  REDIS_PASSWORD_ENV,
  type QueueAddress,
  FleetProducer,
  type MirrorJobData,
  type TriggerOutcome,
  FleetWorker,
  DEFAULT_LEASE_MILLIS,
  type FleetWorkerOptions,
  type MirrorRunFunction,
  type WorkerEvent,
  RedisFleetState,
  type QueueRunRow,
  mirrorRunner,
  runRecordOf,
  readQueueStatus,
  type QueueStatus,
  WorkerMetrics,
  QueueProducerService,
  type QueueServeOptions,
} from './fleet/queue/index.js';
export {
  renderFleetPage,
  renderMirrorPage,
  renderMessagePage,
  sortMirrors,
  parseSort,
  mirrorHealth,
  PAGE_CONTENT_SECURITY_POLICY,
  DEFAULT_SORT,
  type PageMirror,
  type PageOptions,
  type SortOrder,
  type SortKey,
  type MirrorHealth,
} from './fleet/page.js';
export { renderRunChart, type ChartRun } from './fleet/chart.js';
export { routePage, servicePageSource, pageToken, prefersHtml, type PageSource } from './fleet/page-routes.js';
