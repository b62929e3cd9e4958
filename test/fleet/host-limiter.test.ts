/** The fleet's caps (docs/fleet.md, "Concurrency"): runs in all, and runs touching one host. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostLimiter, hostOf } from '../../src/fleet/host-limiter.js';

/** A task that ends when told to, recording the limiter's counts while it runs. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('HostLimiter', () => {
  it('names the host of URLs and scp-like addresses, none for local paths', () => {
    assert.equal(hostOf('https://GitHub.com/o/r.git'), 'github.com');
    assert.equal(hostOf('http://127.0.0.1:8080/r.git'), '127.0.0.1:8080');
    assert.equal(hostOf('ssh://git@host.example:2222/r.git'), 'host.example:2222');
    assert.equal(hostOf('git@github.com:o/r.git'), 'github.com');
    assert.equal(hostOf('git://127.0.0.1:9418/r.git'), '127.0.0.1:9418');
    assert.equal(hostOf('/srv/git/r.git'), null);
    assert.equal(hostOf('./backup/r.git'), null);
    assert.equal(hostOf('file:///srv/r.git'), null);
  });

  it('never lets more than perHost runs touch one host, nor more than global in all', async () => {
    const limiter = new HostLimiter({ global: 3, perHost: 2 });
    const gates = new Map<string, ReturnType<typeof gate>>();
    const started: string[] = [];
    let peakA = 0;
    let peakAll = 0;
    const task = (name: string, locations: string[]): Promise<void> =>
      limiter.run(locations, async () => {
        started.push(name);
        peakA = Math.max(peakA, limiter.active.perHost.get('a.example') ?? 0);
        peakAll = Math.max(peakAll, limiter.active.global);
        const g = gate();
        gates.set(name, g);
        await g.promise;
      });
    const all = [
      task('a1', ['https://a.example/1.git', '/local/1.git']),
      task('a2', ['https://a.example/2.git', '/local/2.git']),
      task('a3', ['https://a.example/3.git', '/local/3.git']),
      task('b1', ['https://b.example/1.git', '/local/4.git']),
      task('b2', ['https://b.example/2.git', '/local/5.git']),
    ];
    await tick();
    // a3 waits for a.example; b1 goes ahead of it; b2 waits for the global cap.
    assert.deepEqual(started, ['a1', 'a2', 'b1']);
    gates.get('a1')!.open();
    await tick();
    await tick();
    assert.deepEqual(started, ['a1', 'a2', 'b1', 'a3']);
    gates.get('b1')!.open();
    await tick();
    await tick();
    assert.deepEqual(started, ['a1', 'a2', 'b1', 'a3', 'b2']);
    for (const name of ['a2', 'a3', 'b2']) gates.get(name)!.open();
    await Promise.all(all);
    assert.equal(peakA, 2);
    assert.equal(peakAll, 3);
    assert.equal(limiter.active.global, 0);
    assert.equal(limiter.active.perHost.size, 0);
  });

  it('counts a run once per host even when source and target share it', async () => {
    const limiter = new HostLimiter({ global: 10, perHost: 1 });
    let seen = 0;
    await limiter.run(['https://h.example/a.git', 'https://h.example/b.git'], async () => {
      seen = limiter.active.perHost.get('h.example')!;
    });
    assert.equal(seen, 1);
  });

  it('frees a slot when the task fails', async () => {
    const limiter = new HostLimiter({ global: 1, perHost: 1 });
    await assert.rejects(limiter.run(['https://h.example/a.git'], () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await limiter.run(['https://h.example/a.git'], () => Promise.resolve('next')), 'next');
  });

  it('lets a waiting run go when it is aborted, with ABORTED', async () => {
    const limiter = new HostLimiter({ global: 1, perHost: 1 });
    const holder = gate();
    const running = limiter.run(['/x'], () => holder.promise);
    const controller = new AbortController();
    const waiting = limiter.run(['/y'], () => Promise.resolve('never'), controller.signal);
    controller.abort();
    await assert.rejects(waiting, (error: Error & { code: string }) => error.code === 'ABORTED');
    holder.open();
    await running;
    assert.equal(limiter.active.global, 0);
  });
});
