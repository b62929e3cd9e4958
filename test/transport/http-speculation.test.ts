/**
 * One round trip for a listing (docs/architecture.md): over smart HTTP a v2 source's `ls-refs` is
 * sent alongside `GET info/refs`, and its answer used only when the request built from the real
 * advertisement is the same; otherwise it is dropped and the real one sent. Against git
 * http-backend on loopback; Speculation itself (transport/speculation.ts) on its own.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { UploadPackSession } from '../../src/protocol/upload-pack-session.js';
import { HttpTransport } from '../../src/transport/http.js';
import { Speculation } from '../../src/transport/speculation.js';
import { PktLineReader } from '../../src/wire/pktline.js';
import { createRepo } from '../helpers/fixtures.js';
import { lsRemote } from '../helpers/git.js';
import { waitUntilEmpty } from '../helpers/processes.js';
import { isAdvertisement, isRpc, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer, type Middleware } from '../helpers/http-server.js';
import { sampleRepo } from '../helpers/sample-repo.js';

function calls(server: GitHttpServer, repo = 'source'): string[] {
  return server.requests.filter((entry) => entry.kind.repo === `${repo}.git`).map((entry) => `${entry.method} ${entry.kind.phase} ${entry.status}`);
}

async function listing(url: string, protocol: 'auto' | 'v2' = 'auto', signal?: AbortSignal): Promise<UploadPackSession> {
  const transport = new HttpTransport(new URL(url), { side: 'source' });
  try {
    return await UploadPackSession.open(transport, { protocol, refPrefixes: ['refs/heads/', 'refs/tags/'], signal });
  } finally {
    await transport.close();
  }
}

/** What a session listed, as `git ls-remote` of the same prefixes shows it (helpers/git.ts). */
function listed(session: UploadPackSession): { refs: Map<string, string>; peeled: Map<string, string> } {
  const refs = new Map<string, string>();
  const peeled = new Map<string, string>();
  for (const ref of session.discovery.refs) {
    // HEAD is asked for too, and a v1 advertisement holds every ref.
    if (!ref.name.startsWith('refs/heads/') && !ref.name.startsWith('refs/tags/')) continue;
    refs.set(ref.name, ref.hash);
    if (ref.peeled !== null) peeled.set(ref.name, ref.peeled);
  }
  return { refs, peeled };
}

async function gitListing(path: string): Promise<{ refs: Map<string, string>; peeled: Map<string, string> }> {
  const { refs, peeled } = await lsRemote(path, { patterns: ['refs/heads/*', 'refs/tags/*'] });
  return { refs, peeled };
}

