/**
 * Timeouts and retries (docs/usage.md, "Timeouts and retries"): a server that stops ends the run
 * with a typed timeout naming the side and phase, never a hang; transient failures are tried again
 * where that is safe, and a push is tried again only when the target is seen unchanged. Real git
 * behind the loopback HTTP server, a real process that never speaks over the ssh transport; the
 * target is checked with `git for-each-ref` and `git fsck`. No wall-clock assertion: every case
 * has a test timeout far above the timeouts it sets, which is the bound.
 */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetch, probe, sync, type ProgressEvent, type SyncResult } from '../../src/index.js';
import { GitSyncError } from '../../src/errors.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { isAdvertisement, isRpc, loseAnswer, respond, stall, stallResponseAfter, times, truncateResponse, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer, type Middleware } from '../helpers/http-server.js';
import { processesMatching, waitUntilEmpty } from '../helpers/processes.js';
import { runCli } from '../cli/run-cli.js';

/** Fast enough for tests, far below the per-test timeouts that bound every case. */
const IDLE = 400;

async function failure(run: Promise<unknown>): Promise<GitSyncError> {
  return run.then(
    () => assert.fail('the run succeeded'),
    (error: unknown) => {
      assert.ok(error instanceof GitSyncError, `a typed error, not ${String(error)}`);
      return error;
    },
  );
}

