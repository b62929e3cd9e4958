/**
 * The test harness itself, checked against real git: fixtures build what they claim, and the
 * loopback http-backend server speaks smart HTTP (v1 and v2), takes pushes (also chunked), guards
 * with basic auth, enforces its body limit without touching the target, and injects faults.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { cloneRepo, createRepo, openRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { delay, hangUp, isAdvertisement, isRpc, once, respond, truncateResponse, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { fsck, git, GitCommandError, lsRemote, makeTempDir, runGit } from '../helpers/git.js';

/** A repository with every kind of ref the sync has to handle. */
async function richRepo(parentDir?: string, name = 'rich'): Promise<{ repo: FixtureRepo; oids: Record<string, string> }> {
  const repo = await createRepo({ parentDir, name });
  const base = await repo.commit('main', { files: { 'README.md': '# rich\n', 'dir/sub/file.txt': 'nested\n' }, message: 'initial' });
  const feature = await repo.commit('feature', { parents: [base], files: { 'feature.txt': 'feature\n', 'bin/blob.bin': pseudoRandomBytes(64 * 1024, 'blob') } });
  const script = await repo.commit('main', { files: { 'run.sh': { content: '#!/bin/sh\necho hi\n', mode: 'executable' }, 'link': { content: 'README.md', mode: 'symlink' } } });
  const merge = await repo.merge('main', 'feature');
  const annotated = await repo.annotatedTag('v1.0', 'main', { message: 'release 1.0' });
  const light = await repo.lightweightTag('v0.9', base);
  const notes = await repo.note('main', 'reviewed');
  const pull = await repo.setRef('refs/pull/1/head', feature);
  const custom = await repo.setRef('refs/custom/x', script);
  await repo.setHead('feature');
  return { repo, oids: { base, feature, script, merge, annotated, light, notes, pull, custom } };
}