describe('HTTP: the ls-refs sent alongside the advertisement', { timeout: 120_000 }, () => {
  let open: GitHttpServer;
  let held: GitHttpServer;
  let noUnborn: GitHttpServer;
  let v0Only: GitHttpServer;
  let expected: { refs: Map<string, string>; peeled: Map<string, string> };
  /** Per held GET: true when a POST came while it waited, false when the fallback let it go. */
  const releases: boolean[] = [];

  before(async () => {
    open = await startGitHttpServer();
    await sampleRepo(open.root);
    await createRepo({ parentDir: open.root, name: 'sha256', objectFormat: 'sha256' }).then((repo) => repo.commit('main', { files: { 'a.txt': 'a\n' } }));
    const root = open.root;
    // The advertisement is answered only once the ls-refs has arrived (or after 10 s, so a
    // client that waits for the advertisement first is slow and seen to be, never stuck).
    let postArrived: () => void = () => undefined;
    let arrival = new Promise<void>((resolve) => (postArrived = resolve));
    const holdGet: Middleware = (_req, _res, next) => {
      const fallback = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000).unref());
      void Promise.race([arrival.then(() => true), fallback]).then((byPost) => {
        releases.push(byPost);
        arrival = new Promise<void>((resolve) => (postArrived = resolve));
        next();
      });
    };
    const notePost: Middleware = (_req, _res, next) => {
      postArrived();
      next();
    };
    held = await startGitHttpServer({ root, onRequest: [when(isAdvertisement('git-upload-pack'), holdGet), when(isRpc('git-upload-pack'), notePost)] });
    noUnborn = await startGitHttpServer({ root, config: { 'lsrefs.unborn': 'ignore' } });
    // A server that never hears Git-Protocol: it can only answer v0.
    v0Only = await startGitHttpServer({
      root,
      onRequest: (req, _res, next) => {
        delete req.headers['git-protocol'];
        next();
      },
    });
    expected = await gitListing(`${root}/source.git`);
  });
  after(async () => {
    await Promise.all([open, held, noUnborn, v0Only].map((server) => server?.close()));
  });

  it('sends it before the advertisement is answered, and uses its answer: one GET, one POST', async () => {
    held.clearLog();
    releases.length = 0;
    const session = await listing(held.url('source'));
    await held.idle();
    assert.deepEqual(releases, [true], 'the ls-refs reached the server while its advertisement was held');
    assert.deepEqual(calls(held).sort(), ['GET advertisement 200', 'POST rpc 200']);
    assert.equal(session.discovery.protocol, 'v2');
    assert.equal(session.discovery.head, 'refs/heads/main');
    assert.deepEqual(listed(session), expected);
  });

  it('drops the guess where the real request differs (no ls-refs unborn; a SHA-256 repository) and sends that one', async () => {
    for (const [server, repo] of [
      [noUnborn, 'source'],
      [open, 'sha256'],
    ] as const) {
      server.clearLog();
      const session = await listing(server.url(repo), 'v2');
      await server.idle();
      assert.equal(session.discovery.protocol, 'v2');
      assert.deepEqual(listed(session), await gitListing(`${server.root}/${repo}.git`), repo);
      const posts = calls(server, repo).filter((call) => call.startsWith('POST'));
      assert.equal(posts.length, 2, `${repo}: the guess and the real request (${calls(server, repo).join(', ')})`);
      assert.ok(posts.includes('POST rpc 200'), repo);
    }
    assert.equal((await lsRemote(`${open.root}/sha256.git`)).refs.get('refs/heads/main')?.length, 64);
  });

  it('remembers what a repository answered: the next listing guesses from it (one POST without unborn, none to a v0 server)', async () => {
    for (const [server, repo, posts] of [
      [noUnborn, 'source', ['POST rpc 200']],
      [open, 'sha256', ['POST rpc 200']],
      [v0Only, 'source', []],
    ] as const) {
      await listing(server.url(repo));
      await server.idle();
      server.clearLog();
      const again = await listing(server.url(repo));
      await server.idle();
      assert.deepEqual(listed(again), await gitListing(`${server.root}/${repo}.git`), repo);
      assert.deepEqual(calls(server, repo).sort(), ['GET advertisement 200', ...posts], repo);
    }
  });

  it("lets go of the caller's signal: a long-lived one (a fleet's) gathers no listener, however many listings", async () => {
    const fleet = new AbortController();
    for (const [server, repo] of [
      [open, 'source'],
      [noUnborn, 'source'],
      [v0Only, 'source'],
      [open, 'sha256'],
    ] as const) {
      for (let i = 0; i < 4; i++) await listing(server.url(repo), 'auto', fleet.signal);
    }
    await Promise.all([open, noUnborn, v0Only].map((server) => server.idle()));
    // An exchange lets go of the signal when its request closes, a moment after its last byte.
    const left = await waitUntilEmpty(async () => getEventListeners(fleet.signal, 'abort'), 5_000);
    assert.equal(left.length, 0);
  });

  it('drops the guess when the server answers protocol v0 (protocol auto), and lists from the advertisement', async () => {
    v0Only.clearLog();
    const session = await listing(v0Only.url('source'));
    await v0Only.idle();
    assert.equal(session.discovery.protocol, 'v1');
    assert.equal(session.discovery.head, 'refs/heads/main');
    assert.deepEqual(listed(session), expected);
    assert.deepEqual(calls(v0Only).filter((call) => call.startsWith('GET')), ['GET advertisement 200']);
  });
});

describe('Speculation', () => {
  const reader = (): PktLineReader => new PktLineReader((async function* () {})());

  it('take gives the answer once; a second take, or a take after drop, gives null (send the request)', async () => {
    const answer = reader();
    const taken = new Speculation(async () => answer, undefined);
    assert.equal(await taken.take(), answer);
    assert.equal(await taken.take(), null);
    const dropped = new Speculation(async () => reader(), undefined);
    dropped.drop();
    assert.equal(await dropped.take(), null);
  });

  it('holds an error until taken (no unhandled rejection), then gives it as the request would', async () => {
    const failing = new Speculation(async () => {
      throw new Error('refused');
    }, undefined);
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(failing.take(), /refused/);
  });

  it('drop aborts a request still under way and closes an answer that came', async () => {
    let signalSeen: AbortSignal | undefined;
    const pending = new Speculation(
      (signal) =>
        new Promise((_resolve, reject) => {
          signalSeen = signal;
          signal.addEventListener('abort', () => reject(new Error('aborted')));
        }),
      undefined,
    );
    pending.drop();
    assert.equal(signalSeen?.aborted, true);

    let closed = false;
    const answered = new PktLineReader(
      (async function* () {
        try {
          yield Buffer.from('0000');
        } finally {
          closed = true;
        }
      })(),
    );
    await answered.read();
    const came = new Speculation(async () => answered, undefined);
    await new Promise((resolve) => setImmediate(resolve));
    came.drop();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closed, true);
  });

  it("stops following the caller's signal once dropped, taken or not", async () => {
    const caller = new AbortController();
    const taken = new Speculation(async () => reader(), caller.signal);
    const dropped = new Speculation(async () => reader(), caller.signal);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 2);
    await taken.take();
    taken.drop();
    dropped.drop();
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it("follows the caller's signal", async () => {
    const caller = new AbortController();
    let signalSeen: AbortSignal | undefined;
    const speculation = new Speculation(async (signal) => {
      signalSeen = signal;
      return null;
    }, caller.signal);
    caller.abort(new Error('stop'));
    assert.equal(signalSeen?.aborted, true);
    assert.equal(await speculation.take(), null);
  });
});
