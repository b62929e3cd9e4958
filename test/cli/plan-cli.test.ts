import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cloneRepo, createRepo } from '../helpers/fixtures.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';
import { runCli } from './run-cli.js';

describe('git-sync plan (CLI)', () => {
  let server: GitHttpServer;
  let sample: SampleRepo;

  before(async () => {
    server = await startGitHttpServer();
    sample = await sampleRepo(server.root);
    const target = await cloneRepo(sample.repo, { parentDir: server.root, name: 'target' });
    await target.commit('main', { parents: [`${sample.main}~1`], files: { 'x.txt': 'diverged' } });
    await createRepo({ parentDir: server.root, name: 'empty' });
  });
  after(async () => server.close());

  it('exits 0 with blocked refs and prints the JSON of docs/json.md', async () => {
    const run = await runCli(['plan', '--json', '--tags', server.url('source'), server.url('target')]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout);
    assert.deepEqual(Object.keys(json), [
      'operation', 'mode', 'dryRun', 'source', 'target', 'plans', 'pushed', 'deleted', 'skipped', 'blocked', 'warned',
      'relay', 'relayMode', 'relayReason', 'bootstrapSuggested', 'batching', 'batchCount', 'plannedBatchCount', 'batches', 'tempRefs',
      'maxDeletes', 'stats', 'measurement', 'error',
    ]);
    assert.equal(json.operation, 'plan');
    assert.equal(json.mode, 'sync');
    assert.equal(json.maxDeletes, 100);
    assert.equal(json.dryRun, true);
    assert.equal(json.blocked, 1);
    assert.deepEqual(Object.keys(json.plans[0]), ['branch', 'sourceRef', 'targetRef', 'sourceHash', 'targetHash', 'kind', 'action', 'reason', 'forced', 'applied']);
    const main = json.plans.find((p: { targetRef: string }) => p.targetRef === 'refs/heads/main');
    assert.equal(main.action, 'block');
  });

  it('prints one line per ref, a summary, and the source HEAD', async () => {
    const run = await runCli(['plan', '-v', server.url('source'), server.url('empty')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^CREATE refs\/heads\/main - [0-9a-f]{8} -> new$/m);
    assert.match(run.stdout, /^summary: plan \(dry run\) mode=sync pushed=3 deleted=0 skipped=0 blocked=0 warned=0 relay=bootstrap reason=empty-target-managed-refs bootstrap-suggested max-deletes=100$/m);
    assert.match(run.stdout, /^source-head: refs\/heads\/main$/m);
    assert.match(run.stderr, /^git-sync: relay: bootstrap \(empty-target-managed-refs\)$/m);
  });

  it('previews replicate with --mode replicate, overwriting without a force flag', async () => {
    const run = await runCli(['plan', '--json', '--mode', 'replicate', server.url('source'), server.url('target')]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout);
    const main = json.plans.find((p: { targetRef: string }) => p.targetRef === 'refs/heads/main');
    assert.equal(main.action, 'update');
    assert.equal(main.forced, true);
    assert.equal(json.relayMode, 'replicate');
  });

  it('exits 2 on a bad --map and on the same repository twice, with JSON error', async () => {
    const map = await runCli(['plan', '--json', '--map', 'main:refs/tags/x', server.url('source'), server.url('target')]);
    assert.equal(map.code, 2);
    assert.equal(JSON.parse(map.stdout).error.code, 'USAGE');
    const same = await runCli(['plan', server.url('source'), server.url('source')]);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /^error: source and target are the same repository/m);
    const size = await runCli(['plan', '--target-max-pack-bytes', 'lots', server.url('source'), server.url('target')]);
    assert.equal(size.code, 2);
  });
});
