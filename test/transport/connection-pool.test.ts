/**
 * Connections kept across runs (docs/architecture.md): a listing read up to its flush packet
 * still hands its connection back, runs sharing a ConnectionPool take the connections the last
 * one left, a kept connection its server closed while idle is replaced for requests that only
 * read and never for a push (a connection just used that fails is a fault, as without a pool:
 * staleConnection on its own, and the fault matrix), idle connections expire, and a connection made without TLS verification is
 * never given to a run that verifies. Against git http-backend on loopback, connections counted
 * by the server.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sync } from '../../src/api/sync.js';
import { GitSyncError } from '../../src/errors.js';
import { ConnectionPool } from '../../src/transport/connection-pool.js';
import { DEFAULT_HTTP_TIMEOUTS, HttpClient, STALE_MIN_IDLE_MILLIS, staleConnection } from '../../src/transport/http-client.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer, type Middleware } from '../helpers/http-server.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { selfSignedCert } from '../helpers/tls-cert.js';

/** The server's view of connections: how many it accepted, and which served a request already. */
class ConnectionLog {
  readonly sockets = new Map<Socket, number>();
  /** Reset (as a server closing an idle connection would) kept connections whose next request matches. */
  resetKept: ((req: Parameters<Middleware>[0]) => boolean) | null = null;
  resets = 0;
  /** Every request, in order of arrival (`METHOD url`), and whether it was reset. */
  readonly requests: { request: string; reset: boolean }[] = [];

  readonly middleware: Middleware = (req, _res, next) => {
    const socket = req.socket;
    const served = this.sockets.get(socket) ?? 0;
    this.sockets.set(socket, served + 1);
    const reset = served > 0 && this.resetKept?.(req) === true;
    this.requests.push({ request: `${req.method} ${req.url}`, reset });
    if (reset) {
      this.resets += 1;
      socket.resetAndDestroy();
      return;
    }
    next();
  };

  /** The requests from `from` on that came again after being reset. */
  sentAgain(from: number): string[] {
    const later = this.requests.slice(from);
    return later.filter((entry, i) => entry.reset && later.slice(i + 1).some((next) => next.request === entry.request)).map((entry) => entry.request);
  }

  get accepted(): number {
    return this.sockets.size;
  }
}

