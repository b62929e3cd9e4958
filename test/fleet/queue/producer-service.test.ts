/**
 * `fleet serve --queue` as a library (src/fleet/queue/producer-service.ts) on a real
 * redis-server: the manifest's mirrors become job schedulers, hooks become one-off jobs, a reload
 * unschedules mirrors gone from the manifest and keeps the old manifest when the new one is bad,
 * and stopping leaves the schedules in Redis for the workers.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseQueueUrl, type QueueAddress } from '../../../src/fleet/queue/connection.js';
import { FleetProducer } from '../../../src/fleet/queue/producer.js';
import { QueueProducerService } from '../../../src/fleet/queue/producer-service.js';
import type { FleetLogger } from '../../../src/fleet/runner.js';
import { makeTempDir, type TempDir } from '../../helpers/git.js';
import { missingRedis, startRedisServer, type RedisServer } from '../../helpers/redis-server.js';

function recordingLogger(): FleetLogger & { lines: { fields: object; message: string }[] } {
  const lines: { fields: object; message: string }[] = [];
  const log = (fields: object, message: string): void => void lines.push({ fields, message });
  return { lines, info: log, warn: log, error: log };
}

const manifestText = (ids: readonly string[]) =>
  ['serve:', '  listen: 127.0.0.1:0', '  hooks:', '    generic-token-env: HOOK_TOKEN', 'mirrors:', ...ids.flatMap((id) => [`  - id: ${id}`, `    source: /srv/${id}.git`, `    target: /backup/${id}.git`, '    schedule: 1h'])].join('\n');

describe('fleet serve --queue (the producer service)', { skip: missingRedis() }, () => {
  let server: RedisServer;
  let address: QueueAddress;
  let tmp: TempDir;
  before(async () => {
    server = await startRedisServer();
    address = parseQueueUrl(server.url);
    tmp = makeTempDir('gitsync-producer-');
  });
  after(async () => {
    await server?.close();
    await tmp?.remove();
  });

  it('schedules the mirrors, queues hooks, reloads, and leaves the schedules when it stops', async () => {
    const manifest = path.join(tmp.path, 'mirrors.yaml');
    await writeFile(manifest, manifestText(['alpha', 'beta']));
    const logger = recordingLogger();
    const service = await QueueProducerService.start({ manifest, address, logger, env: { HOOK_TOKEN: 'tok-1234567' }, refreshMillis: 100 });
    const producer = await FleetProducer.open(address);
    try {
      assert.deepEqual([...(await producer.nextRuns()).keys()].sort(), ['alpha', 'beta']);
      const listed = (await (await fetch(`${service.url}/mirrors`)).json()) as { mirrors: { id: string; source: string }[] };
      assert.deepEqual(listed.mirrors.map((m) => m.id), ['alpha', 'beta']);

      const hook = await fetch(`${service.url}/hooks/beta`, { method: 'POST', headers: { authorization: 'Bearer tok-1234567' } });
      assert.equal(hook.status, 202);
      assert.deepEqual(((await hook.json()) as { mirrors: Record<string, string> }).mirrors, { beta: 'queued' });
      const unknown = await fetch(`${service.url}/hooks/gamma`, { method: 'POST', headers: { authorization: 'Bearer tok-1234567' } });
      assert.equal(unknown.status, 404);
      const forged = await fetch(`${service.url}/hooks/beta`, { method: 'POST', headers: { authorization: 'Bearer wrong-token' } });
      assert.equal(forged.status, 401);
      // The hook's job is on the queue (waiting: no worker runs here), and only one. The endpoint
      // queues it after answering, so wait for the service to say it did (its log line), with
      // room for a busy machine. (Counting waiting jobs is no sign: each new `every` schedule
      // queues its first run at once, so the count is not zero before the hook's job lands.)
      const queuedBy = Date.now() + 30_000;
      const hookLine = () => logger.lines.find((line) => (line.fields as { event?: string; mirror?: string }).event === 'trigger' && (line.fields as { mirror?: string }).mirror === 'beta');
      while (hookLine() === undefined) {
        assert.ok(Date.now() < queuedBy, 'the hook never queued its job');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal((hookLine()!.fields as { result?: string }).result, 'queued');
      assert.equal(await producer.trigger('beta', 'hook'), 'already-queued');

      await writeFile(manifest, manifestText(['alpha']));
      await service.reload();
      assert.deepEqual([...(await producer.nextRuns()).keys()], ['alpha']);
      assert.deepEqual(((await (await fetch(`${service.url}/mirrors`)).json()) as { mirrors: { id: string }[] }).mirrors.map((m) => m.id), ['alpha']);

      await writeFile(manifest, 'mirrors: [');
      await service.reload();
      assert.ok(logger.lines.some((line) => line.message.startsWith('reload refused, the previous manifest stays')));
      assert.deepEqual([...(await producer.nextRuns()).keys()], ['alpha']);

      await service.stop();
      assert.deepEqual([...(await producer.nextRuns()).keys()], ['alpha'], 'the schedules outlive the producer');
      assert.doesNotMatch(JSON.stringify(logger.lines), /tok-1234567/);
    } finally {
      await service.stop();
      await producer.close();
    }
  });
});