describe('fixtures', () => {
  it('build branches, merges, tags, notes and custom refs that fsck accepts', async () => {
    const { repo, oids } = await richRepo();
    assert.deepEqual(await repo.refs(), new Map([
      ['refs/custom/x', oids['script']],
      ['refs/heads/feature', oids['feature']],
      ['refs/heads/main', oids['merge']],
      ['refs/notes/commits', oids['notes']],
      ['refs/pull/1/head', oids['feature']],
      ['refs/tags/v0.9', oids['base']],
      ['refs/tags/v1.0', oids['annotated']],
    ]));
    assert.equal(await repo.head(), 'refs/heads/feature');
    assert.equal(await repo.git(['rev-parse', 'main^1', 'main^2']), `${oids['script']}\n${oids['feature']}`);
    assert.equal(await repo.git(['cat-file', '-t', 'v1.0']), 'tag');
    assert.equal(await repo.revParse('v1.0^{}'), oids['merge']);
    assert.equal(await repo.git(['notes', 'show', 'main']), 'reviewed');
    // The merge holds both sides' files; modes and binary content survive byte for byte.
    const modes = new Map((await repo.git(['ls-tree', '-r', '--format=%(path) %(objectmode)', 'main'])).split('\n').map((l) => l.split(' ') as [string, string]));
    assert.deepEqual(Object.fromEntries(modes), {
      'README.md': '100644', 'bin/blob.bin': '100644', 'dir/sub/file.txt': '100644', 'feature.txt': '100644', 'link': '120000', 'run.sh': '100755',
    });
    assert.deepEqual(await repo.readFile('main', 'bin/blob.bin'), pseudoRandomBytes(64 * 1024, 'blob'));
    assert.equal((await repo.readFile('main', 'dir/sub/file.txt')).toString(), 'nested\n');
    assert.equal(await repo.fsck(), '');
  });

  it('are deterministic: the same calls give the same hashes', async () => {
    const [a, b] = await Promise.all([richRepo(), richRepo()]);
    assert.deepEqual(await a.repo.refs(), await b.repo.refs());
  });

  it('make an empty repository with an unborn HEAD', async () => {
    const repo = await createRepo({ initialBranch: 'trunk' });
    assert.equal((await repo.refs()).size, 0);
    assert.equal(await repo.head(), 'refs/heads/trunk');
    assert.equal(await repo.resolve('HEAD'), null);
  });

  it('rewrite, delete and diverge refs on request', async () => {
    const repo = await createRepo();
    const c1 = await repo.commit('main');
    const c2 = await repo.commit('main');
    assert.equal(await repo.revParse('main^'), c1);
    const rewritten = await repo.commit('main', { parents: [c1], message: 'diverged' });
    assert.notEqual(rewritten, c2);
    assert.equal(await repo.revParse('main^'), c1);
    const root = await repo.commit('orphan', { parents: [], emptyTree: true, files: { 'only.txt': 'only\n' } });
    assert.equal(await repo.git(['ls-tree', '--name-only', root]), 'only.txt');
    await repo.deleteRef('orphan');
    assert.equal(await repo.resolve('orphan'), null);
    await repo.lightweightTag('t', c1);
    await assert.rejects(repo.lightweightTag('t', c2), GitCommandError);
    await repo.lightweightTag('t', c2, { force: true });
    assert.equal(await repo.revParse('t'), c2);
  });

  it('write repository config', async () => {
    const repo = await createRepo({ config: { 'uploadpack.allowFilter': true } });
    await repo.setConfig('uploadpack.allowReachableSHA1InWant', true);
    assert.equal(await repo.git(['config', 'uploadpack.allowfilter']), 'true');
    assert.equal(await repo.git(['config', 'uploadpack.allowreachablesha1inwant']), 'true');
  });

  it('keep a non-bare repository checked out', async () => {
    const repo = await createRepo({ bare: false });
    await repo.commit('main', { files: { 'a.txt': 'a\n' } });
    assert.equal(await git(['status', '--porcelain'], { cwd: repo.path }), '');
    assert.equal(await git(['show', 'HEAD:a.txt'], { cwd: repo.path }), 'a');
  });

  it('clone and reopen repositories, continuing their clock', async () => {
    const { repo } = await richRepo();
    const copy = await cloneRepo(repo);
    assert.deepEqual(await copy.refs(), await repo.refs());
    const next = await copy.commit('main');
    const reopened = await openRepo(copy.path);
    assert.equal(reopened.bare, true);
    const after = await reopened.commit('main');
    const dates = await git(['log', '-2', '--format=%ct', after], { cwd: copy.path });
    const [newer, older] = dates.split('\n').map(Number) as [number, number];
    assert.ok(newer > older, `${after} should be dated after ${next}`);
  });

  it('linearHistory(10000) makes ten thousand commits in one fast-import', async () => {
    const repo = await createRepo();
    await repo.commit('main');
    const tip = await repo.linearHistory(10_000);
    assert.equal(await repo.git(['rev-list', '--count', tip]), '10001');
    assert.equal(await repo.revParse('main'), tip);
    assert.equal(await repo.objectCount(['main~2..main']), 2 * 3);
    await git(['fsck', '--connectivity-only', '--no-progress'], { cwd: repo.path });
  });

  it('temp dirs disappear on remove()', async () => {
    const dir = makeTempDir();
    await dir.remove();
    await assert.rejects(readdir(dir.path), { code: 'ENOENT' });
  });
});

