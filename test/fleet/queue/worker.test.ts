/**
 * The distributed fleet's producer and workers in one process (src/fleet/queue/), on a real
 * redis-server and real repositories: schedules and one-off jobs become runs recorded in Redis,
 * triggers never queue a mirror twice, workers never run one mirror at once nor exceed the
 * per-host limit between them, and a stopping worker finishes or safely hands back its runs.
 * The several-process story (a worker SIGKILLed mid-run) is test/cli/worker-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { sync } from '../../../src/api/sync.js';
import { GitSyncError } from '../../../src/errors.js';
import { parseManifest, type FleetManifest, type MirrorSpec } from '../../../src/fleet/manifest.js';
import { connectRedis, parseQueueUrl, type QueueAddress } from '../../../src/fleet/queue/connection.js';
import { FleetProducer } from '../../../src/fleet/queue/producer.js';
import { RedisFleetState, type RunRecord } from '../../../src/fleet/queue/redis-state.js';
import { FleetWorker, type MirrorRunFunction, type WorkerEvent } from '../../../src/fleet/queue/worker.js';
import { createRepo, type FixtureRepo } from '../../helpers/fixtures.js';
import { git, makeTempDir, type TempDir } from '../../helpers/git.js';
import { missingRedis, startRedisServer, type RedisServer } from '../../helpers/redis-server.js';

const YEARLY = '"0 0 1 1 *"';

/** A run as a fleet runs it, straight through the library (local paths). */
const librarySync: MirrorRunFunction = async (spec, { signal }) => {
  try {
    const result = await sync({ source: { url: spec.source }, target: { url: spec.targets[0]! }, signal });
    return { finishedAt: new Date(), outcome: result.relayMode === 'none' ? 'noop' : 'success', reason: null, relayMode: result.relayMode, bytesFromSource: null, bytesToTarget: null, refsChanged: result.pushed + result.deleted, errorCode: null, errorMessage: null };
  } catch (error) {
    const code = error instanceof GitSyncError ? error.code : 'INTERNAL';
    return { finishedAt: new Date(), outcome: code === 'ABORTED' ? 'aborted' : 'failed', reason: code, relayMode: null, bytesFromSource: null, bytesToTarget: null, refsChanged: 0, errorCode: code, errorMessage: (error as Error).message };
  }
};

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMillis = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const refsOf = (dir: string) => git(['for-each-ref', '--format=%(refname) %(objectname)'], { cwd: dir });

