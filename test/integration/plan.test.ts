import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import { plan, type SyncResult } from '../../src/api/plan.js';
import { cloneRepo, createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, git } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';

type Row = [action: string, targetRef: string, forced?: boolean];

function actions(result: SyncResult): Row[] {
  return result.plans.map((p) => (p.forced ? [p.action, p.targetRef, true] : [p.action, p.targetRef]));
}

/**
 * Each source flavour: protocol v2 with filter, v1 with filter, and a stock server that offers no
 * filter (ancestry then comes from the ordinary pack's commits).
 */
const flavours = [
  { name: 'v2 with filter', protocol: 'v2' as const, filter: true },
  { name: 'v1 with filter', protocol: 'v1' as const, filter: true },
  { name: 'v2, uploadpack.allowFilter=false', protocol: 'v2' as const, filter: false },
  { name: 'v1, uploadpack.allowFilter=false', protocol: 'v1' as const, filter: false },
];

for (const flavour of flavours) {
  describe(`plan against git http-backend (${flavour.name})`, () => {
    let server: GitHttpServer;
    let sample: SampleRepo;
    let target: FixtureRepo;
    let before_: Map<string, string>;

    before(async () => {
      server = await startGitHttpServer();
      sample = await sampleRepo(server.root, 'source', { 'uploadpack.allowFilter': flavour.filter });
    });
    after(async () => server.close());

    beforeEach(async () => {
      if (target) await rm(target.path, { recursive: true, force: true });
      target = await cloneRepo(sample.repo, { parentDir: server.root, name: 'target' });
      server.clearLog();
    });

    async function run(extra: Partial<Parameters<typeof plan>[0]> = {}): Promise<SyncResult> {
      before_ = await forEachRef(target.path);
      const result = await plan({ source: { url: server.url('source') }, target: { url: server.url('target') }, protocol: flavour.protocol, stats: true, ...extra });
      await server.idle();
      assert.deepEqual(await forEachRef(target.path), before_, 'the target is byte-for-byte unchanged');
      const posts = server.requests.filter((r) => r.kind.service === 'git-receive-pack' && r.kind.phase === 'rpc');
      assert.equal(posts.length, 0, 'plan never POSTs to the target receive-pack');
      assert.equal(result.source.protocol, flavour.protocol);
      return result;
    }

    it('plans a fast-forward in one source fetch', async () => {
      await target.setRef('refs/heads/main', `${sample.main}~1`);
      const result = await run();
      assert.deepEqual(actions(result), [['skip', 'refs/heads/dev'], ['skip', 'refs/heads/feature'], ['update', 'refs/heads/main']]);
      const main = result.plans.find((p) => p.targetRef === 'refs/heads/main')!;
      assert.match(main.reason, /^[0-9a-f]{8} -> [0-9a-f]{8}$/);
      assert.equal(result.relayMode, 'incremental');
      assert.equal(result.relayReason, 'fast-forward-and-creates');
      assert.equal(result.stats?.phases['source fetch']?.requests, 1);
      if (flavour.filter) assert.ok((result.stats?.phases['source fetch']?.responseBytes ?? 0) < 2000, 'commits only');
    });

    it('blocks a diverged branch and a target that is ahead, and forces them with a flag', async () => {
      await target.commit('main', { parents: [`${sample.main}~1`], files: { 'diverged.txt': 'x' } });
      await target.commit('dev', { files: { 'ahead.txt': 'x' } });
      const blocked = await run();
      assert.deepEqual(actions(blocked), [['block', 'refs/heads/dev'], ['skip', 'refs/heads/feature'], ['block', 'refs/heads/main']]);
      assert.match(blocked.plans[0]!.reason, /is not an ancestor of/);
      assert.equal(blocked.relay, false);
      assert.equal(blocked.relayReason, 'blocked-refs');
      assert.equal(blocked.blocked, 2);
      const forced = await run({ forceWithLease: true });
      assert.deepEqual(actions(forced), [['update', 'refs/heads/dev', true], ['skip', 'refs/heads/feature'], ['update', 'refs/heads/main', true]]);
      assert.equal(forced.relayReason, 'forced-updates');
    });

    it('blocks a tag retarget unless forced, creates missing tags', async () => {
      await target.lightweightTag('v1.0', 'dev', { force: true });
      await target.deleteRef('refs/tags/light');
      const blocked = await run({ tags: true });
      assert.deepEqual(
        actions(blocked).filter(([, ref]) => ref.startsWith('refs/tags/')),
        [['create', 'refs/tags/light'], ['block', 'refs/tags/v1.0']],
      );
      assert.match(blocked.plans.find((p) => p.targetRef === 'refs/tags/v1.0')!.reason, /differs; use --force-with-lease/);
      const forced = await run({ tags: true, forceBlind: true });
      assert.deepEqual(forced.plans.find((p) => p.targetRef === 'refs/tags/v1.0')?.action, 'update');
      assert.equal(forced.plans.find((p) => p.targetRef === 'refs/tags/v1.0')?.forced, true);
    });

    it('deletes target-only branches only with --prune', async () => {
      await target.commit('stale', { parents: ['main'] });
      const kept = await run();
      assert.ok(!kept.plans.some((p) => p.targetRef === 'refs/heads/stale'));
      const pruned = await run({ prune: true });
      const stale = pruned.plans.find((p) => p.targetRef === 'refs/heads/stale')!;
      assert.equal(stale.action, 'delete');
      assert.match(stale.reason, /^[0-9a-f]{8} -> deleted$/);
      assert.equal(pruned.relayMode, 'ref-only');
      assert.equal(pruned.relayReason, 'deletes-only');
    });

    it('maps branches onto other names', async () => {
      const result = await run({ maps: ['main:stable', 'dev:next'] });
      assert.deepEqual(actions(result), [['create', 'refs/heads/next'], ['create', 'refs/heads/stable']]);
      assert.equal(result.plans[1]!.sourceRef, 'refs/heads/main');
      assert.equal(result.plans[1]!.branch, 'stable');
    });

    it('manages every namespace with --all-refs minus --exclude-ref-prefix', async () => {
      await target.deleteRef('refs/custom/x');
      await target.deleteRef('refs/pull/1/head');
      await target.setRef('refs/notes/commits', 'dev');
      const result = await run({ allRefs: true, excludeRefPrefixes: ['refs/pull/'], prune: true });
      assert.deepEqual(actions(result), [
        ['create', 'refs/custom/x'],
        ['skip', 'refs/heads/dev'],
        ['skip', 'refs/heads/feature'],
        ['skip', 'refs/heads/main'],
        ['block', 'refs/notes/commits'],
        ['skip', 'refs/tags/light'],
        ['skip', 'refs/tags/v1.0'],
      ]);
    });
  });
}