describe('timeouts and retries', { timeout: 60_000 }, () => {
  let dir: TempDir;
  let source: FixtureRepo;
  let servers: GitHttpServer[] = [];
  let targets = 0;

  before(async () => {
    dir = makeTempDir('gitsync-timeouts-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
    await source.commit('main', { files: { 'big.bin': pseudoRandomBytes(256 * 1024, 'big') } });
    await source.commit('dev', { parents: ['main'], files: { 'dev.txt': 'dev\n' } });
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await dir?.remove();
  });

  /** A loopback server over `dir` whose requests go through `faults` first. */
  async function serve(...faults: Middleware[]): Promise<GitHttpServer> {
    const server = await startGitHttpServer({ root: dir.path, onRequest: faults });
    servers.push(server);
    return server;
  }

  /** An empty bare target in `dir` (served by every server); its name and path. */
  async function emptyTarget(): Promise<{ name: string; path: string }> {
    const name = `target-${++targets}`;
    const path = join(dir.path, `${name}.git`);
    await git(['init', '--quiet', '--bare', path]);
    return { name, path };
  }

  async function sourceRefs(): Promise<Map<string, string>> {
    return forEachRef(source.path, ['refs/heads/']);
  }

  const isSource = (req: { url?: string }): boolean => req.url?.startsWith('/source.git/') === true;

  it('a source that never answers: TIMEOUT_HEADERS naming the source and discovery', async () => {
    const server = await serve(when((req) => isSource(req) && isAdvertisement()(req), stall()));
    const error = await failure(probe({ source: { url: server.url('source') }, idleTimeoutMillis: IDLE, retries: 0 }));
    assert.equal(error.code, 'TIMEOUT_HEADERS');
    assert.deepEqual([error.side, error.phase], ['source', 'discover']);
  });

  it('a source that stops mid-pack: TIMEOUT_IDLE naming the source and the push it fed; the target is unchanged', async () => {
    const server = await serve(when((req) => isSource(req) && isRpc('git-upload-pack')(req), stallResponseAfter(2000)));
    const target = await emptyTarget();
    const error = await failure(sync({ source: { url: server.url('source') }, target: { url: server.url(target.name) }, idleTimeoutMillis: IDLE, retries: 0 }));
    assert.equal(error.code, 'TIMEOUT_IDLE');
    assert.deepEqual([error.side, error.phase], ['source', 'push']);
    assert.equal((await forEachRef(target.path)).size, 0);
    await fsck(target.path);
  });

  it('a target that stops reading the push: TIMEOUT_IDLE naming the target; nothing lands', async () => {
    // Bigger than the socket buffers and the relay's write window, so the writer must wait.
    const big = await createRepo({ parentDir: dir.path, name: 'big-source' });
    await big.commit('main', { files: { 'huge.bin': pseudoRandomBytes(24 * 1024 * 1024, 'huge') } });
    // Packed, so upload-pack streams it at once instead of compressing it first.
    await git(['repack', '-adq'], { cwd: big.path });
    const target = await emptyTarget();
    const server = await serve(when((req) => req.url?.startsWith(`/${target.name}.git/`) === true && isRpc('git-receive-pack')(req), stall()));
    const error = await failure(sync({ source: { url: big.path }, target: { url: server.url(target.name) }, idleTimeoutMillis: 5 * IDLE, retries: 0 }));
    assert.equal(error.code, 'TIMEOUT_IDLE');
    assert.deepEqual([error.side, error.phase], ['target', 'push']);
    assert.match(error.message, /stopped reading/);
    assert.equal((await forEachRef(target.path)).size, 0);
    await fsck(target.path);
  });

  it('a stream server that never says a word: TIMEOUT_IDLE, and its process is gone', async (t) => {
    const script = join(dir.path, 'silent-ssh');
    writeFileSync(script, '#!/bin/sh\nexec sleep 307\n');
    chmodSync(script, 0o755);
    const saved = process.env['GIT_SSH_COMMAND'];
    process.env['GIT_SSH_COMMAND'] = script;
    t.after(() => {
      if (saved === undefined) delete process.env['GIT_SSH_COMMAND'];
      else process.env['GIT_SSH_COMMAND'] = saved;
    });
    const error = await failure(probe({ source: { url: 'ssh://git@127.0.0.1/silent.git' }, idleTimeoutMillis: IDLE, retries: 0 }));
    assert.equal(error.code, 'TIMEOUT_IDLE');
    assert.deepEqual([error.side, error.phase], ['source', 'discover']);
    assert.deepEqual(await waitUntilEmpty(() => processesMatching('sleep 307')), []);
  });

  it('the deadline ends a run that is still waiting: TIMEOUT_DEADLINE', async () => {
    const server = await serve(when((req) => isSource(req) && isAdvertisement()(req), stall()));
    const error = await failure(probe({ source: { url: server.url('source') }, idleTimeoutMillis: 30_000, deadlineMillis: IDLE }));
    assert.equal(error.code, 'TIMEOUT_DEADLINE');
  });

  it("a 503 with Retry-After during discovery is tried again after the server's pause, and the run succeeds", async () => {
    const server = await serve(when((req) => isSource(req) && isAdvertisement()(req), times(1, respond(503, 'busy', { 'Retry-After': '1' }))));
    const target = await emptyTarget();
    const events: ProgressEvent[] = [];
    const result = await sync({ source: { url: server.url('source') }, target: { url: target.path }, retryDelayMillis: 10, onProgress: (event) => events.push(event) });
    assert.equal(result.pushed, 2);
    assert.deepEqual(await forEachRef(target.path, ['refs/heads/']), await sourceRefs());
    const said = events.flatMap((event) => (event.kind === 'decision' && event.message.startsWith('retry') ? [event.message] : []));
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0]!, /^retry 1\/2 in 1\.0 s: HTTP_STATUS \(source discover\): .*HTTP 503/);
  });

  it('with --retries 0 the same 503 ends the run: exit 1, the JSON error names the side and phase', async () => {
    const server = await serve(when((req) => isSource(req) && isAdvertisement()(req), times(1, respond(503, 'busy'))));
    const target = await emptyTarget();
    const run = await runCli(['sync', '--json', '--retries', '0', server.url('source'), target.path]);
    assert.equal(run.code, 1);
    const json = JSON.parse(run.stdout) as { error: { code: string; side: string; phase: string } };
    assert.deepEqual(json.error && [json.error.code, json.error.side, json.error.phase], ['HTTP_STATUS', 'source', 'discover']);
    assert.match(run.stderr, /HTTP 503.* \[source, discover\]$/m);
  });

  it('a push refused with 502 before the target took it is tried again once the target is seen unchanged', async () => {
    const target = await emptyTarget();
    const server = await serve(when((req) => req.url?.startsWith(`/${target.name}.git/`) === true && isRpc('git-receive-pack')(req), times(1, respond(502, 'bad gateway'))));
    const events: ProgressEvent[] = [];
    const result = await sync({ source: { url: source.path }, target: { url: server.url(target.name) }, retryDelayMillis: 10, onProgress: (event) => events.push(event) });
    assert.equal(result.pushed, 2);
    assert.deepEqual(await forEachRef(target.path, ['refs/heads/']), await sourceRefs());
    await fsck(target.path);
    assert.ok(events.some((event) => event.kind === 'decision' && /^retry 1\/2 .*HTTP_STATUS \(target push\)/.test(event.message)));
  });

  it('a batched run whose push after two landed batches is refused with 503 resumes from its checkpoints', async () => {
    const history = await createRepo({ parentDir: dir.path, name: 'batched-source' });
    for (let i = 0; i < 6; i++) await history.commit('main', { files: { [`f${i}.bin`]: pseudoRandomBytes(60 * 1024, `batched-${i}`) } });
    const target = await emptyTarget();
    // Pushes the target took to the end (batches cut short by the budget do not count).
    let landed = 0;
    let refused = false;
    const third: Middleware = (req, res, next) => {
      if (landed === 2 && !refused) {
        refused = true;
        return respond(503, 'busy')(req, res, next);
      }
      res.once('finish', () => (landed += 1));
      return next();
    };
    const server = await serve(when((req) => req.url?.startsWith(`/${target.name}.git/`) === true && isRpc('git-receive-pack')(req), third));
    const events: ProgressEvent[] = [];
    const result = await sync({
      source: { url: history.path },
      target: { url: server.url(target.name) },
      targetMaxPackBytes: 100 * 1024,
      retryDelayMillis: 10,
      onProgress: (event) => events.push(event),
    });
    const said = events.flatMap((event) => (event.kind === 'decision' ? [event.message] : []));
    assert.ok(said.some((message) => /^retry 1\/2 .*HTTP_STATUS \(target push\)/.test(message)), said.join('\n'));
    assert.ok(said.some((message) => /^batch: resuming from \d+ checkpoint ref\(s\)/.test(message)), said.join('\n'));
    assert.equal(result.batching, true);
    assert.deepEqual(await forEachRef(target.path), await forEachRef(history.path, ['refs/heads/']));
    await fsck(target.path);
  });

  it('a push whose answer is lost after the target applied it is not tried again; the result says it was applied', async () => {
    const target = await emptyTarget();
    const server = await serve(when((req) => req.url?.startsWith(`/${target.name}.git/`) === true && isRpc('git-receive-pack')(req), times(1, loseAnswer())));
    const events: ProgressEvent[] = [];
    const error = await failure(sync({ source: { url: source.path }, target: { url: server.url(target.name) }, retryDelayMillis: 10, onProgress: (event) => events.push(event) }));
    assert.equal(error.code, 'NETWORK');
    assert.equal(error.side, 'target');
    const result = error.result as SyncResult;
    assert.deepEqual(
      result.plans.map((plan) => [plan.targetRef, plan.applied]),
      [
        ['refs/heads/dev', true],
        ['refs/heads/main', true],
      ],
    );
    assert.deepEqual(await forEachRef(target.path, ['refs/heads/']), await sourceRefs());
    assert.ok(events.some((event) => event.kind === 'decision' && event.message.includes('not trying again: the target may have changed')));
  });

  it('fetch is tried again after a connection cut mid-pack, unless pack bytes already went to the caller', async () => {
    // Let 64 KiB of the answer through, then cut the connection.
    const cut = (): Middleware => times(1, truncateResponse(64 * 1024));
    const retried = await serve(when((req) => isSource(req) && isRpc('git-upload-pack')(req) && req.headers['git-protocol'] !== undefined, cut()));
    const result = await fetch({ source: { url: retried.url('source') }, protocol: 'v2', retryDelayMillis: 10 });
    assert.ok(result.objects.total > 0);

    const delivered = await serve(when((req) => isSource(req) && isRpc('git-upload-pack')(req), cut()));
    const chunks: number[] = [];
    const error = await failure(fetch({ source: { url: delivered.url('source') }, protocol: 'v1', retryDelayMillis: 10, onPackData: (chunk) => void chunks.push(chunk.length) }));
    assert.equal(error.code, 'NETWORK');
    assert.ok(chunks.length > 0, 'the caller had pack bytes when the cut came');
  });
});
