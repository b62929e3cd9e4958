/**
 * Running mirrors through the library (docs/fleet.md, "fleet run"): each outcome recorded in the
 * state and logged as one JSON line, several targets through fanOut, credentials read from the
 * variables the manifest names and never written anywhere.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { parseManifest, type MirrorSpec } from '../../src/fleet/manifest.js';
import { createFleetLogger, runFleet, runMirror } from '../../src/fleet/runner.js';
import { FleetState } from '../../src/fleet/state.js';
import { cloneRepo, createRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, makeTempDir, type TempDir } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer, type Middleware } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';

const TOKEN = 'tok-runner-s3cr3t';

function mirror(dir: string, yaml: string): MirrorSpec[] {
  return parseManifest(yaml, path.join(dir, 'mirrors.yaml')).mirrors;
}

function logSink(): { logger: ReturnType<typeof createFleetLogger>; lines: () => Record<string, unknown>[]; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return {
    logger: createFleetLogger(stream),
    lines: () => text.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => text,
  };
}

describe('fleet runner', () => {
  let dir: TempDir;
  let server: GitHttpServer;
  let sample: SampleRepo;
  let state: FleetState;

  before(async () => {
    dir = makeTempDir('gitsync-runner-');
    server = await startGitHttpServer({ basicAuth: { username: 'mirror', password: TOKEN } });
    sample = await sampleRepo(dir.path);
    const diverged = await cloneRepo(sample.repo, { parentDir: dir.path, name: 'diverged' });
    await diverged.commit('main', { parents: [`${sample.main}~1`], files: { 'x.txt': 'diverged' } });
    await createRepo({ parentDir: server.root, name: 'http-target' });
    state = FleetState.open(path.join(dir.path, 'state.db'));
  });
  after(async () => {
    state.close();
    await server.close();
    await dir.remove();
  });

  it('bootstraps, then has nothing to do: success then noop, both recorded and logged', async () => {
    const [spec] = mirror(dir.path, 'mirrors:\n  - {id: boot, source: source.git, target: backup/boot.git, tags: true}\n');
    const log = logSink();
    const first = await runMirror(spec!, { trigger: 'once', state, logger: log.logger });
    assert.equal(first.outcome, 'success', JSON.stringify(first.error));
    assert.equal(first.targets[0]!.relayMode, 'bootstrap');
    assert.ok(first.refsChanged >= 3);
    assert.ok(first.bytesFromSource > 0 && first.bytesToTarget > 0);
    await fsck(path.join(dir.path, 'backup', 'boot.git'));
    assert.deepEqual(await forEachRef(path.join(dir.path, 'backup', 'boot.git'), ['refs/heads/', 'refs/tags/']), await forEachRef(sample.repo.path, ['refs/heads/', 'refs/tags/']));
    const second = await runMirror(spec!, { trigger: 'manual', state, logger: log.logger });
    assert.equal(second.outcome, 'noop');
    assert.equal(second.refsChanged, 0);
    assert.deepEqual(state.recentRuns('boot', 5).map((run) => [run.id, run.trigger, run.outcome]), [
      [second.runId, 'manual', 'noop'],
      [first.runId, 'once', 'success'],
    ]);
    const lines = log.lines();
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.mirror, 'boot');
    assert.equal(lines[0]!.outcome, 'success');
    assert.equal(lines[0]!.level, 30);
    assert.equal(lines[0]!.msg, 'mirror boot: success');
    assert.equal(typeof lines[0]!.time, 'string');
    assert.equal((lines[0]!.targets as { relayMode: string }[])[0]!.relayMode, 'bootstrap');
  });

  it('reports a diverged target as blocked, and a missing source as failed', async () => {
    const [blocked, missing] = mirror(dir.path, 'mirrors:\n  - {id: blocked, source: source.git, target: diverged.git}\n  - {id: missing, source: no-such.git, target: backup/missing.git}\n');
    const log = logSink();
    const b = await runMirror(blocked!, { trigger: 'once', state, logger: log.logger });
    assert.equal(b.outcome, 'blocked');
    assert.equal(b.reason, '1 ref(s) blocked');
    assert.equal(b.error!.code, 'REF_BLOCKED');
    const m = await runMirror(missing!, { trigger: 'once', state, logger: log.logger });
    assert.equal(m.outcome, 'failed');
    assert.equal(m.reason, m.error!.code);
    assert.match(m.error!.message, /no-such/);
    assert.deepEqual(log.lines().map((line) => [line.mirror, line.level, line.outcome]), [
      ['blocked', 40, 'blocked'],
      ['missing', 50, 'failed'],
    ]);
    assert.equal(state.mirrorStatus('missing')!.consecutiveFailures, 1);
  });

  it('reads tokens from the variables the manifest names, and writes them nowhere', async () => {
    const [good] = mirror(dir.path, `mirrors:\n  - {id: http, source: source.git, target: "${server.url('http-target')}", target-token-env: RUNNER_TOKEN, target-username: mirror, credential-helper: false}\n`);
    const log = logSink();
    const ok = await runMirror(good!, { trigger: 'once', state, logger: log.logger, env: { ...process.env, RUNNER_TOKEN: TOKEN } });
    assert.equal(ok.outcome, 'success', JSON.stringify(ok.error));
    await fsck(path.join(server.root, 'http-target.git'));
    const wrong = await runMirror(good!, { trigger: 'once', state, logger: log.logger, env: { ...process.env, RUNNER_TOKEN: `${TOKEN}-wrong` } });
    assert.equal(wrong.outcome, 'failed');
    assert.equal(wrong.error!.code, 'HTTP_AUTH');
    const unset = await runMirror(good!, { trigger: 'once', state, logger: log.logger, env: { PATH: process.env.PATH } });
    assert.equal(unset.outcome, 'failed');
    assert.equal(unset.error!.code, 'USAGE');
    assert.equal(unset.error!.message, 'mirror http: target token-env names RUNNER_TOKEN, which is not set; export it where the fleet runs');
    const stored = JSON.stringify(state.recentRuns('http', 10));
    for (const text of [log.text(), stored, JSON.stringify([ok, wrong, unset])]) assert.ok(!text.includes(TOKEN), text);
  });

  it('refuses transports the manifest does not allow, whatever the environment allows: ext:: never runs', async () => {
    const marker = path.join(dir.path, 'ext-ran');
    const [spec] = mirror(dir.path, `mirrors:\n  - {id: ext, source: "ext::sh -c touch% ${marker}", target: backup/ext.git}\n`);
    const refused = await runMirror(spec!, { trigger: 'once', state, env: { ...process.env, GIT_ALLOW_PROTOCOL: 'ext:file' } });
    assert.equal(refused.outcome, 'failed');
    assert.equal(refused.error!.code, 'PROTOCOL_NOT_ALLOWED');
    assert.equal(existsSync(marker), false, 'the ext command ran');
    assert.equal(existsSync(path.join(dir.path, 'backup', 'ext.git')), false);
    const [local] = mirror(dir.path, 'mirrors:\n  - {id: only-https, source: source.git, target: backup/only.git, allowed-protocols: [https]}\n');
    const narrowed = await runMirror(local!, { trigger: 'once', state });
    assert.equal(narrowed.error?.code, 'PROTOCOL_NOT_ALLOWED', 'a local path under allowed-protocols [https]');
  });

  it('fails a run that outlives its timeout with TIMEOUT_DEADLINE', async () => {
    const [spec] = mirror(dir.path, 'mirrors:\n  - {id: slow, source: source.git, target: backup/slow.git, timeout: 1ms}\n');
    const result = await runMirror(spec!, { trigger: 'once', state });
    assert.equal(result.outcome, 'failed');
    assert.equal(result.error!.code, 'TIMEOUT_DEADLINE');
  });

  it('runs several targets through one fan-out: one result per target, the worst outcome for the mirror', async () => {
    await cloneRepo(sample.repo, { parentDir: dir.path, name: 'fan-diverged' }).then((repo) =>
      repo.commit('main', { parents: [`${sample.main}~1`], files: { 'y.txt': 'diverged' } }),
    );
    const [spec] = mirror(dir.path, 'mirrors:\n  - id: fan\n    source: source.git\n    targets: [fan/a.git, fan/b.git, fan-diverged.git]\n');
    const result = await runMirror(spec!, { trigger: 'once', state });
    assert.deepEqual(result.targets.map((target) => [path.basename(target.url), target.outcome]), [
      ['a.git', 'success'],
      ['b.git', 'success'],
      ['fan-diverged.git', 'blocked'],
    ]);
    assert.equal(result.outcome, 'blocked');
    for (const name of ['a', 'b']) {
      await fsck(path.join(dir.path, 'fan', `${name}.git`));
      assert.deepEqual(await forEachRef(path.join(dir.path, 'fan', `${name}.git`), ['refs/heads/']), await forEachRef(sample.repo.path, ['refs/heads/']));
    }
    assert.equal(state.recentRuns('fan', 1)[0]!.relayMode, 'bootstrap,bootstrap,none');
  });

  it('records every mirror as aborted, touching nothing, when the fleet is stopped before they start', async () => {
    const manifest = parseManifest('mirrors:\n  - {id: stop1, source: source.git, target: stopped/one.git}\n  - {id: stop2, source: source.git, target: stopped/two.git}\n', path.join(dir.path, 'mirrors.yaml'));
    const controller = new AbortController();
    controller.abort();
    const result = await runFleet(manifest, { state, signal: controller.signal, concurrency: 1 });
    assert.deepEqual(result.mirrors.map((m) => [m.id, m.outcome, m.error?.code]), [
      ['stop1', 'aborted', 'ABORTED'],
      ['stop2', 'aborted', 'ABORTED'],
    ]);
    assert.equal(existsSync(path.join(dir.path, 'stopped')), false);
    assert.equal(state.mirrorStatus('stop1')!.lastOutcome, 'aborted');
    assert.equal(state.mirrorStatus('stop1')!.consecutiveFailures, 0);
  });

  it('runs a manifest once, forgetting mirrors it no longer has, pruning old runs', async () => {
    const manifest = parseManifest(
      'state:\n  retain-runs: 1\nmirrors:\n  - {id: boot, source: source.git, target: backup/boot.git, tags: true}\n  - {id: blocked, source: source.git, target: diverged.git}\n',
      path.join(dir.path, 'mirrors.yaml'),
    );
    const done: string[] = [];
    const result = await runFleet(manifest, { state, concurrency: 2, onMirrorDone: (mirror) => done.push(mirror.id) });
    assert.deepEqual(result.mirrors.map((m) => [m.id, m.outcome]), [
      ['boot', 'noop'],
      ['blocked', 'blocked'],
    ]);
    assert.deepEqual(result.counts, { success: 0, noop: 1, failed: 0, blocked: 1, aborted: 0 });
    assert.deepEqual(done.sort(), ['blocked', 'boot']);
    assert.deepEqual(state.mirrorStatuses().map((s) => s.id), ['blocked', 'boot']);
    assert.equal(state.recentRuns('boot', 10).length, 1);
  });
});

describe('fleet runner: connections', () => {
  let dir: TempDir;
  let server: GitHttpServer;
  const sockets = new Set<unknown>();
  const count: Middleware = (req, _res, next) => {
    sockets.add(req.socket);
    next();
  };

  before(async () => {
    dir = makeTempDir('gitsync-runner-pool-');
    server = await startGitHttpServer({ onRequest: count });
    await sampleRepo(server.root);
    for (const id of ['a', 'b', 'c', 'd']) await createRepo({ parentDir: server.root, name: `target-${id}` });
  });
  after(async () => {
    await server.close();
    await dir.remove();
  });

  it("shares one pass's connections between its mirrors (docs/architecture.md, \"Connections kept across runs\")", async () => {
    const manifest = parseManifest(
      `mirrors:\n${['a', 'b', 'c', 'd'].map((id) => `  - {id: ${id}, source: "${server.url('source')}", target: "${server.url(`target-${id}`)}", credential-helper: false}\n`).join('')}`,
      path.join(dir.path, 'mirrors.yaml'),
    );
    const first = await runFleet(manifest, { concurrency: 1 });
    assert.deepEqual(first.mirrors.map((m) => m.outcome), ['success', 'success', 'success', 'success']);
    // Each no-op lists both sides: three connections a run on its own (the source's info/refs
    // and its ls-refs, sent at once, and the target's listing).
    sockets.clear();
    const own = await runFleet(manifest, { concurrency: 1, connectionPool: null });
    assert.deepEqual(own.mirrors.map((m) => m.outcome), ['noop', 'noop', 'noop', 'noop']);
    assert.ok(sockets.size >= 4 * 3, `four runs with their own connections opened ${sockets.size}`);
    sockets.clear();
    const shared = await runFleet(manifest, { concurrency: 1 });
    assert.deepEqual(shared.mirrors.map((m) => m.outcome), ['noop', 'noop', 'noop', 'noop']);
    assert.ok(sockets.size <= 2 * 3, `four runs sharing the pass's connections opened ${sockets.size}`);
  });
});
