import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cloneRepo, createRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';
import { runCli } from './run-cli.js';

describe('git-sync sync / replicate / bootstrap (CLI)', () => {
  let server: GitHttpServer;
  let sample: SampleRepo;

  before(async () => {
    server = await startGitHttpServer();
    sample = await sampleRepo(server.root);
    const diverged = await cloneRepo(sample.repo, { parentDir: server.root, name: 'diverged' });
    await diverged.commit('main', { parents: [`${sample.main}~1`], files: { 'x.txt': 'diverged' } });
    await createRepo({ parentDir: server.root, name: 'empty' });
  });
  after(async () => server.close());

  it('bootstraps an empty target, then has nothing to do', async () => {
    const first = await runCli(['sync', '--json', '--tags', '--stats', '--measure-memory', server.url('source'), server.url('empty')]);
    assert.equal(first.code, 0, first.stderr);
    const json = JSON.parse(first.stdout);
    assert.equal(json.operation, 'sync');
    assert.equal(json.dryRun, false);
    assert.equal(json.relayMode, 'bootstrap');
    assert.equal(json.pushed, 5);
    assert.equal(json.error, null);
    assert.equal(json.stats.phases['target push'].commands, 5);
    assert.ok(json.stats.phases['source fetch'].wants >= 4);
    assert.ok(json.stats.target.bytesSent > 0);
    assert.ok(json.measurement.peakRssBytes > 0);
    await fsck(`${server.root}/empty.git`);
    assert.deepEqual(await forEachRef(`${server.root}/empty.git`, ['refs/heads/', 'refs/tags/']), await forEachRef(sample.repo.path, ['refs/heads/', 'refs/tags/']));

    const second = await runCli(['sync', '--tags', server.url('source'), server.url('empty')]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^SKIP refs\/heads\/main - [0-9a-f]{8} already current$/m);
    assert.match(second.stdout, /^summary: sync pushed=0 deleted=0 skipped=5 blocked=0 warned=0 relay=none reason=nothing-to-push max-deletes=100$/m);
  });

  it('exits 3 on blocked refs, printing the plan and one error line', async () => {
    const text = await runCli(['sync', server.url('source'), server.url('diverged')]);
    assert.equal(text.code, 3);
    assert.match(text.stdout, /^BLOCK refs\/heads\/main - [0-9a-f]{8} is not an ancestor of [0-9a-f]{8}/m);
    assert.match(text.stderr, /^error: nothing pushed: ref blocked \(refs\/heads\/main\)/m);
    const json = await runCli(['sync', '--json', server.url('source'), server.url('diverged')]);
    assert.equal(json.code, 3);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.error.code, 'REF_BLOCKED');
    assert.equal(parsed.blocked, 1);
    assert.equal(parsed.plans.find((p: { targetRef: string }) => p.targetRef === 'refs/heads/main').action, 'block');
  });

  it('replicate overwrites; bootstrap refuses a non-empty target with exit 3', async () => {
    const boot = await runCli(['bootstrap', server.url('source'), server.url('diverged')]);
    assert.equal(boot.code, 3);
    const rep = await runCli(['replicate', '--json', server.url('source'), server.url('diverged')]);
    assert.equal(rep.code, 0, rep.stderr);
    assert.equal(JSON.parse(rep.stdout).operation, 'replicate');
    assert.equal((await forEachRef(`${server.root}/diverged.git`)).get('refs/heads/main'), sample.main);
  });

  it('several targets: a result per target, text grouped by target, JSON with targets, the worst exit code', async () => {
    await createRepo({ parentDir: server.root, name: 'fan-1' });
    await createRepo({ parentDir: server.root, name: 'fan-2' });
    const diverged = await cloneRepo(sample.repo, { parentDir: server.root, name: 'fan-diverged' });
    await diverged.commit('main', { parents: [`${sample.main}~1`], files: { 'x.txt': 'diverged' } });
    const text = await runCli(['sync', '--tags', server.url('source'), server.url('fan-1'), server.url('fan-diverged')]);
    assert.equal(text.code, 3, text.stderr);
    assert.match(text.stdout, /^target: http:\/\/127\.0\.0\.1:\d+\/fan-1\.git\n(?:.*\n)*CREATE refs\/heads\/main - /m);
    assert.match(text.stdout, /^target: http:\/\/127\.0\.0\.1:\d+\/fan-diverged\.git\n(?:.*\n)*BLOCK refs\/heads\/main - /m);
    assert.match(text.stdout, /^targets: 2 ok=1 blocked=1 failed=0 shared-fetches=0$/m);
    assert.match(text.stderr, /^error: http:\/\/127\.0\.0\.1:\d+\/fan-diverged\.git: nothing pushed: ref blocked \(refs\/heads\/main\)/m);
    assert.deepEqual(await forEachRef(`${server.root}/fan-1.git`, ['refs/heads/', 'refs/tags/']), await forEachRef(sample.repo.path, ['refs/heads/', 'refs/tags/']));

    const json = await runCli(['sync', '--json', '--tags', server.url('source'), server.url('fan-2'), `${server.root}/fan-3.git`]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.operation, 'sync');
    assert.equal(parsed.error, null);
    assert.equal(parsed.sharedFetches, 1);
    assert.deepEqual(parsed.targets.map((t: { relayMode: string; error: unknown; pushed: number }) => [t.relayMode, t.error, t.pushed]), [
      ['bootstrap', null, 5],
      ['bootstrap', null, 5],
    ]);
    await fsck(`${server.root}/fan-3.git`);

    const plan = await runCli(['plan', '--json', server.url('source'), server.url('fan-2'), server.url('fan-diverged')]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(JSON.parse(plan.stdout).targets.map((t: { dryRun: boolean; blocked: number }) => [t.dryRun, t.blocked]), [
      [true, 0],
      [true, 1],
    ]);
  });

  it('refuses usage errors with exit 2 before touching anything', async () => {
    const run = await runCli(['bootstrap', '--prune', server.url('source'), server.url('empty')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: unknown option '--prune'/m);
    const both = await runCli(['sync', '--force-with-lease', '--force-blind', server.url('source'), server.url('empty')]);
    assert.equal(both.code, 2);
  });
});
