/**
 * A caller's signal that outlives its runs (a fleet passes one shutdown signal to every run, for
 * days) keeps nothing of them: each run follows it through a signal of its own (src/abort.ts),
 * released when the run closes, with or without a deadline. Node 20's AbortSignal.any would
 * keep one signal per run on it.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { linkedAbort } from '../../src/abort.js';
import { plan, sync } from '../../src/index.js';
import { createRepo } from '../helpers/fixtures.js';
import { forEachRef } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo } from '../helpers/sample-repo.js';

/** The signals Node keeps on `signal` for AbortSignal.any (an internal symbol; 0 where Node has none). */
function dependants(signal: AbortSignal): number {
  const symbol = Object.getOwnPropertySymbols(signal).find((s) => s.toString() === 'Symbol(kDependantSignals)');
  const set = symbol === undefined ? undefined : (signal as unknown as Record<symbol, Set<unknown> | undefined>)[symbol];
  return set?.size ?? 0;
}

describe('a long-lived caller signal', { timeout: 120_000 }, () => {
  let server: GitHttpServer;
  before(async () => {
    server = await startGitHttpServer({ config: { 'uploadpack.allowFilter': 'true' } });
    await sampleRepo(server.root);
    await createRepo({ parentDir: server.root, name: 'mirror' });
  });
  after(() => server.close());

  it('keeps no listener and no dependent signal of the runs it was given to', async () => {
    const fleet = new AbortController();
    for (let i = 0; i < 6; i++) {
      const deadline = i % 2 === 0 ? { deadlineMillis: 60_000 } : {};
      const result = await sync({ source: { url: server.url('source') }, target: { url: server.url('mirror') }, tags: true, signal: fleet.signal, ...deadline });
      assert.equal(result.relayMode, i === 0 ? 'bootstrap' : 'none');
      await plan({ source: { url: server.url('source') }, target: { url: server.url('mirror') }, signal: fleet.signal, ...deadline });
    }
    await server.idle();
    assert.deepEqual(await forEachRef(`${server.root}/mirror.git`, ['refs/heads/', 'refs/tags/']), await forEachRef(`${server.root}/source.git`, ['refs/heads/', 'refs/tags/']));
    // A listener goes when its run closes: none is waited for.
    assert.equal(getEventListeners(fleet.signal, 'abort').length, 0, 'abort listeners left on the caller signal');
    assert.equal(dependants(fleet.signal), 0, 'signals kept on the caller signal');
  });

  it('linkedAbort follows its parent until released, then no more', () => {
    const parent = new AbortController();
    const first = linkedAbort(parent.signal);
    const second = linkedAbort(parent.signal);
    assert.equal(getEventListeners(parent.signal, 'abort').length, 2);
    second.release();
    second.release();
    assert.equal(getEventListeners(parent.signal, 'abort').length, 1);
    const reason = new Error('shutdown');
    parent.abort(reason);
    assert.equal(first.signal.reason, reason);
    assert.equal(second.signal.aborted, false);
    const own = linkedAbort(undefined);
    own.abort(reason);
    assert.equal(own.signal.reason, reason);
    assert.equal(linkedAbort(parent.signal).signal.reason, reason, 'a parent already aborted');
  });
});
