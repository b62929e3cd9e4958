/**
 * Issue 12: a mirror is never lost by mistake, a typo never succeeds silently, and results say
 * what really happened. Every case runs the real CLI against local paths and the loopback
 * `git http-backend`, and checks the target with `git for-each-ref` and `git fsck`.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { isAdvertisement, isRpc, respond, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { runCli } from '../cli/run-cli.js';
import { sampleRepo } from '../helpers/sample-repo.js';

interface Json {
  mode: string;
  source: { url: string; protocol: string | null; head: string | null };
  target: { url: string; capabilities: string[]; head: string | null };
  stats: { phases: Record<string, { requests: number }> } | null;
  pushed: number;
  deleted: number;
  blocked: number;
  relay: boolean;
  relayMode: string;
  maxDeletes: number;
  plans: { targetRef: string; action: string; reason: string; applied: boolean | null }[];
  error: { code: string; message: string } | null;
}

describe('safety guards and truthful results (CLI)', () => {
  let dir: TempDir;
  let server: GitHttpServer;
  let source: FixtureRepo;
  let empty: FixtureRepo;
  let mirrors = 0;

  before(async () => {
    dir = makeTempDir('gitsync-safety-');
    server = await startGitHttpServer({ root: dir.path });
    ({ repo: source } = await sampleRepo(dir.path, 'source'));
    empty = await createRepo({ parentDir: dir.path, name: 'empty' });
  });
  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  /** A full mirror of the source (branches and tags), served by the loopback server. */
  async function mirror(): Promise<{ name: string; path: string }> {
    const name = `mirror-${++mirrors}`;
    const path = join(dir.path, `${name}.git`);
    await git(['clone', '--quiet', '--mirror', source.path, path]);
    // HEAD protects nothing: it names a branch the mirror does not have.
    await git(['symbolic-ref', 'HEAD', 'refs/heads/nowhere'], { cwd: path });
    return { name, path };
  }

  it('refuses to empty a mirror from a source that lists no refs, unless told the source is empty', async () => {
    for (const [how, args] of [['sync', ['sync', '--tags', '--prune']], ['replicate', ['replicate', '--all-refs', '--prune']]] as const) {
      const target = await mirror();
      const before = await forEachRef(target.path);
      for (const [src, dst] of [[empty.path, target.path], [server.url('empty'), server.url(target.name)]]) {
        const run = await runCli([...args, '--json', src!, dst!]);
        assert.equal(run.code, 3, `${how}: exit 3\n${run.stderr}`);
        const json = JSON.parse(run.stdout) as Json;
        assert.equal(json.error?.code, 'REF_BLOCKED');
        assert.match(json.error!.message, /the source lists no managed refs: check its URL and access, or pass --allow-empty-source/);
        assert.equal(json.pushed, 0);
        assert.equal(json.deleted, 0);
        assert.ok(json.blocked >= 4, `${json.blocked} deletes blocked`);
        assert.ok(json.plans.every((plan) => plan.action === 'block' && /source lists no managed refs/.test(plan.reason)));
        assert.deepEqual(await forEachRef(target.path), before, `${how}: the mirror is untouched`);
      }
      const allowed = await runCli([...args, '--allow-empty-source', empty.path, target.path]);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.deepEqual([...(await forEachRef(target.path, ['refs/heads/', 'refs/tags/'])).keys()], [], `${how} --allow-empty-source empties it`);
      await fsck(target.path);
    }
  });

  it('blocks a run that would delete more than --max-deletes refs, and shows the bound in plan', async () => {
    const target = await mirror();
    for (let i = 0; i < 6; i++) await git(['update-ref', `refs/heads/gone-${i}`, 'refs/heads/main'], { cwd: target.path });
    const before = await forEachRef(target.path);
    const planned = await runCli(['plan', '--prune', '--max-deletes', '5', source.path, target.path]);
    assert.equal(planned.code, 0, planned.stderr);
    assert.match(planned.stdout, /^BLOCK refs\/heads\/gone-0 - the run would delete 6 refs, more than --max-deletes 5;/m);
    assert.match(planned.stdout, /^summary: plan \(dry run\) mode=sync .* blocked=6 .* max-deletes=5$/m);

    const refused = await runCli(['sync', '--prune', '--max-deletes', '5', source.path, target.path]);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /^error: nothing pushed: 6 refs blocked .*; more deletes than --max-deletes 5: check the source, or raise --max-deletes$/m);
    assert.deepEqual(await forEachRef(target.path), before);

    const allowed = await runCli(['sync', '--prune', '--max-deletes', '6', '--json', source.path, target.path]);
    assert.equal(allowed.code, 0, allowed.stderr);
    const json = JSON.parse(allowed.stdout) as Json;
    assert.equal(json.deleted, 6);
    assert.equal(json.maxDeletes, 6);
    assert.deepEqual(await forEachRef(target.path, ['refs/heads/']), await forEachRef(source.path, ['refs/heads/']));
    await fsck(target.path);
  });

  it('fails on a --branch or --map the source does not have, naming it, and creates nothing', async () => {
    const newTarget = join(dir.path, 'never-created.git');
    for (const args of [['--branch', 'no-such-branch'], ['--map', 'refs/heads/nope:refs/heads/x'], ['--branch', 'main,typo']]) {
      for (const command of ['sync', 'plan', 'bootstrap', 'replicate']) {
        const run = await runCli([command, '--json', ...args, source.path, newTarget]);
        assert.equal(run.code, 2, `${command} ${args.join(' ')}: exit 2\n${run.stderr}`);
        const json = JSON.parse(run.stdout) as Json;
        assert.equal(json.error?.code, 'SOURCE_REF_MISSING');
        const missing = args[1] === 'main,typo' ? 'refs/heads/typo' : args[1]!.startsWith('refs/') ? 'refs/heads/nope' : 'refs/heads/no-such-branch';
        assert.match(json.error!.message, new RegExp(`has no ${missing} \\(`));
        assert.match(json.error!.message, /its branches: dev, feature, main; check the name/);
        assert.equal(existsSync(newTarget), false, 'no target was created');
      }
    }
    const http = await runCli(['sync', '--branch', 'no-such-branch', server.url('source'), server.url('empty')]);
    assert.equal(http.code, 2);
    assert.match(http.stderr, /^error: .* has no refs\/heads\/no-such-branch \(--branch no-such-branch\)/m);
    const fetched = await runCli(['fetch', '--branch', 'nope', source.path]);
    assert.equal(fetched.code, 2, fetched.stderr);
    assert.match(fetched.stderr, /has no refs\/heads\/nope \(--branch nope\)/);
  });

  it('reports pushed=0 for a blocked run (nothing happened), and the plan it refused', async () => {
    const target = await mirror();
    const main = await git(['rev-parse', 'refs/heads/main'], { cwd: target.path });
    const tree = await git(['rev-parse', 'refs/heads/main^{tree}'], { cwd: target.path });
    await git(['update-ref', 'refs/heads/main', await git(['commit-tree', tree, '-p', main, '-m', 'mirror only'], { cwd: target.path })], { cwd: target.path });
    await git(['update-ref', 'refs/heads/dev', 'refs/heads/dev~1'], { cwd: target.path });
    const before = await forEachRef(target.path);
    const run = await runCli(['sync', '--json', source.path, target.path]);
    assert.equal(run.code, 3);
    const json = JSON.parse(run.stdout) as Json;
    assert.deepEqual(json.plans.filter((p) => p.action !== 'skip').map((p) => [p.action, p.targetRef]), [['update', 'refs/heads/dev'], ['block', 'refs/heads/main']]);
    assert.equal(json.pushed, 0, 'the update of dev was not pushed');
    assert.equal(json.relay, false);
    const text = await runCli(['sync', source.path, target.path]);
    assert.match(text.stdout, /^summary: sync pushed=0 deleted=0 skipped=\d+ blocked=1 /m);
    assert.deepEqual(await forEachRef(target.path), before);
  });

  it('says relay=ref-only in text as in JSON for a run that only deletes', async () => {
    const target = await mirror();
    await git(['update-ref', 'refs/heads/stale', 'refs/heads/main'], { cwd: target.path });
    const planned = await runCli(['plan', '--prune', '--json', source.path, target.path]);
    assert.equal((JSON.parse(planned.stdout) as Json).relayMode, 'ref-only');
    const run = await runCli(['sync', '--prune', source.path, target.path]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^summary: sync pushed=0 deleted=1 .* relay=ref-only reason=deletes-only /m);
    assert.equal((await forEachRef(target.path)).has('refs/heads/stale'), false);
  });

  it('plans replicate under replicate rules: --force-with-lease refused as replicate refuses it, and a mode field', async () => {
    const target = await mirror();
    const refused = await runCli(['plan', '--mode', 'replicate', '--force-with-lease', source.path, target.path]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^error: --force-with-lease does not apply to replicate/m);
    assert.equal((await runCli(['replicate', '--force-with-lease', source.path, target.path])).code, 2);
    const planned = await runCli(['plan', '--mode', 'replicate', '--json', source.path, target.path]);
    assert.equal((JSON.parse(planned.stdout) as Json).mode, 'replicate');
    assert.match((await runCli(['plan', '--mode', 'replicate', source.path, target.path])).stdout, /^summary: plan \(dry run\) mode=replicate /m);
  });

  /** A mirror a commit behind on main and dev, so that a sync updates both. */
  async function behindMirror(): Promise<{ name: string; path: string }> {
    const target = await mirror();
    await git(['update-ref', 'refs/heads/main', 'refs/heads/main~1'], { cwd: target.path });
    await git(['update-ref', 'refs/heads/dev', 'refs/heads/dev~1'], { cwd: target.path });
    return target;
  }

  function hook(path: string, name: string, script: string): void {
    const file = join(path, 'hooks', name);
    writeFileSync(file, `#!/bin/sh\n${script}\n`);
    chmodSync(file, 0o755);
  }

  it('keeps every known field in the failure JSON of a push the target refused, each ref saying it was not applied', async () => {
    const target = await behindMirror();
    hook(target.path, 'pre-receive', 'echo "policy: no pushes today" >&2; exit 1');
    const before = await forEachRef(target.path);
    for (const url of [target.path, server.url(target.name)]) {
      const run = await runCli(['sync', '--json', '--stats', source.path, url]);
      assert.equal(run.code, 1, run.stderr);
      const json = JSON.parse(run.stdout) as Json;
      assert.equal(json.error?.code, 'TARGET_REJECTED');
      assert.equal(json.source.head, 'refs/heads/main');
      assert.ok(json.source.protocol !== null);
      assert.ok(json.target.capabilities.includes('report-status'), 'the target capabilities are kept');
      assert.ok(json.stats !== null && json.stats.phases['target push']!.requests >= 1, 'stats are kept');
      for (const [name, phase] of Object.entries(json.stats!.phases)) {
        assert.ok(Number.isInteger((phase as unknown as { elapsedMillis: number }).elapsedMillis), `${name}: elapsedMillis is an integer`);
      }
      assert.deepEqual(json.plans.filter((p) => p.action === 'update').map((p) => [p.targetRef, p.applied]), [['refs/heads/dev', false], ['refs/heads/main', false]]);
      assert.equal(json.pushed, 0);
      assert.equal(json.maxDeletes, 100);
    }
    const text = await runCli(['sync', source.path, target.path]);
    assert.match(text.stdout, /^UPDATE refs\/heads\/main - [0-9a-f]{8} -> [0-9a-f]{8} \(not applied\)$/m);
    assert.match(text.stdout, /^summary: sync pushed=0 /m);
    assert.deepEqual(await forEachRef(target.path), before);
  });

  it('says which refs a non-atomic push applied when the target refused some', async () => {
    const target = await behindMirror();
    hook(target.path, 'update', 'if [ "$1" = refs/heads/dev ]; then echo "dev is frozen" >&2; exit 1; fi');
    const run = await runCli(['sync', '--json', '--no-atomic', source.path, target.path]);
    assert.equal(run.code, 1, run.stderr);
    const json = JSON.parse(run.stdout) as Json;
    assert.equal(json.error?.code, 'TARGET_REJECTED');
    assert.deepEqual(json.plans.filter((p) => p.action === 'update').map((p) => [p.targetRef, p.applied]), [['refs/heads/dev', false], ['refs/heads/main', true]]);
    assert.equal(json.pushed, 1, 'main moved, dev did not');
    const refs = await forEachRef(target.path);
    assert.equal(refs.get('refs/heads/main'), await source.revParse('main'));
    assert.notEqual(refs.get('refs/heads/dev'), await source.revParse('dev'));
    await fsck(target.path);
  });

  it('keeps the known fields when the push fails over HTTP, and says when the target could not be listed again', async () => {
    const target = await behindMirror();
    let pushed = false;
    const failing = await startGitHttpServer({
      root: dir.path,
      onRequest: [
        when(isRpc('git-receive-pack'), (req, res) => {
          pushed = true;
          respond(500, 'internal error')(req, res, () => undefined);
        }),
        // After the failed push the target cannot even be listed.
        when(isAdvertisement('git-receive-pack'), (req, res, next) => (pushed ? respond(503, 'down')(req, res, next) : next())),
      ],
    });
    try {
      const run = await runCli(['sync', '--json', '--stats', source.path, failing.url(target.name)]);
      assert.equal(run.code, 1, run.stderr);
      const json = JSON.parse(run.stdout) as Json;
      assert.equal(json.error?.code, 'HTTP_STATUS');
      assert.match(json.error!.message, /HTTP 500: internal error; the target server failed: retry later, and if it persists report it to the host/);
      assert.equal(json.source.head, 'refs/heads/main');
      assert.ok(json.target.capabilities.length > 0);
      assert.ok(json.stats !== null);
      assert.deepEqual(json.plans.filter((p) => p.action === 'update').map((p) => p.applied), [null, null], 'not known: the target could not be listed again');
    } finally {
      await failing.close();
    }
  });

  it('fills what it learned when a run fails before planning (the source lists, the target does not answer)', async () => {
    const down = await startGitHttpServer({ root: dir.path, onRequest: when(isAdvertisement('git-receive-pack'), respond(503, 'maintenance')) });
    try {
      const run = await runCli(['sync', '--json', '--stats', source.path, down.url('empty')]);
      assert.equal(run.code, 1);
      const json = JSON.parse(run.stdout) as Json;
      assert.equal(json.source.head, 'refs/heads/main', 'the source was listed');
      assert.ok(json.stats !== null, 'stats with --stats');
      assert.deepEqual(json.plans, []);
    } finally {
      await down.close();
    }
  });

  it('points a local target HEAD that names a missing branch at the source default branch, and reports every target HEAD', async () => {
    const local = join(dir.path, 'dangling-head.git');
    await git(['init', '--quiet', '--bare', '--initial-branch=master', local]);
    const run = await runCli(['sync', '--json', source.path, local]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as Json).target.head, 'refs/heads/main');
    assert.equal(await git(['symbolic-ref', 'HEAD'], { cwd: local }), 'refs/heads/main');

    // A remote target's HEAD is the host's to set: reported as it is.
    const remote = await createRepo({ parentDir: dir.path, name: 'remote-dangling', initialBranch: 'trunk' });
    const http = await runCli(['sync', '--json', server.url('source'), server.url('remote-dangling')]);
    assert.equal(http.code, 0, http.stderr);
    assert.equal((JSON.parse(http.stdout) as Json).target.head, 'refs/heads/trunk');
    assert.equal(await git(['symbolic-ref', 'HEAD'], { cwd: remote.path }), 'refs/heads/trunk');

    // A run that changes nothing does not ask.
    const again = await runCli(['sync', '--json', source.path, local]);
    assert.equal((JSON.parse(again.stdout) as Json).target.head, null);
  });

  it('leaves no checkpoint refs of the branches it manages after a successful run, and only those', async () => {
    const target = await behindMirror();
    await git(['update-ref', 'refs/gitsync/bootstrap/heads/main', 'refs/heads/main~1'], { cwd: target.path });
    await git(['update-ref', 'refs/gitsync/bootstrap/tips/main/1-1', 'refs/heads/main~1'], { cwd: target.path });
    await git(['update-ref', 'refs/gitsync/bootstrap/heads/dev', 'refs/heads/dev'], { cwd: target.path });
    const run = await runCli(['sync', '--json', '--branch', 'main', source.path, target.path]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout) as Json & { tempRefs: string[] };
    assert.deepEqual(json.tempRefs, ['refs/gitsync/bootstrap/heads/main', 'refs/gitsync/bootstrap/tips/main/1-1']);
    assert.deepEqual([...(await forEachRef(target.path, ['refs/gitsync/'])).keys()], ['refs/gitsync/bootstrap/heads/dev'], "dev's checkpoint is not this run's to delete");
    // A run that has nothing else to do still cleans up after its managed branches.
    const next = await runCli(['sync', '--branch', 'dev', source.path, target.path]);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual([...(await forEachRef(target.path, ['refs/gitsync/'])).keys()], []);
    await fsck(target.path);
  });

  it('syncs ./a.git into ./a: two directories are one repository only when their real paths are', async () => {
    const parent = join(dir.path, 'pair');
    await git(['clone', '--quiet', '--bare', source.path, join(parent, 'a.git')]);
    const run = await runCli(['sync', './a.git', './a'], {}, parent);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await forEachRef(join(parent, 'a'), ['refs/heads/']), await forEachRef(source.path, ['refs/heads/']));
    const same = await runCli(['sync', './a.git', `${parent}/a.git/`], {}, parent);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /source and target are the same repository/);
  });

  it('traces the response of the streamed receive-pack POST, with its byte counts and request ids', async () => {
    const traced = await startGitHttpServer({
      root: dir.path,
      onRequest: (_req, res, next) => {
        res.setHeader('X-Request-Id', 'req-42');
        next();
      },
    });
    try {
      const target = await behindMirror();
      const run = await runCli(['sync', source.path, traced.url(target.name)], { GITSYNC_HTTP_TRACE: '1' });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /^git-sync: http target > POST http:\/\/127\.0\.0\.1:\d+\/mirror-\d+\.git\/git-receive-pack$/m);
      assert.match(run.stderr, /^git-sync: http target < 200 POST http:\/\/127\.0\.0\.1:\d+\/mirror-\d+\.git\/git-receive-pack sent=[1-9]\d* received=[1-9]\d* \d+ms \[x-request-id: req-42\]$/m);
    } finally {
      await traced.close();
    }
  });

  it('creates a missing local target with HEAD on the source default branch', async () => {
    const trunk = await createRepo({ parentDir: dir.path, name: 'trunk-source', initialBranch: 'trunk' });
    await trunk.commit('trunk', { files: { 'a.txt': 'a\n' } });
    await trunk.commit('other', { files: { 'b.txt': 'b\n' } });
    const target = join(dir.path, 'backup-of-trunk.git');
    const run = await runCli(['sync', trunk.path, target]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await git(['symbolic-ref', 'HEAD'], { cwd: target }), 'refs/heads/trunk');
    const clone = join(dir.path, 'clone-of-backup');
    await git(['clone', '--quiet', target, clone]);
    assert.equal(await git(['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: clone }), 'trunk', 'a clone of the backup checks out trunk');
    await fsck(target);
  });
});
