/** The redis-server helper (test/helpers/redis-server.ts): a real server that answers, and that close() leaves nothing of. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { connectRedis, parseQueueUrl } from '../../src/fleet/queue/connection.js';
import { processesMatching } from '../helpers/processes.js';
import { missingRedis, startRedisServer } from '../helpers/redis-server.js';

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('redis-server helper', { skip: missingRedis() }, () => {
  it('starts a server on a loopback port that answers, and close() stops it and removes its directory', async () => {
    const server = await startRedisServer({ persistence: true });
    // redis-server retitles itself `redis-server 127.0.0.1:PORT`.
    const title = `redis-server 127.0.0.1:${server.port}`;
    try {
      const redis = await connectRedis(parseQueueUrl(`${server.url}/3`));
      try {
        assert.equal(await redis.set('k', 'v'), 'OK');
        assert.equal(await redis.get('k'), 'v');
        assert.equal((await redis.config('GET', 'appendonly'))[1], 'yes');
      } finally {
        redis.disconnect();
      }
      assert.equal((await processesMatching(title)).length, 1);
    } finally {
      await server.close();
    }
    assert.equal(await accepts(server.port), false);
    assert.equal(existsSync(server.dir), false);
    assert.deepEqual(await processesMatching(title), []);
  });
});
