/**
 * The distributed fleet's Redis leases (src/fleet/queue/leases.ts) on a real redis-server: one
 * holder per mirror, at most N holders per host, leases that lapse when not renewed (a dead
 * worker's), renewals that say when a lease was lost, and releases that only free one's own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connectRedis, parseQueueUrl } from '../../../src/fleet/queue/connection.js';
import { Leases, hostKey, lockKey } from '../../../src/fleet/queue/leases.js';
import { missingRedis, startRedisServer, type RedisServer } from '../../helpers/redis-server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('queue leases', { skip: missingRedis() }, () => {
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await startRedisServer();
    redis = await connectRedis(parseQueueUrl(server.url));
  });
  after(async () => {
    redis?.disconnect();
    await server?.close();
  });

  it('lets one holder have a mirror; another gets it once the first releases', async () => {
    const leases = new Leases(redis, 10_000);
    const first = await leases.acquire('alpha', 'worker-a', [], null);
    assert.equal(first.acquired, true);
    assert.deepEqual(await leases.acquire('alpha', 'worker-b', [], null), { acquired: false, busy: 'mirror' });
    assert.equal(await redis.get(lockKey('alpha')), 'worker-a');
    if (!first.acquired) return;
    await leases.release({ ...first.lease, token: 'worker-b' });
    assert.equal(await redis.get(lockKey('alpha')), 'worker-a', 'a release with another token frees nothing');
    await leases.release(first.lease);
    assert.equal((await leases.acquire('alpha', 'worker-b', [], null)).acquired, true);
  });

  it('caps the runs per host across holders, and gives back the mirror lock when a host is full', async () => {
    const leases = new Leases(redis, 10_000);
    const a = await leases.acquire('m1', 't1', ['git.example:8080'], 2);
    const b = await leases.acquire('m2', 't2', ['git.example:8080', 'other.example'], 2);
    assert.ok(a.acquired && b.acquired);
    const c = await leases.acquire('m3', 't3', ['git.example:8080'], 2);
    assert.deepEqual(c, { acquired: false, busy: { host: 'git.example:8080' } });
    assert.equal(await redis.get(lockKey('m3')), null, 'the refused run holds no mirror lock');
    assert.equal(await redis.zcard(hostKey('git.example:8080')), 2);
    await leases.release(a.lease);
    assert.equal((await leases.acquire('m3', 't3', ['git.example:8080'], 2)).acquired, true);
    assert.equal(await redis.zcard(hostKey('other.example')), 1);
  });

  it('lets an unrenewed lease lapse (a killed holder), and tells a late renewal it was lost', async () => {
    const leases = new Leases(redis, 300);
    const dead = await leases.acquire('crashy', 'dead-worker', ['h.example'], 1);
    assert.ok(dead.acquired);
    assert.deepEqual(await new Leases(redis, 300).acquire('crashy', 'live-worker', ['h.example'], 1), { acquired: false, busy: 'mirror' });
    await sleep(450);
    const live = await leases.acquire('crashy', 'live-worker', ['h.example'], 1);
    assert.equal(live.acquired, true, 'the lapsed lock and host slot are free again');
    assert.equal(await leases.renew(dead.lease), false, 'the dead holder learns its lease is gone');
    assert.equal(await redis.get(lockKey('crashy')), 'live-worker');
  });

  it('keeps a renewed lease past its first expiry', async () => {
    const leases = new Leases(redis, 300);
    const held = await leases.acquire('steady', 'w', ['s.example'], 1);
    assert.ok(held.acquired);
    for (let i = 0; i < 4; i += 1) {
      await sleep(120);
      assert.equal(await leases.renew(held.lease), true);
    }
    assert.deepEqual(await leases.acquire('steady', 'other', [], 1), { acquired: false, busy: 'mirror' });
    assert.deepEqual(await leases.acquire('else', 'other', ['s.example'], 1), { acquired: false, busy: { host: 's.example' } });
  });
});
