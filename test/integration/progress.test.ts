/**
 * The library tells its caller what it is doing through `onProgress` and never prints: phases,
 * decisions, the servers' own progress lines, and byte counts per side that end with final
 * totals equal to the transports' own counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetch } from '../../src/api/fetch.js';
import { sync } from '../../src/api/sync.js';
import type { ProgressEvent, TransferEvent } from '../../src/observe/progress.js';
import { createRepo, pseudoRandomBytes } from '../helpers/fixtures.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';

describe('progress events (library)', () => {
  let server: GitHttpServer;

  before(async () => {
    server = await startGitHttpServer();
    const source = await createRepo({ parentDir: server.root, name: 'source' });
    await source.commit('main', { files: { 'big.bin': pseudoRandomBytes(2 * 1024 * 1024, 'progress') } });
    await source.commit('dev', { parents: ['main'], files: { 'dev.txt': 'dev\n' } });
    await createRepo({ parentDir: server.root, name: 'target' });
  });
  after(async () => server.close());

  it('a sync reports phases, decisions, server lines and per-side bytes with final totals', async () => {
    const events: ProgressEvent[] = [];
    const result = await sync({
      source: { url: server.url('source') },
      target: { url: server.url('target') },
      stats: true,
      targetMaxRefUpdates: 1,
      progressIntervalMillis: 5,
      onProgress: (event) => events.push(event),
    });
    assert.equal(result.pushed, 2);

    const phases = events.flatMap((e) => (e.kind === 'phase' ? [`${e.phase}${e.step ? ` ${e.step.unit} ${e.step.index}/${e.step.total}` : ''}`] : []));
    assert.deepEqual(phases, ['discover', 'push request 1/2', 'push request 2/2']);

    const decisions = events.flatMap((e) => (e.kind === 'decision' ? [e.message] : []));
    assert.ok(decisions.includes('relay: bootstrap (empty-target-managed-refs)'), decisions.join('\n'));
    assert.ok(decisions.includes('plan: 2 ref(s): 2 create'), decisions.join('\n'));
    assert.ok(decisions.some((m) => m.startsWith('push: 2 ref commands in 2 requests of at most 1')));

    const lines = events.filter((e) => e.kind === 'server');
    assert.ok(lines.some((e) => e.side === 'source' && !e.transient && /^Total \d+/.test(e.message)), 'the source server says what it sent');

    const transfers = events.filter((e): e is TransferEvent => e.kind === 'transfer');
    for (const side of ['source', 'target'] as const) {
      const mine = transfers.filter((e) => e.side === side);
      const last = mine[mine.length - 1];
      assert.equal(last.final, true, `${side} ends with its final totals`);
      assert.equal(mine.filter((e) => e.final).length, 1);
      assert.equal(last.bytesSent, result.stats![side].bytesSent);
      assert.equal(last.bytesReceived, result.stats![side].bytesReceived);
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i].bytesSent + mine[i].bytesReceived >= mine[i - 1].bytesSent + mine[i - 1].bytesReceived);
    }
    assert.ok(transfers.filter((e) => e.side === 'source').at(-1)!.bytesReceived > 2 * 1024 * 1024);
  });

  it('a fetch reports its phases and final bytes; stats stay out of the result unless asked for', async () => {
    const events: ProgressEvent[] = [];
    const listened = await fetch({ source: { url: server.url('source') }, onProgress: (event) => events.push(event) });
    assert.equal(listened.stats, null);
    assert.deepEqual(
      events.filter((e) => e.kind === 'phase').map((e) => e.kind === 'phase' && e.phase),
      ['discover', 'fetch'],
    );
    assert.ok(events.some((e) => e.kind === 'transfer' && e.final && e.side === 'source' && e.bytesReceived >= listened.packBytes));
  });
});
