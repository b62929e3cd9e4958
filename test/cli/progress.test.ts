/** The progress display's pure parts: folding events, formatting, endpoint labels; and its two views. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { colorWanted, startProgress, type ProgressTerminal } from '../../src/cli/progress.js';
import { ProgressState, endpointLabel, formatBytes, formatDuration } from '../../src/cli/progress-state.js';
import type { ProgressEvent } from '../../src/observe/progress.js';

const MIB = 1024 * 1024;

function transfer(side: 'source' | 'target', bytes: number, elapsedMillis: number, final = false): ProgressEvent {
  return side === 'source'
    ? { kind: 'transfer', side, bytesSent: 100, bytesReceived: bytes, elapsedMillis, final }
    : { kind: 'transfer', side, bytesSent: bytes, bytesReceived: 50, elapsedMillis, final };
}

describe('progress display', () => {
  it('formats sizes, durations and endpoint labels without credentials', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(12.5 * MIB), '12.5 MiB');
    assert.equal(formatBytes(3 * 1024 * MIB), '3.00 GiB');
    assert.equal(formatDuration(7_400), '0:07');
    assert.equal(formatDuration(754_000), '12:34');
    assert.equal(formatDuration(3_723_000), '1:02:03');
    assert.equal(endpointLabel('https://user:secret@github.com/org/repo.git'), 'github.com');
    assert.equal(endpointLabel('http://127.0.0.1:8080/a.git'), '127.0.0.1:8080');
    assert.equal(endpointLabel('git@gitlab.com:org/repo.git'), 'gitlab.com');
    assert.equal(endpointLabel('ssh://git@host:2222/srv/repo.git'), 'host:2222');
    assert.equal(endpointLabel('./backup.git'), 'backup.git');
    assert.equal(endpointLabel('file:///srv/git/mirror.git'), 'mirror.git');
  });

  it('shows per-side bytes at the recent rate, the phase with push request or batch i/N, and a summary', () => {
    const state = new ProgressState({ source: 'github.com', target: 'mirror.example.com' });
    state.apply({ kind: 'phase', phase: 'push', step: { unit: 'batch', index: 2, total: 5 } });
    state.apply({ kind: 'phase', phase: 'push', step: { unit: 'request', index: 1, total: 3 } });
    state.apply(transfer('source', 0, 0));
    state.apply(transfer('source', 4 * MIB, 1000));
    state.apply(transfer('target', 2 * MIB, 1000));
    state.apply(transfer('source', 8 * MIB, 2000));
    state.apply(transfer('target', 6 * MIB, 2000));
    assert.equal(state.rate('source'), 4 * MIB);
    assert.equal(
      state.statusLine(65_000),
      'github.com → 8.0 MiB @ 4.0 MiB/s · 6.0 MiB @ 4.0 MiB/s → mirror.example.com · pushing batch 2/5 request 1/3 · 1:05',
    );
    // A new batch starts its requests afresh; another phase drops the batch.
    state.apply({ kind: 'phase', phase: 'push', step: { unit: 'batch', index: 3, total: null } });
    assert.match(state.statusLine(0), / · pushing batch 3\/\? · /);
    state.apply({ kind: 'phase', phase: 'discover', step: null });
    assert.match(state.statusLine(0), / · listing refs · 0:00$/);

    state.apply(transfer('source', 10 * MIB, 4000, true));
    state.apply(transfer('target', 10 * MIB, 4000, true));
    assert.equal(state.summaryLine(4200, false), 'done in 0:04: github.com → 10.0 MiB @ 2.5 MiB/s avg · 10.0 MiB @ 2.5 MiB/s avg → mirror.example.com');
    assert.match(state.summaryLine(4200, true), /^failed after 0:04: /);
  });

  it('keeps the latest server line per side; a fetch has no target end', () => {
    const state = new ProgressState({ source: 'host', target: null });
    state.apply({ kind: 'server', side: 'source', message: 'Counting objects:  50% (1/2)', transient: true });
    state.apply({ kind: 'server', side: 'source', message: 'Counting objects: 100% (2/2), done.', transient: false });
    assert.deepEqual(state.serverLines(), [{ side: 'source', message: 'Counting objects: 100% (2/2), done.' }]);
    state.apply({ kind: 'phase', phase: 'fetch', step: null });
    assert.equal(state.statusLine(1000), 'host → 0 B @ 0 B/s · fetching · 0:01');
  });

  it('colour follows NO_COLOR and TERM=dumb', () => {
    assert.equal(colorWanted({}), true);
    assert.equal(colorWanted({ NO_COLOR: '1' }), false);
    assert.equal(colorWanted({ NO_COLOR: '' }), true);
    assert.equal(colorWanted({ TERM: 'dumb' }), false);
  });

  it('off a terminal: nothing without -v; with -v, finished lines only, then the summary with --progress', async () => {
    const labels = { source: 'src', target: 'dst' };
    assert.equal(await startProgress({ progress: true, verbose: false, terminal: null, stderr: () => undefined, env: {}, labels }), null);
    let text = '';
    const view = await startProgress({ progress: true, verbose: true, terminal: null, stderr: (t) => (text += t), env: {}, labels });
    assert.ok(view);
    view.listener({ kind: 'decision', message: 'relay: bootstrap (empty-target-managed-refs)' });
    view.listener({ kind: 'server', side: 'source', message: 'Compressing objects:  50% (1/2)', transient: true });
    view.listener({ kind: 'server', side: 'target', message: 'Resolving deltas: 100% (2/2), done.', transient: false });
    view.listener(transfer('source', 1024, 500, true));
    view.finish(false);
    const lines = text.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['git-sync: relay: bootstrap (empty-target-managed-refs)', 'target: Resolving deltas: 100% (2/2), done.']);
    assert.match(lines[2], /^git-sync: done in 0:00: src → 1.0 KiB @ 2.0 KiB\/s avg$/);
    assert.equal(lines.length, 3);
  });

  it('on a terminal: a live block redrawn in place, -v lines above it, the summary in its place at the end', async () => {
    let screen = '';
    const terminal: ProgressTerminal = { write: (t) => (screen += t), columns: 120, rows: 30 };
    const view = await startProgress({ progress: true, verbose: true, terminal, stderr: () => assert.fail('a terminal gets no plain lines'), env: { NO_COLOR: '1' }, labels: { source: 'src', target: 'dst' } });
    assert.ok(view);
    view.listener({ kind: 'phase', phase: 'push', step: null });
    view.listener(transfer('source', 2048, 100));
    await new Promise((resolve) => setTimeout(resolve, 250));
    view.listener({ kind: 'decision', message: 'push: 1 ref command(s)' });
    view.listener(transfer('source', 4096, 300, true));
    view.finish(false);
    assert.match(screen, /src → 2.0 KiB @ [\d.]+ \w+\/s · 0 B @ 0 B\/s → dst · pushing · 0:00/);
    assert.match(screen, /git-sync: push: 1 ref command\(s\)\n/);
    assert.match(screen, /\x1b\[2K/, 'frames are erased, not appended');
    assert.match(screen, /git-sync: done in 0:00: src → 4.0 KiB @ [\d.]+ \w+\/s avg\n$/);
    assert.doesNotMatch(screen, /\x1b\[3\dm/, 'NO_COLOR');
  });
});