describe('git http-backend server', () => {
  let server: GitHttpServer;
  let src: FixtureRepo;

  before(async () => {
    server = await startGitHttpServer();
    src = (await richRepo(server.root, 'src')).repo;
  });
  after(() => server.close());

  it('serves ls-remote over protocol v1 and v2', async () => {
    const refs = await src.refs();
    for (const protocol of [1, 2] as const) {
      server.clearLog();
      const remote = await lsRemote(server.url('src'), { protocol });
      assert.deepEqual(remote.refs, refs);
      assert.equal(remote.headTarget, 'refs/heads/feature');
      assert.equal(remote.peeled.get('refs/tags/v1.0'), refs.get('refs/heads/main'));
      await server.idle();
      assert.equal(server.requests[0]!.headers['git-protocol'], `version=${protocol}`);
      // v2 lists refs in a POST (ls-refs); v1 reads them from the advertisement alone.
      assert.deepEqual(server.requests.map((r) => `${r.method} ${r.kind.phase} ${r.status}`),
        protocol === 2 ? ['GET advertisement 200', 'POST rpc 200'] : ['GET advertisement 200']);
    }
  });

  it('passes Git-Protocol to upload-pack and serves the repo config', async () => {
    const filtered = await createRepo({ parentDir: server.root, name: 'filtered', config: { 'uploadpack.allowFilter': true, 'uploadpack.allowReachableSHA1InWant': true } });
    await filtered.commit('main');
    const advertise = async (repo: string, protocol: string | null): Promise<string> => {
      const res = await fetch(`${server.url(repo)}/info/refs?service=git-upload-pack`, { headers: protocol === null ? {} : { 'Git-Protocol': protocol } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/x-git-upload-pack-advertisement');
      return res.text();
    };
    assert.match(await advertise('filtered', 'version=2'), /version 2\n[\s\S]*fetch=[^\n]*filter/);
    assert.doesNotMatch(await advertise('src', 'version=2'), /filter/);
    assert.match(await advertise('filtered', null), /allow-reachable-sha1-in-want/);
  });

  it('clones and pushes through git', async () => {
    const work = makeTempDir();
    await git(['clone', '--quiet', '--mirror', server.url('src'), join(work.path, 'm.git')]);
    assert.deepEqual(await (await openRepo(join(work.path, 'm.git'))).refs(), await src.refs());

    const target = await createRepo({ parentDir: server.root, name: 'pushed' });
    await git(['push', '--quiet', '--mirror', server.url('pushed')], { cwd: join(work.path, 'm.git') });
    assert.deepEqual(await target.refs(), await src.refs());
    await target.fsck();
    await work.remove();
  });

  it('takes a chunked push (body over http.postBuffer, no Content-Length)', async () => {
    const big = await createRepo();
    await big.commit('main', { files: { 'big.bin': pseudoRandomBytes(300 * 1024, 'chunked') } });
    const target = await createRepo({ parentDir: server.root, name: 'chunked' });
    server.clearLog();
    await git(['push', '--quiet', server.url('chunked'), 'main'], { cwd: big.path, config: { 'http.postBuffer': '1024' } });
    await server.idle();
    const upload = server.requests.find((r) => r.kind.service === 'git-receive-pack' && r.headers['transfer-encoding'] === 'chunked');
    assert.ok(upload, 'git sent a chunked receive-pack request');
    assert.equal(upload.headers['content-length'], undefined);
    assert.equal(upload.status, 200);
    assert.ok(upload.requestBytes > 300 * 1024, `request body ${upload.requestBytes} bytes`);
    assert.deepEqual(await target.refs(), await big.refs());
    await target.fsck();
  });

  it('accepts a gzip-encoded, chunked upload-pack request (v2 ls-refs)', async () => {
    const body = gzipSync('0014command=ls-refs\n0000');
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${server.url('src')}/git-upload-pack`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-git-upload-pack-request', 'Content-Encoding': 'gzip', 'Git-Protocol': 'version=2' },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      // Two writes and no Content-Length: node sends the body chunked.
      req.write(body.subarray(0, 5));
      req.end(body.subarray(5));
    });
    assert.equal(status, 200);
    assert.match(text, new RegExp(`${(await src.refs()).get('refs/heads/main')} refs/heads/main\n`));
    assert.ok(text.endsWith('0000'));
  });

  it('logs requests with byte counts and CGI exits', async () => {
    server.clearLog();
    await lsRemote(server.url('src'), { protocol: 2 });
    await assert.rejects(lsRemote(server.url('missing')), GitCommandError);
    await server.idle();
    const [adv, lsRefs, missing] = server.requests;
    assert.ok(adv && lsRefs && missing);
    assert.equal(adv.responseBytes > 0 && adv.requestBytes === 0, true);
    assert.equal(lsRefs.requestBytes, Number(lsRefs.headers['content-length']));
    assert.ok(lsRefs.responseBytes > 0);
    assert.deepEqual(lsRefs.cgiExit, { code: 0, signal: null });
    assert.deepEqual([missing.status, missing.handledBy, missing.outcome, missing.done], [404, 'git', 'completed', true]);
  });
});

describe('basic auth', () => {
  let server: GitHttpServer;
  const credentials = { username: 'alice', password: 's3cret' };

  before(async () => {
    server = await startGitHttpServer({ basicAuth: credentials });
    const repo = await createRepo({ parentDir: server.root, name: 'private' });
    await repo.commit('main');
  });
  after(() => server.close());

  it('rejects a client without credentials with 401 and a Basic challenge', async () => {
    await assert.rejects(lsRemote(server.url('private')), /Authentication failed|could not read Username/);
    const res = await fetch(`${server.url('private')}/info/refs?service=git-upload-pack`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="git"');
    await server.idle();
    assert.ok(server.requests.every((r) => r.status === 401 && r.handledBy === 'auth'));
  });

  it('rejects wrong credentials and accepts the right ones, pushes included', async () => {
    await assert.rejects(lsRemote(server.url('private', { ...credentials, password: 'wrong' })), GitCommandError);
    const remote = await lsRemote(server.url('private', credentials));
    assert.equal(remote.refs.size, 1);
    const local = await createRepo();
    await local.commit('topic');
    await git(['push', '--quiet', server.url('private', credentials), 'topic'], { cwd: local.path });
    const after = await lsRemote(server.url('private', credentials));
    assert.equal(after.refs.get('refs/heads/topic'), await local.revParse('topic'));
    await server.idle();
    assert.ok(server.requests.some((r) => r.user === 'alice' && r.kind.service === 'git-receive-pack' && r.kind.phase === 'rpc'));
  });
});

describe('request body limit', () => {
  const limit = 128 * 1024;
  let server: GitHttpServer;
  let target: FixtureRepo;
  let big: FixtureRepo;

  before(async () => {
    server = await startGitHttpServer({ maxRequestBytes: limit });
    target = await createRepo({ parentDir: server.root, name: 'limited' });
    await target.commit('main', { files: { 'a.txt': 'a\n' } });
    big = await cloneRepo(target, { name: 'big' });
    await big.commit('main', { files: { 'big.bin': pseudoRandomBytes(1024 * 1024, 'limit') } });
  });
  after(() => server.close());

  async function assertPushRejected(config: Record<string, string>, expectChunked: boolean): Promise<void> {
    const before = await target.refs();
    server.clearLog();
    const pushed = await runGit(['push', server.url('limited'), 'main'], { cwd: big.path, config, okExitCodes: [1, 128] });
    assert.notEqual(pushed.exitCode, 0);
    assert.match(pushed.stderr, /413/);
    await server.idle();
    const rejected = server.requests.find((r) => r.status === 413);
    assert.ok(rejected, 'a request was answered 413');
    assert.equal(rejected.outcome, 'limit-exceeded');
    assert.equal(rejected.headers['transfer-encoding'] === 'chunked', expectChunked);
    // Untouched: same refs, no quarantine or temporary pack left behind, still consistent.
    assert.deepEqual(await target.refs(), before);
    const leftovers = [...await readdir(join(target.path, 'objects')), ...await readdir(join(target.path, 'objects', 'pack'))]
      .filter((name) => name.startsWith('incoming-') || name.startsWith('tmp_'));
    assert.deepEqual(leftovers, []);
    await target.fsck();
  }

  it('rejects a streamed (chunked) push mid-body and leaves the target untouched', async () => {
    await assertPushRejected({ 'http.postBuffer': '1024' }, true);
    const rejected = server.requests.find((r) => r.status === 413)!;
    assert.notEqual(rejected.cgiExit, null);
  });

  it('rejects a push whose Content-Length is over the limit before running git', async () => {
    await assertPushRejected({ 'http.postBuffer': String(16 * 1024 * 1024) }, false);
    assert.equal(server.requests.find((r) => r.status === 413)!.cgiExit, null);
  });

  it('answers 413 as soon as the limit is passed, before the body ends', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url('limited')}/git-receive-pack`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-git-receive-pack-request', 'Transfer-Encoding': 'chunked' },
      });
      req.on('response', (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write(Buffer.alloc(limit + 1));
      // The body is never ended: the 413 must not wait for it.
    });
    assert.equal(status, 413);
    await server.idle();
  });

  it('lets pushes under the limit through', async () => {
    const small = await cloneRepo(target, { name: 'small' });
    await small.commit('main', { files: { 'b.txt': 'b\n' } });
    await git(['push', '--quiet', server.url('limited'), 'main'], { cwd: small.path });
    assert.equal((await target.refs()).get('refs/heads/main'), await small.revParse('main'));
  });
});