/** Polls until `done` (the pool's connections come back a moment after a run resolves). */
async function until(what: string, done: () => boolean): Promise<void> {
  const by = Date.now() + 10_000;
  while (!done()) {
    assert.ok(Date.now() < by, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('connections kept across runs (ConnectionPool)', { timeout: 120_000 }, () => {
  let server: GitHttpServer;
  let log: ConnectionLog;
  let source: FixtureRepo;

  before(async () => {
    log = new ConnectionLog();
    server = await startGitHttpServer({ onRequest: log.middleware });
    source = (await sampleRepo(server.root)).repo;
  });
  after(async () => {
    await server?.close();
  });

  async function freshTarget(name: string): Promise<string> {
    await createRepo({ parentDir: server.root, name });
    return server.url(name);
  }

  it('hands a listing read to its flush packet back to the pool: the next run opens no connection', async () => {
    const target = await freshTarget('noop-target');
    await sync({ source: { url: server.url('source') }, target: { url: target } });
    const pool = new ConnectionPool();
    // A no-op uses three connections at once: the source's info/refs and its ls-refs, sent
    // together, and the target's listing. Each comes back to the pool once its response has
    // ended, a moment after the run (the last HTTP chunk follows the git process's exit).
    const allBack = (): Promise<void> => until('the run has handed its three connections back', () => pool.idleConnections() >= 3);
    try {
      await sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool });
      await allBack();
      const before = log.accepted;
      for (let i = 0; i < 3; i++) {
        const result = await sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool });
        assert.equal(result.relayMode, 'none');
        await allBack();
      }
      assert.equal(log.accepted - before, 0, 'three runs on a warm pool open no new connection');
    } finally {
      pool.close();
    }
  });

  it('opens new connections for every run without a pool', async () => {
    const target = await freshTarget('own-target');
    await sync({ source: { url: server.url('source') }, target: { url: target } });
    const before = log.accepted;
    await sync({ source: { url: server.url('source') }, target: { url: target } });
    await sync({ source: { url: server.url('source') }, target: { url: target } });
    assert.ok(log.accepted - before >= 4, `two runs with their own connections opened ${log.accepted - before}`);
  });

  it('sends a read again on a new connection when a kept one was closed by its server, and the run succeeds', async () => {
    const target = await freshTarget('stale-target');
    const pool = new ConnectionPool();
    try {
      await sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool });
      await until('the connections are idle', () => pool.idleConnections() >= 2);
      await source.commit('main', { files: { 'stale.txt': 'after the first run\n' } });
      // Idle long enough to be taken for a server's keep-alive timer (a failure on a connection
      // just used is a fault of the server, met as any other request meets it).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // Every connection the first run left is reset as its next request arrives (a server
      // that closed them idle, the client not yet told): the GETs and upload-pack POSTs go again.
      const kept = new Set(log.sockets.keys());
      log.resetKept = (req) => kept.has(req.socket);
      const resetsBefore = log.resets;
      const from = log.requests.length;
      const result = await sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool, retries: 0 });
      assert.ok(log.resets - resetsBefore >= 1, 'a kept connection was reset under a request');
      assert.ok(log.sentAgain(from).length >= 1, 'the reset reads were sent again');
      assert.equal(result.pushed, 1);
      assert.deepEqual(await forEachRef(`${server.root}/stale-target.git`, ['refs/heads/']), await forEachRef(source.path, ['refs/heads/']));
    } finally {
      log.resetKept = null;
      pool.close();
    }
  });

  it('never sends a push again: a kept connection reset under the receive-pack POST fails the run, target unchanged', async () => {
    const target = await freshTarget('push-target');
    const pool = new ConnectionPool();
    try {
      await sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool });
      await source.commit('main', { files: { 'push.txt': 'not sent twice\n' } });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const before = await forEachRef(`${server.root}/push-target.git`);
      log.resetKept = (req) => req.method === 'POST' && (req.url ?? '').endsWith('/git-receive-pack');
      const resetsBefore = log.resets;
      const from = log.requests.length;
      await assert.rejects(
        sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool, retries: 0 }),
        (error: unknown) => error instanceof GitSyncError && error.code === 'NETWORK',
      );
      assert.equal(log.resets - resetsBefore, 1, 'the push went on a kept connection');
      assert.deepEqual(log.sentAgain(from), [], 'the push was not sent again');
      assert.deepEqual(await forEachRef(`${server.root}/push-target.git`), before);
    } finally {
      log.resetKept = null;
      pool.close();
    }
  });

  it('closes connections idle longer than idleMillis, and pools nothing once closed', async () => {
    const target = await freshTarget('idle-target');
    const pool = new ConnectionPool({ idleMillis: 200 });
    await sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool });
    await until('the run has handed its connections back', () => pool.idleConnections() > 0);
    await until('the idle connections have expired', () => pool.idleConnections() === 0);
    pool.close();
    // A run given a closed pool keeps connections of its own, and closes them itself.
    const result = await sync({ source: { url: server.url('source') }, target: { url: target }, connectionPool: pool });
    assert.equal(result.relayMode, 'none');
    assert.equal(pool.idleConnections(), 0);
    assert.throws(() => new ConnectionPool({ idleMillis: 0 }), RangeError);
  });
});