describe('plan: empty target and usage errors', () => {
  let server: GitHttpServer;

  before(async () => {
    server = await startGitHttpServer();
    await sampleRepo(server.root, 'source');
    await createRepo({ parentDir: server.root, name: 'empty' });
  });
  after(async () => server.close());

  it('suggests a bootstrap for an empty target', async () => {
    const result = await plan({ source: { url: server.url('source') }, target: { url: server.url('empty') }, tags: true });
    assert.equal(result.bootstrapSuggested, true);
    assert.equal(result.relayMode, 'bootstrap');
    assert.equal(result.relayReason, 'empty-target-managed-refs');
    assert.deepEqual(new Set(result.plans.map((p) => p.action)), new Set(['create']));
    assert.equal(result.pushed, 5);
  });

  it('refuses bad flags before any network traffic', async () => {
    server.clearLog();
    const source = { url: server.url('source') };
    const target = { url: server.url('empty') };
    await assert.rejects(plan({ source, target, maps: ['main:refs/heads/x'] }), { code: 'USAGE' });
    await assert.rejects(plan({ source, target, maps: ['main:v1', 'main:v2'] }), { code: 'USAGE' });
    await assert.rejects(plan({ source, target, allRefs: true, branches: ['main'] }), { code: 'USAGE' });
    await assert.rejects(plan({ source, target, forceBlind: true, forceWithLease: true }), { code: 'USAGE' });
    await assert.rejects(plan({ source, target: { url: `${server.url('source')}/` } }), { code: 'USAGE' });
    assert.equal(server.requests.length, 0);
  });
});

describe('plan against a source without a commit filter reads only the commits', () => {
  let server: GitHttpServer;
  let source: FixtureRepo;
  const MiB = 1024 * 1024;

  before(async () => {
    server = await startGitHttpServer();
    source = await createRepo({ parentDir: server.root, name: 'source', config: { 'uploadpack.allowFilter': false } });
    await source.commit('main', { files: { 'README.md': 'start\n' } });
    for (let i = 0; i < 4; i++) await source.commit('main', { files: { [`data-${i}.bin`]: pseudoRandomBytes(MiB, `d${i}`) } });
  });
  after(async () => server.close());

  for (const over of ['http', 'a local path'] as const) {
    it(`answers a fast-forward from the pack's commits, leaving its 4 MiB of files unread (${over})`, async () => {
      const target = await createRepo({ parentDir: server.root, name: `target-${over === 'http' ? 'http' : 'local'}` });
      await git(['push', '--quiet', target.path, 'main~4:refs/heads/main'], { cwd: source.path });
      const result = await plan({ source: { url: over === 'http' ? server.url('source') : source.path }, target: { url: target.path }, stats: true });
      assert.deepEqual(actions(result), [['update', 'refs/heads/main']]);
      const fetched = result.stats?.phases['source fetch'];
      assert.equal(fetched?.requests, 1);
      assert.ok((fetched?.responseBytes ?? Infinity) < MiB, `read ${fetched?.responseBytes} bytes of a pack of over 4 MiB`);
      await server.idle();
    });
  }
});