describe('fault injection and robustness', () => {
  it('answers with an injected status once, then serves normally', async () => {
    const server = await startGitHttpServer({ onRequest: when(isAdvertisement('git-upload-pack'), once(respond(503, 'try later\n'))) });
    try {
      await (await createRepo({ parentDir: server.root, name: 'r' })).commit('main');
      await assert.rejects(lsRemote(server.url('r')), /503/);
      assert.equal((await lsRemote(server.url('r'))).refs.size, 1);
      await server.idle();
      assert.deepEqual(server.requests.map((r) => [r.status, r.handledBy]), [[503, 'middleware'], [200, 'git'], [200, 'git']]);
    } finally {
      await server.close();
    }
  });

  it('hangs up without answering', async () => {
    const server = await startGitHttpServer({ onRequest: when(isRpc('git-upload-pack'), hangUp()) });
    try {
      await (await createRepo({ parentDir: server.root, name: 'r' })).commit('main');
      await assert.rejects(lsRemote(server.url('r'), { protocol: 2 }), /Empty reply from server|unexpected disconnect|RPC failed/);
      await server.idle();
      // curl retries a request whose reused connection died without a reply, so maybe twice.
      const [advertisement, ...rpcs] = server.requests.map((r) => `${r.kind.phase} ${r.status} ${r.outcome} ${r.handledBy}`);
      assert.equal(advertisement, 'advertisement 200 completed git');
      assert.ok(rpcs.length >= 1 && rpcs.every((r) => r === 'rpc 0 client-aborted middleware'), rpcs.join(', '));
    } finally {
      await server.close();
    }
  });

  it('delays requests and cuts responses mid-body', async () => {
    const server = await startGitHttpServer({ onRequest: [delay(50), when(isRpc('git-upload-pack'), truncateResponse(2000))] });
    try {
      const repo = await createRepo({ parentDir: server.root, name: 'r' });
      await repo.commit('main', { files: { 'big.bin': pseudoRandomBytes(256 * 1024, 'cut') } });
      const work = makeTempDir();
      await assert.rejects(git(['clone', '--quiet', server.url('r'), join(work.path, 'c')]), GitCommandError);
      await server.idle();
      // v2: ls-refs (small, whole), then fetch, cut after 2000 bytes of pack.
      const [lsRefs, fetchPack] = server.requests.filter((r) => r.kind.phase === 'rpc');
      assert.equal(lsRefs?.outcome, 'completed');
      assert.equal(fetchPack?.outcome, 'destroyed');
      assert.equal(fetchPack.responseBytes, 2000);
      assert.ok(server.requests.every((r) => r.durationMs >= 45));
      await work.remove();
    } finally {
      await server.close();
    }
  });

  it('answers a body git does not read (unknown repo) without hanging, and refuses pushes when read-only', async () => {
    const server = await startGitHttpServer({ receivePack: false });
    try {
      const repo = await createRepo({ parentDir: server.root, name: 'ro' });
      await repo.commit('main');
      const res = await fetch(`${server.url('missing')}/git-receive-pack`, {
        method: 'POST', headers: { 'Content-Type': 'application/x-git-receive-pack-request' }, body: pseudoRandomBytes(1024 * 1024, 'unread'),
      });
      assert.equal(res.status, 404);
      await res.arrayBuffer();
      const local = await cloneRepo(repo);
      await local.commit('main');
      await assert.rejects(git(['push', server.url('ro'), 'main'], { cwd: local.path }), /403/);
      await server.idle();
    } finally {
      await server.close();
    }
  });

  it('reaps the CGI when the client aborts mid-upload, and close() ends in-flight requests', async () => {
    const server = await startGitHttpServer();
    await createRepo({ parentDir: server.root, name: 'r' });
    const req = request(`${server.url('r')}/git-receive-pack`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-git-receive-pack-request', 'Transfer-Encoding': 'chunked' },
    });
    req.on('error', () => undefined);
    req.write('00a00000000000000000000000000000000000000000 ');
    await new Promise((resolve) => setTimeout(resolve, 100));
    req.destroy();
    await server.idle();
    const [aborted] = server.requests;
    assert.equal(aborted?.outcome, 'client-aborted');
    assert.notEqual(aborted.cgiExit, null);

    // A request still in flight when the server closes is cut and its CGI reaped.
    const hanging = request(`${server.url('r')}/git-receive-pack`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } });
    hanging.on('error', () => undefined);
    hanging.write('0000');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.close();
    assert.ok(server.requests.every((r) => r.done && r.cgiExit !== null));
  });
});

describe('git helpers', () => {
  it('isolate git from the user config and report failures with stderr', async () => {
    assert.equal(await git(['config', '--list', '--show-scope'], { cwd: makeTempDir().path }), '');
    assert.equal(await git(['config', '--get', 'http.postBuffer'], { config: { 'http.postBuffer': '1024' } }), '1024');
    assert.equal(await git(['var', 'GIT_COMMITTER_IDENT']), 'Fixture Committer <committer@example.com> 1700000000 +0000');
    const error = await git(['rev-parse', '--verify', 'nope'], { cwd: makeTempDir().path }).catch((e: unknown) => e);
    assert.ok(error instanceof GitCommandError);
    assert.match(error.message, /not a git repository/);
    assert.equal(error.exitCode, 128);
  });

  it('fsck reports a broken repository', async () => {
    const repo = await createRepo();
    const tip = await repo.commit('main');
    const blob = await repo.git(['rev-parse', `${tip}:main.txt`]);
    await rm(join(repo.path, 'objects', blob.slice(0, 2), blob.slice(2)));
    await assert.rejects(fsck(repo.path), GitCommandError);
  });
});