describe('staleConnection: which failures are a kept connection its server closed', () => {
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const kept = { reusedSocket: true };

  it('is a reset, a broken pipe or a hang-up on a kept connection idle long enough', () => {
    for (const code of ['ECONNRESET', 'EPIPE', 'ECONNABORTED']) {
      assert.equal(staleConnection(kept, STALE_MIN_IDLE_MILLIS, Object.assign(new Error(code), { code }), undefined), true, code);
    }
    assert.equal(staleConnection(kept, 60_000, reset, new AbortController().signal), true);
  });

  it('is not a failure on a connection just used (a fault of the server, as the fault matrix expects), nor on a new one', () => {
    assert.equal(staleConnection(kept, STALE_MIN_IDLE_MILLIS - 1, reset, undefined), false);
    assert.equal(staleConnection(kept, 5, reset, undefined), false);
    assert.equal(staleConnection({ reusedSocket: false }, 60_000, reset, undefined), false);
  });

  it('is not a timeout, a refusal or a caller that gave up', () => {
    assert.equal(staleConnection(kept, 60_000, Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), undefined), false);
    assert.equal(staleConnection(kept, 60_000, new Error('timed out'), undefined), false);
    const aborted = new AbortController();
    aborted.abort();
    assert.equal(staleConnection(kept, 60_000, reset, aborted.signal), false);
  });
});

describe('a run that leaves a response unfinished', { timeout: 30_000 }, () => {
  let server: GitHttpServer;
  let closed: Promise<void>;

  before(async () => {
    let socketClosed: () => void = () => undefined;
    closed = new Promise<void>((resolve) => (socketClosed = resolve));
    // An advertisement that never ends: one packet, then nothing.
    const endless: Middleware = (req, res) => {
      req.socket.once('close', () => socketClosed());
      res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
      res.write('001e# service=git-upload-pack\n');
    };
    server = await startGitHttpServer({ onRequest: endless });
  });
  after(async () => {
    await server?.close();
  });

  it('has it cut when the run closes, even on a shared pool, so no pooled connection stays taken', async () => {
    const pool = new ConnectionPool();
    const client = new HttpClient({ side: 'source', insecureSkipTlsVerify: false, proxyEnv: {}, timeouts: DEFAULT_HTTP_TIMEOUTS, observer: undefined, secrets: () => [], pool });
    try {
      const url = new URL(`${server.url('endless')}/info/refs?service=git-upload-pack`);
      const exchange = await client.exchange('GET', url, null, {}, 'source info-refs', undefined);
      const body = client.countedBody(exchange, 'source info-refs', url, null, undefined);
      assert.equal((await body.next()).done, false);
      // The reader goes away without finishing or returning the body, as a failed run may.
      await client.close();
      assert.equal(exchange.response.destroyed, true);
      await closed;
      assert.equal(pool.idleConnections(), 0);
    } finally {
      pool.close();
    }
  });
});

describe('connections kept across runs over HTTPS', { timeout: 60_000 }, () => {
  let server: GitHttpServer;

  before(async () => {
    const cert = selfSignedCert(['127.0.0.1']);
    server = await startGitHttpServer({ https: { key: cert.key, cert: cert.cert } });
    await sampleRepo(server.root);
    await createRepo({ parentDir: server.root, name: 'target' });
  });
  after(async () => {
    await server?.close();
  });

  it('never gives a connection made without verifying TLS to a run that verifies', async () => {
    const pool = new ConnectionPool();
    try {
      const insecure = { insecureSkipTlsVerify: true };
      const result = await sync({ source: { url: server.url('source'), ...insecure }, target: { url: server.url('target'), ...insecure }, connectionPool: pool });
      assert.equal(result.pushed > 0, true);
      await until('the insecure run has handed its connections back', () => pool.idleConnections() >= 2);
      // The same host, the same pool: the self-signed certificate is refused, as without a pool.
      await assert.rejects(
        sync({ source: { url: server.url('source') }, target: { url: server.url('target') }, connectionPool: pool, retries: 0 }),
        (error: unknown) => error instanceof GitSyncError && /certificate/i.test(error.message),
      );
    } finally {
      pool.close();
    }
  });
});