describe('distributed fleet: producer and workers', { skip: missingRedis() }, () => {
  let server: RedisServer;
  let address: QueueAddress;
  let redis: Redis;
  let tmp: TempDir;
  const open: { close(): Promise<void> }[] = [];

  before(async () => {
    server = await startRedisServer();
    address = parseQueueUrl(server.url);
    redis = await connectRedis(address);
    tmp = makeTempDir('gitsync-queue-');
  });
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await thing.close();
    await redis.flushdb();
  });
  after(async () => {
    redis?.disconnect();
    await server?.close();
    await tmp?.remove();
  });

  async function mirrors(names: readonly string[], schedule = YEARLY): Promise<{ manifest: FleetManifest; sources: Map<string, FixtureRepo>; targets: Map<string, string> }> {
    const sources = new Map<string, FixtureRepo>();
    const targets = new Map<string, string>();
    const lines = ['mirrors:'];
    for (const name of names) {
      const source = await createRepo({ parentDir: tmp.path, name: `${name}-src` });
      await source.commit('main', { files: { 'a.txt': `${name}\n` } });
      const target = await createRepo({ parentDir: tmp.path, name: `${name}-dst` });
      sources.set(name, source);
      targets.set(name, target.path);
      lines.push(`  - id: ${name}`, `    source: ${source.path}`, `    target: ${target.path}`, `    schedule: ${schedule}`);
    }
    return { manifest: parseManifest(lines.join('\n'), `${tmp.path}/mirrors.yaml`), sources, targets };
  }

  async function producer(): Promise<FleetProducer> {
    const opened = await FleetProducer.open(address);
    open.push(opened);
    return opened;
  }

  async function worker(manifest: FleetManifest, run: MirrorRunFunction, options: { concurrency?: number; perHost?: number | null; events?: WorkerEvent[] } = {}): Promise<FleetWorker> {
    const started = await FleetWorker.start({
      manifest,
      address,
      run,
      concurrency: options.concurrency ?? 2,
      perHost: options.perHost ?? null,
      leaseMillis: 2_000,
      retryDelayMillis: 100,
      onEvent: (event) => options.events?.push(event),
    });
    open.push({ close: () => started.stop() });
    return started;
  }

  it('runs each scheduled mirror on a worker and records the run in Redis as FleetState would', async () => {
    const { manifest, sources, targets } = await mirrors(['one', 'two'], '1h');
    const queue = await producer();
    assert.deepEqual(await queue.schedule(manifest.mirrors), { scheduled: ['one', 'two'], removed: [] });
    await worker(manifest, librarySync);
    const state = new RedisFleetState(redis);
    // BullMQ moves a schedule's next run on once the job is done, a moment after the run is recorded.
    const statuses = await waitFor('both runs, and the schedules moved on', async () => {
      const all = await state.mirrorStatuses({ nextRuns: await queue.nextRuns() });
      const moved = all.every((status) => status.nextRun !== null && status.nextRun.getTime() > Date.now());
      return all.length === 2 && all.every((status) => status.lastOutcome === 'success') && moved ? all : null;
    });
    for (const status of statuses) {
      assert.equal(status.consecutiveFailures, 0);
      assert.ok(status.lastSuccess instanceof Date);
      assert.ok(status.nextRun!.getTime() > status.lastRun!.startedAt.getTime(), 'the next run is the schedule’s, after this one');
      assert.equal(status.lastRun?.trigger, 'schedule');
      assert.equal(status.lastRun?.relayMode, 'bootstrap');
      assert.equal(await refsOf(targets.get(status.id)!), await refsOf(sources.get(status.id)!.path));
    }
  });

  it('counts failures like FleetState: failing since the first, cleared by a success', async () => {
    const { manifest } = await mirrors(['flaky']);
    let fail = true;
    const run: MirrorRunFunction = async (spec, options) =>
      fail
        ? { finishedAt: new Date(), outcome: 'failed', reason: 'NETWORK', relayMode: null, bytesFromSource: null, bytesToTarget: null, refsChanged: 0, errorCode: 'NETWORK', errorMessage: 'cannot reach https://user:hunter22@git.example/x.git' }
        : librarySync(spec, options);
    const queue = await producer();
    await worker(manifest, run);
    const state = new RedisFleetState(redis);
    await queue.trigger('flaky', 'manual');
    await waitFor('a failure', async () => (await state.mirrorStatus('flaky')).consecutiveFailures === 1);
    await queue.trigger('flaky', 'hook');
    const failing = await waitFor('two failures', async () => {
      const status = await state.mirrorStatus('flaky');
      return status.consecutiveFailures === 2 ? status : null;
    });
    assert.equal(failing.failingSince?.getTime(), (await state.recentRuns('flaky')).at(-1)?.startedAt.getTime());
    assert.doesNotMatch(JSON.stringify(await state.recentRuns('flaky')), /hunter22/, 'no secret reaches Redis');
    fail = false;
    await queue.trigger('flaky', 'manual');
    const healed = await waitFor('a success', async () => {
      const status = await state.mirrorStatus('flaky');
      return status.lastOutcome === 'success' ? status : null;
    });
    assert.equal(healed.consecutiveFailures, 0);
    assert.equal(healed.failingSince, null);
    assert.deepEqual((await state.recentRuns('flaky')).map((r) => r.trigger), ['manual', 'hook', 'manual']);
  });

  it('never queues a mirror twice: a trigger while one waits is dropped, one while it runs queues a single follow-up', async () => {
    const { manifest } = await mirrors(['busy']);
    const queue = await producer();
    assert.equal(await queue.trigger('busy', 'hook'), 'queued');
    assert.equal(await queue.trigger('busy', 'hook'), 'already-queued');
    assert.equal((await queue.jobCounts()).waiting, 1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let runs = 0;
    const events: WorkerEvent[] = [];
    await worker(manifest, async (spec, options) => {
      runs += 1;
      if (runs === 1) await gate;
      return librarySync(spec, options);
    }, { events });
    await waitFor('the run to start', async () => runs === 1);
    assert.equal(await queue.trigger('busy', 'hook'), 'queued-after-run');
    assert.equal(await queue.trigger('busy', 'manual'), 'already-queued');
    release();
    const state = new RedisFleetState(redis);
    await waitFor('two runs', async () => (await state.recentRuns('busy')).filter((r) => r.outcome === 'success' || r.outcome === 'noop').length === 2);
    assert.equal(runs, 2);
    assert.equal(await queue.trigger('busy', 'manual'), 'queued', 'once both are done, a trigger queues again');
  });

  it('never runs a mirror on two workers at once, and keeps each host under its limit across workers', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `m${i}`);
    const { manifest, sources, targets } = await mirrors(names, '1h');
    // Two hosts, as the limit counts them: the runs below sync the local repositories.
    const hostOf = (id: string) => (Number(id.slice(1)) % 2 === 0 ? 'even.example' : 'odd.example');
    const withHosts: FleetManifest = { ...manifest, mirrors: manifest.mirrors.map((m): MirrorSpec => ({ ...m, source: `https://${hostOf(m.id)}/${m.id}.git` })) };
    const local = new Map(manifest.mirrors.map((m) => [m.id, m]));
    const nowRunning = new Map<string, number>();
    const hostRunning = new Map<string, number>();
    let perMirrorMax = 0;
    const perHostMax = new Map<string, number>();
    const run: MirrorRunFunction = async (spec, options) => {
      const host = hostOf(spec.id);
      nowRunning.set(spec.id, (nowRunning.get(spec.id) ?? 0) + 1);
      hostRunning.set(host, (hostRunning.get(host) ?? 0) + 1);
      perMirrorMax = Math.max(perMirrorMax, nowRunning.get(spec.id)!);
      perHostMax.set(host, Math.max(perHostMax.get(host) ?? 0, hostRunning.get(host)!));
      try {
        await new Promise((resolve) => setTimeout(resolve, 150));
        return await librarySync(local.get(spec.id)!, options);
      } finally {
        nowRunning.set(spec.id, nowRunning.get(spec.id)! - 1);
        hostRunning.set(host, hostRunning.get(host)! - 1);
      }
    };
    const queue = await producer();
    const events: WorkerEvent[] = [];
    await worker(withHosts, run, { concurrency: 4, perHost: 2, events });
    await worker(withHosts, run, { concurrency: 4, perHost: 2, events });
    // Each mirror has two jobs at once: its schedule's first (an interval fires at once) and a one-off.
    await queue.schedule(withHosts.mirrors);
    for (const name of names) await queue.trigger(name, 'manual');
    const state = new RedisFleetState(redis);
    await waitFor('every job done', async () => {
      // Left: only each schedule's next run (an hour away).
      const counts = await queue.jobCounts();
      if (counts.waiting + counts.active > 0 || counts.delayed !== names.length) return false;
      for (const name of names) if ((await state.recentRuns(name)).filter((r) => r.outcome !== null).length === 0) return false;
      return true;
    });
    assert.equal(perMirrorMax, 1, 'no mirror ran twice at once');
    assert.ok([...perHostMax.values()].every((max) => max <= 2), `per-host peaks ${JSON.stringify([...perHostMax])}`);
    assert.ok(events.some((e) => e.event === 'job-waits' && e.reason?.startsWith('host ')), 'the host limit held jobs back');
    assert.ok(events.some((e) => e.event === 'job-dropped' || (e.event === 'job-waits' && e.reason === 'the mirror is running on a worker')), 'a mirror’s second job met its first');
    for (const name of names) assert.equal(await refsOf(targets.get(name)!), await refsOf(sources.get(name)!.path));
  });

  it('stops gracefully: a run in progress finishes; after the grace period one is aborted and handed back', async () => {
    const { manifest, targets, sources } = await mirrors(['slow', 'slower']);
    const queue = await producer();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = await worker(manifest, async (spec, options) => {
      await gate;
      return librarySync(spec, options);
    });
    await queue.trigger('slow', 'manual');
    await waitFor('the run to start', async () => first.inFlight() === 1);
    const stopping = first.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await stopping;
    const state = new RedisFleetState(redis);
    assert.equal((await state.mirrorStatus('slow')).lastOutcome, 'success', 'the run finished before the worker stopped');
    assert.equal(await refsOf(targets.get('slow')!), await refsOf(sources.get('slow')!.path));

    const stuck = await worker(manifest, (_spec, { signal }) =>
      new Promise<RunRecord>((resolve) => signal.addEventListener('abort', () => resolve({ finishedAt: new Date(), outcome: 'aborted', reason: 'stopping', relayMode: null, bytesFromSource: null, bytesToTarget: null, refsChanged: 0, errorCode: 'ABORTED', errorMessage: 'aborted' }), { once: true })),
    );
    await queue.trigger('slower', 'manual');
    await waitFor('the stuck run to start', async () => stuck.inFlight() === 1);
    await stuck.stop({ graceMillis: 100 });
    assert.equal((await state.mirrorStatus('slower')).lastOutcome, 'aborted');
    assert.equal((await queue.jobCounts()).delayed + (await queue.jobCounts()).waiting, 1, 'the job went back on the queue');
    await worker(manifest, librarySync);
    await waitFor('another worker to run it', async () => (await state.mirrorStatus('slower')).lastOutcome === 'success');
    assert.equal(await refsOf(targets.get('slower')!), await refsOf(sources.get('slower')!.path));
  });

  it('fails a job for a mirror the worker does not know, naming the manifest', async () => {
    const { manifest } = await mirrors(['known']);
    const queue = await producer();
    const events: WorkerEvent[] = [];
    await worker({ ...manifest, mirrors: [] }, librarySync, { events });
    await queue.trigger('known', 'manual');
    await waitFor('the job to fail', async () => (await queue.jobCounts()).failed === 1);
    assert.equal(events.find((e) => e.event === 'job-unknown-mirror')?.mirror, 'known');
  });

  it('removes the schedules of mirrors gone from the manifest', async () => {
    const { manifest } = await mirrors(['stay', 'go']);
    const queue = await producer();
    await queue.schedule(manifest.mirrors);
    assert.deepEqual(await queue.schedule(manifest.mirrors.filter((m) => m.id === 'stay')), { scheduled: ['stay'], removed: ['go'] });
    assert.deepEqual([...(await queue.nextRuns()).keys()], ['stay']);
  });
});
