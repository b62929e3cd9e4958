/**
 * The distributed fleet (docs/fleet.md, "Distributed workers"): what the CLI's `worker` and
 * `--queue` commands import on demand, so bullmq and ioredis load only for them.
 */
export { parseQueueUrl, connectRedis, REDIS_PASSWORD_ENV, type QueueAddress } from './connection.js';
export { FleetProducer, type MirrorJobData, type TriggerOutcome } from './producer.js';
export { FleetWorker, DEFAULT_LEASE_MILLIS, type FleetWorkerOptions, type MirrorRunFunction, type WorkerEvent } from './worker.js';
export { RedisFleetState, type QueueRunRow } from './redis-state.js';
export { mirrorRunner, runRecordOf } from './run.js';
export { readQueueStatus, type QueueStatus } from './status.js';
export { WorkerMetrics } from './worker-metrics.js';
export { QueueProducerService, type QueueServeOptions } from './producer-service.js';
