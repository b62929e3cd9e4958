/**
 * Leases held in Redis by the distributed workers (docs/fleet.md, "Distributed workers"):
 *
 * - a mirror's lock, `gitsync:fleet:lock:<mirror>` = the holder's token with a TTL: one run of a
 *   mirror at a time across every worker;
 * - a host's slots, the sorted set `gitsync:fleet:host:<host>` of holders' tokens scored by when
 *   their lease expires: at most `limit` runs touching that host at once across every worker.
 *
 * Why a semaphore of our own: BullMQ's open-source edition has a queue-wide rate limiter but no
 * groups (per-key concurrency is a BullMQ Pro feature), and one queue per host would need every
 * worker to know every host's queue in advance and would still not cap a mirror whose source and
 * target are on two hosts. A lease expires by itself when its holder dies (SIGKILL, a lost
 * machine), so nothing is held forever; the holder renews it while the run goes on and stops the
 * run when a renewal finds the lease gone. Each step is one Lua script, so it is atomic on the
 * server, and expiry is judged by the Redis server's clock (TIME), not the workers'.
 */
import type { Redis } from 'ioredis';
import { KEY_PREFIX } from './connection.js';

const LOCK_RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

const LOCK_RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** KEYS[1] the host's set; ARGV token, limit, ttl ms. 1 when a slot was taken. */
const HOST_ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
  return 1
end
return 0`;

/** KEYS[1] the host's set; ARGV token, ttl ms. 0 when the lease had expired (or was never held). */
const HOST_RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1`;

type LeaseCommands = {
  gitsyncLockRenew(key: string, token: string, ttl: number): Promise<number>;
  gitsyncLockRelease(key: string, token: string): Promise<number>;
  gitsyncHostAcquire(key: string, token: string, limit: number, ttl: number): Promise<number>;
  gitsyncHostRenew(key: string, token: string, ttl: number): Promise<number>;
};

export function lockKey(mirrorId: string): string {
  return `${KEY_PREFIX}:fleet:lock:${mirrorId}`;
}

export function hostKey(host: string): string {
  return `${KEY_PREFIX}:fleet:host:${host}`;
}

/** What one run holds: its mirror's lock and a slot on each host it touches. */
export interface RunLease {
  mirrorId: string;
  token: string;
  hosts: readonly string[];
}

export type AcquireOutcome = { acquired: true; lease: RunLease } | { acquired: false; busy: 'mirror' | { host: string } };

export class Leases {
  private readonly redis: Redis & LeaseCommands;

  constructor(
    redis: Redis,
    readonly ttlMillis: number,
  ) {
    const commands = redis as Redis & LeaseCommands;
    if (typeof commands.gitsyncLockRenew !== 'function') {
      redis.defineCommand('gitsyncLockRenew', { numberOfKeys: 1, lua: LOCK_RENEW });
      redis.defineCommand('gitsyncLockRelease', { numberOfKeys: 1, lua: LOCK_RELEASE });
      redis.defineCommand('gitsyncHostAcquire', { numberOfKeys: 1, lua: HOST_ACQUIRE });
      redis.defineCommand('gitsyncHostRenew', { numberOfKeys: 1, lua: HOST_RENEW });
    }
    this.redis = commands;
  }

  /**
   * Takes the mirror's lock, then a slot on each host (in sorted order, so two runs never wait on
   * each other's hosts crosswise); on any refusal, gives back what it took and says what was busy.
   */
  async acquire(mirrorId: string, token: string, hosts: readonly string[], perHostLimit: number | null): Promise<AcquireOutcome> {
    const locked = await this.redis.set(lockKey(mirrorId), token, 'PX', this.ttlMillis, 'NX');
    if (locked !== 'OK') return { acquired: false, busy: 'mirror' };
    const held: string[] = [];
    if (perHostLimit !== null) {
      for (const host of [...new Set(hosts)].sort()) {
        if ((await this.redis.gitsyncHostAcquire(hostKey(host), token, perHostLimit, this.ttlMillis)) !== 1) {
          await this.release({ mirrorId, token, hosts: held });
          return { acquired: false, busy: { host } };
        }
        held.push(host);
      }
    }
    return { acquired: true, lease: { mirrorId, token, hosts: held } };
  }

  /** Extends every part of the lease; false when any part had expired (another worker may run the mirror now). */
  async renew(lease: RunLease): Promise<boolean> {
    let whole = (await this.redis.gitsyncLockRenew(lockKey(lease.mirrorId), lease.token, this.ttlMillis)) === 1;
    for (const host of lease.hosts) {
      if ((await this.redis.gitsyncHostRenew(hostKey(host), lease.token, this.ttlMillis)) !== 1) whole = false;
    }
    return whole;
  }

  async release(lease: RunLease): Promise<void> {
    for (const host of lease.hosts) await this.redis.zrem(hostKey(host), lease.token);
    await this.redis.gitsyncLockRelease(lockKey(lease.mirrorId), lease.token);
  }
}
