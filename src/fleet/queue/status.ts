/**
 * `fleet status --queue` (docs/fleet.md, "Distributed workers"): the mirrors' standing as the
 * workers recorded it in Redis, each mirror's next scheduled run as the producer's job
 * schedulers say, and the queue's jobs by state.
 */
import type { MirrorStatus } from '../state.js';
import { connectRedis, type QueueAddress } from './connection.js';
import { FleetProducer } from './producer.js';
import { RedisFleetState } from './redis-state.js';

export interface QueueStatus {
  /** `redis://host:port/db`. */
  queue: string;
  jobs: { waiting: number; active: number; delayed: number; failed: number };
  mirrors: MirrorStatus[];
}

/** `ids`: the manifest's mirrors (those never run included); absent: every mirror Redis knows. */
export async function readQueueStatus(address: QueueAddress, ids?: readonly string[]): Promise<QueueStatus> {
  const redis = await connectRedis(address);
  let producer: FleetProducer | null = null;
  try {
    producer = await FleetProducer.open(address);
    const state = new RedisFleetState(redis);
    const mirrors = await state.mirrorStatuses({ ...(ids === undefined ? {} : { ids }), nextRuns: await producer.nextRuns() });
    return { queue: address.display, jobs: await producer.jobCounts(), mirrors };
  } finally {
    await producer?.close();
    redis.disconnect();
  }
}
