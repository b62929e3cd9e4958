/**
 * `git-sync worker` (docs/fleet.md, "Distributed workers") as users run it: several worker
 * processes on one real redis-server, mirrors between local paths and `git http-backend`.
 *
 * The story: 12 mirrors, 3 workers, one SIGKILLed in the middle of a run. Every mirror converges
 * (refs equal to the source's, `git fsck` clean), no mirror is ever synced by two workers at once
 * (checked twice: the runs recorded in Redis, the killed run ending no later than the kill, and
 * the target server's own log of pushes), and the killed run is recorded as aborted by the worker
 * that took the mirror over. Then graceful stops, bad queue URLs, and that a plain sync never
 * loads the queue client.
 */
import assert from 'node:assert/strict';
import { copyFile, cp, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connectRedis, parseQueueUrl, type QueueAddress } from '../../src/fleet/queue/connection.js';
import { FleetProducer } from '../../src/fleet/queue/producer.js';
import { RedisFleetState, type QueueRunRow } from '../../src/fleet/queue/redis-state.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { git, makeTempDir, type TempDir } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { missingRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startAll } from '../helpers/system.js';
import { repoRoot } from '../helpers/streams.js';
import { runCli, startCli, type RunningCli } from './run-cli.js';

/** Every HTTP request waits this long before git answers: an HTTP run takes a second or two. */
const REQUEST_DELAY_MS = 250;
const LEASE = '3s';

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMillis = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const refsOf = (dir: string) => git(['for-each-ref', '--format=%(refname) %(objectname)'], { cwd: dir });

interface Mirror {
  id: string;
  source: FixtureRepo;
  /** The target's directory on disk (served over HTTP for the `h` mirrors). */
  targetDir: string;
}

describe('git-sync worker', { skip: missingRedis() }, () => {
  let redisServer: RedisServer;
  let http: GitHttpServer;
  let address: QueueAddress;
  let redis: Redis;
  let tmp: TempDir;
  const workers: RunningCli[] = [];

  before(async () => {
    [redisServer, http] = await startAll(
      () => startRedisServer(),
      () => startGitHttpServer({ onRequest: (_req, _res, next) => void setTimeout(next, REQUEST_DELAY_MS) }),
    );
    address = parseQueueUrl(redisServer.url);
    redis = await connectRedis(address);
    tmp = makeTempDir('gitsync-workers-');
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) {
      worker.kill('SIGKILL');
      await worker.done;
    }
    await redis.flushdb();
  });
  after(async () => {
    redis?.disconnect();
    await Promise.allSettled([redisServer?.close(), http?.close()]);
    await tmp?.remove();
  });

  /** `h<i>`: source and target on the HTTP server, batched runs; `l<i>`: local paths. Each source has about 300 KiB. */
  async function makeMirrors(prefix: string, httpCount: number, localCount: number, schedule: string): Promise<{ manifestPath: string; mirrors: Mirror[] }> {
    const mirrors: Mirror[] = [];
    const lines = ['serve:', '  listen: 127.0.0.1:0', '  hooks:', '    generic-token-env: HOOK_TOKEN', 'mirrors:'];
    for (let i = 0; i < httpCount + localCount; i += 1) {
      const overHttp = i < httpCount;
      const id = `${prefix}${overHttp ? 'h' : 'l'}${i}`;
      const parentDir = overHttp ? http.root : tmp.path;
      const source = await createRepo({ parentDir, name: `${id}-src` });
      for (let c = 0; c < 3; c += 1) await source.commit('main', { files: { [`data-${c}.bin`]: pseudoRandomBytes(100_000, `${id}-${c}`) } });
      await source.commit('dev', { parents: ['main'], files: { 'dev.txt': `${id}\n` } });
      const target = await createRepo({ parentDir, name: `${id}-dst` });
      mirrors.push({ id, source, targetDir: target.path });
      lines.push(
        `  - id: ${id}`,
        `    source: ${overHttp ? http.url(`${id}-src`) : source.path}`,
        `    target: ${overHttp ? http.url(`${id}-dst`) : target.path}`,
        `    schedule: ${schedule}`,
        // Over HTTP, batched: three checkpoints' packs under the limit, so a killed run leaves temp refs to resume from.
        ...(overHttp ? ['    target-max-pack-bytes: 150KiB'] : []),
      );
    }
    const manifestPath = path.join(tmp.path, `${prefix}mirrors.yaml`);
    await writeFile(manifestPath, `${lines.join('\n')}\n`);
    return { manifestPath, mirrors };
  }

  function startWorker(manifestPath: string, extra: readonly string[] = []): RunningCli {
    const worker = startCli(['worker', manifestPath, '--queue', redisServer.url, '--concurrency', '2', '--per-host', '2', '--lease', LEASE, ...extra]);
    workers.push(worker);
    return worker;
  }

  async function converged(mirrors: readonly Mirror[]): Promise<boolean> {
    for (const mirror of mirrors) if ((await refsOf(mirror.targetDir)) !== (await refsOf(mirror.source.path))) return false;
    return true;
  }

  async function allRuns(mirrors: readonly Mirror[]): Promise<Map<string, QueueRunRow[]>> {
    const state = new RedisFleetState(redis);
    return new Map(await Promise.all(mirrors.map(async (m) => [m.id, await state.recentRuns(m.id, 100)] as const)));
  }

  it('12 mirrors, 3 workers, one SIGKILLed mid-run: every mirror converges, fsck clean, never two runs of a mirror at once', async () => {
    const { manifestPath, mirrors } = await makeMirrors('a', 6, 6, '1h');
    // The producer: fleet serve --queue (schedules on the queue, hooks turned into jobs).
    const producer = startCli(['fleet', 'serve', manifestPath, '--queue', redisServer.url], { HOOK_TOKEN: 'hook-token-1234' });
    workers.push(producer);
    {
      const started = [startWorker(manifestPath), startWorker(manifestPath), startWorker(manifestPath)];
      const serveUrl = await waitFor('the producer to serve', async () => /"url":"(http:\/\/[^"]+)"/.exec(producer.output().stderr)?.[1]);
      // Wave 1: the schedules (an interval's first run is at once) put all 12 mirrors on the queue.
      // Kill whichever worker is first seen in the middle of an HTTP run (requests there take seconds).
      const killedRun = await waitFor('a worker to start an HTTP run', async () => {
        const runs = [...(await allRuns(mirrors)).values()].flat();
        return runs.find((run) => run.finishedAt === null && run.mirrorId.includes('h')) ?? null;
      });
      const victim = started.find((worker) => killedRun.worker === `${hostname()}:${worker.pid}`)!;
      assert.ok(victim !== undefined, `the run's worker ${killedRun.worker} is one of ours`);
      victim.kill('SIGKILL');
      await victim.done;
      const killedAt = Date.now();
      await waitFor('wave 1 to converge', async () => converged(mirrors));

      // Wave 2: new commits everywhere, a generic hook for every mirror.
      for (const mirror of mirrors) await mirror.source.commit('main', { files: { 'wave2.txt': `${mirror.id}\n` } });
      for (const mirror of mirrors) {
        const answer = await fetch(`${serveUrl}/hooks/${mirror.id}`, { method: 'POST', headers: { authorization: 'Bearer hook-token-1234' } });
        assert.equal(answer.status, 202, await answer.text());
      }
      await waitFor('wave 2 to converge', async () => converged(mirrors));
      await waitFor('every run to be recorded', async () => [...(await allRuns(mirrors)).values()].flat().every((run) => run.finishedAt !== null || run.worker === `${hostname()}:${victim.pid}`));

      for (const mirror of mirrors) {
        // Equal refs: also no refs/gitsync/ checkpoint left by the killed batched run.
        assert.equal(await refsOf(mirror.targetDir), await refsOf(mirror.source.path), `${mirror.id}: refs equal`);
        await git(['fsck', '--strict', '--no-dangling'], { cwd: mirror.targetDir });
      }
      // Redis audit: per mirror, no two runs overlap (the killed run ended by the kill at the latest).
      const runs = await allRuns(mirrors);
      for (const [id, list] of runs) {
        const spans = list
          .map((run) => ({ start: run.startedAt.getTime(), end: run.worker === `${hostname()}:${victim.pid}` ? Math.min(run.finishedAt?.getTime() ?? killedAt, killedAt) : run.finishedAt!.getTime() }))
          .sort((a, b) => a.start - b.start);
        for (let i = 1; i < spans.length; i += 1) assert.ok(spans[i]!.start >= spans[i - 1]!.end, `${id}: run ${i} started before run ${i - 1} ended`);
        assert.ok(list.some((run) => run.outcome === 'success'), `${id}: a successful run`);
        if (id.includes('h')) assert.ok(list.some((run) => run.relayMode === 'bootstrap-batch'), `${id}: a batched run (${list.map((run) => run.relayMode).join(' ')})`);
      }
      const abandoned = runs.get(killedRun.mirrorId)!.find((run) => run.id === killedRun.id)!;
      assert.equal(abandoned.outcome, 'aborted', 'the killed run is recorded as aborted by the worker that took over');
      assert.match(abandoned.reason ?? '', /stopped before the run ended/);
      const survivors = new Set([...runs.values()].flat().filter((run) => run.startedAt.getTime() > killedAt).map((run) => run.worker));
      assert.ok(survivors.size >= 1 && !survivors.has(`${hostname()}:${victim.pid}`));

      // The servers' audit: pushes into one HTTP target never overlap in time.
      for (const mirror of mirrors.filter((m) => m.id.includes('h'))) {
        const pushes = http.requests
          .filter((r) => r.kind.repo === `${mirror.id}-dst.git` && r.kind.service === 'git-receive-pack' && r.kind.phase === 'rpc')
          .map((r) => ({ start: r.startedAt, end: r.startedAt + r.durationMs }))
          .sort((a, b) => a.start - b.start);
        assert.ok(pushes.length >= 2, `${mirror.id}: pushed in both waves`);
        for (let i = 1; i < pushes.length; i += 1) assert.ok(pushes[i]!.start >= pushes[i - 1]!.end, `${mirror.id}: two pushes at once`);
      }

      // `fleet status --queue` shows what the workers recorded, as `fleet status` shows SQLite's.
      const status = await runCli(['fleet', 'status', manifestPath, '--queue', redisServer.url]);
      assert.equal(status.code, 0, status.stderr);
      for (const mirror of mirrors) assert.match(status.stdout, new RegExp(`^${mirror.id} +\\S+ +\\S+ +success`, 'm'));
      assert.match(status.stdout, /^queue redis:\/\/127\.0\.0\.1:\d+\/0: 0 running, 0 waiting, 12 delayed/m);
      const json = await runCli(['fleet', 'status', manifestPath, '--queue', redisServer.url, '--json']);
      const parsed = JSON.parse(json.stdout) as { mirrors: { id: string; lastOutcome: string }[]; jobs: { delayed: number }; error: null };
      assert.deepEqual(parsed.mirrors.map((m) => [m.id, m.lastOutcome]), mirrors.map((m) => [m.id, 'success']));
      assert.equal(parsed.error, null);
      const served = (await (await fetch(`${serveUrl}/mirrors`)).json()) as { mirrors: { id: string }[] };
      assert.deepEqual(served.mirrors.map((m) => m.id), mirrors.map((m) => m.id));
      producer.kill('SIGTERM');
      assert.equal((await producer.done).code, 0);
      assert.doesNotMatch(producer.output().stderr, /hook-token-1234/);
    }
  });

  it('stops gracefully on SIGTERM: the run in progress finishes, then the worker exits 0', async () => {
    const { manifestPath, mirrors } = await makeMirrors('b', 1, 0, '"0 0 1 1 *"');
    const producer = await FleetProducer.open(address);
    try {
      const worker = startWorker(manifestPath);
      await producer.trigger(mirrors[0]!.id, 'manual');
      await waitFor('the run to start', async () => (await allRuns(mirrors)).get(mirrors[0]!.id)?.some((run) => run.finishedAt === null));
      worker.kill('SIGTERM');
      const exit = await worker.done;
      assert.equal(exit.code, 0, exit.stderr);
      const [run] = (await allRuns(mirrors)).get(mirrors[0]!.id)!;
      assert.equal(run?.outcome, 'success');
      assert.equal(await refsOf(mirrors[0]!.targetDir), await refsOf(mirrors[0]!.source.path));
      assert.match(exit.stderr, /"event":"stopping"/);
      assert.match(exit.stderr, /"event":"stopped"/);
    } finally {
      await producer.close();
    }
  });

  it('past --stop-grace, aborts the run safely and hands the job back to another worker', async () => {
    const { manifestPath, mirrors } = await makeMirrors('c', 1, 0, '"0 0 1 1 *"');
    const mirror = mirrors[0]!;
    const producer = await FleetProducer.open(address);
    try {
      const first = startWorker(manifestPath, ['--stop-grace', '100ms']);
      await producer.trigger(mirror.id, 'manual');
      await waitFor('the run to start', async () => (await allRuns(mirrors)).get(mirror.id)?.some((run) => run.finishedAt === null));
      first.kill('SIGTERM');
      const exit = await first.done;
      assert.equal(exit.code, 0, exit.stderr);
      const [aborted] = (await allRuns(mirrors)).get(mirror.id)!;
      assert.equal(aborted?.outcome, 'aborted');
      await git(['fsck', '--strict', '--no-dangling'], { cwd: mirror.targetDir });
      assert.equal(await refsOf(mirror.targetDir), '', 'the aborted run left the empty target empty');
      startWorker(manifestPath);
      await waitFor('another worker to sync it', async () => converged(mirrors));
      await git(['fsck', '--strict', '--no-dangling'], { cwd: mirror.targetDir });
    } finally {
      await producer.close();
    }
  });

  it('keeps credentials out of Redis: the worker reads the token from its own environment, and nothing in Redis holds it', async () => {
    const token = 'tok-5ecret-ab12cd34';
    const guarded = await startGitHttpServer({ basicAuth: { username: 'mirror', password: token } });
    try {
      const source = await createRepo({ parentDir: guarded.root, name: 'src' });
      await source.commit('main', { files: { 'a.txt': 'a\n' } });
      const target = await createRepo({ parentDir: guarded.root, name: 'dst' });
      const manifestPath = path.join(tmp.path, 'guarded.yaml');
      await writeFile(
        manifestPath,
        ['mirrors:', '  - id: guarded', `    source: ${guarded.url('src')}`, `    target: ${guarded.url('dst')}`, '    source-username: mirror', '    source-token-env: MIRROR_TOKEN', '    target-username: mirror', '    target-token-env: MIRROR_TOKEN', '    schedule: 1h', ''].join('\n'),
      );
      const producer = await FleetProducer.open(address);
      try {
        await producer.schedule([{ ...(await (await import('../../src/fleet/manifest.js')).loadManifest(manifestPath)).mirrors[0]! }]);
      } finally {
        await producer.close();
      }
      const worker = startCli(['worker', manifestPath, '--queue', redisServer.url], { MIRROR_TOKEN: token });
      workers.push(worker);
      await waitFor('the run', async () => (await refsOf(target.path)) !== '' && (await refsOf(target.path)) === (await refsOf(source.path)));
      await waitFor('the run to be recorded', async () => (await new RedisFleetState(redis).mirrorStatus('guarded')).lastOutcome === 'success');
      // Every key and every value in Redis, whatever its type.
      const dump: string[] = [];
      for (const key of await redis.keys('*')) {
        dump.push(key);
        const type = await redis.type(key);
        if (type === 'string') dump.push((await redis.get(key)) ?? '');
        else if (type === 'hash') dump.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') dump.push(...(await redis.lrange(key, 0, -1)));
        else if (type === 'set') dump.push(...(await redis.smembers(key)));
        else if (type === 'zset') dump.push(...(await redis.zrange(key, '0', '-1')));
        else if (type === 'stream') dump.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
      assert.ok(dump.some((text) => text.includes('guarded')), 'the dump holds the mirror');
      assert.ok(!dump.some((text) => text.includes(token)), 'no value in Redis holds the token');
      assert.ok(!dump.some((text) => text.includes(guarded.baseUrl)), 'no URL of the manifest is in Redis either');
      worker.kill('SIGTERM');
      assert.doesNotMatch((await worker.done).stderr, new RegExp(token));
    } finally {
      await guarded.close();
    }
  });

  it('refuses a password in --queue without echoing it, and names a Redis it cannot reach', async () => {
    const { manifestPath } = await makeMirrors('d', 0, 1, '1h');
    const withPassword = await runCli(['worker', manifestPath, '--queue', 'redis://:s3cretpass@127.0.0.1:6379']);
    assert.equal(withPassword.code, 2);
    assert.match(withPassword.stderr, /--queue holds a password; .*GITSYNC_REDIS_PASSWORD/);
    assert.doesNotMatch(withPassword.stderr + withPassword.stdout, /s3cretpass/);
    const closed = await runCli(['worker', manifestPath, '--queue', 'redis://127.0.0.1:1/0']);
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /^error: cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0: connection refused; start Redis there or fix --queue/m);
    const missing = await runCli(['worker', manifestPath]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--queue/);
  });

  it('leaves the queue client out of a plain sync: the bundle runs a sync with no bullmq or ioredis to load', async () => {
    const alone = makeTempDir('gitsync-bundle-alone-');
    try {
      // The bundle and its chunks, with no node_modules anywhere above them.
      await copyFile(path.join(repoRoot, 'dist', 'git-sync.mjs'), path.join(alone.path, 'git-sync.mjs'));
      await cp(path.join(repoRoot, 'dist', 'chunks'), path.join(alone.path, 'chunks'), { recursive: true });
      const source = await createRepo({ parentDir: alone.path, name: 'src' });
      await source.commit('main', { files: { 'a.txt': 'a\n' } });
      const target = await createRepo({ parentDir: alone.path, name: 'dst' });
      const { spawnSync } = await import('node:child_process');
      const run = spawnSync(process.execPath, [path.join(alone.path, 'git-sync.mjs'), 'sync', source.path, target.path], { encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(await refsOf(target.path), await refsOf(source.path));
    } finally {
      await alone.remove();
    }
  });
});
