/**
 * The fleet state database (docs/fleet.md, "State"): runs recorded and read back, each mirror's
 * standing (last success, consecutive failures, failing since, next run, running now),
 * retention, forgetting mirrors, and runs a dead process left open.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { FleetState, type RunRecord } from '../../src/fleet/state.js';
import { makeTempDir } from '../helpers/git.js';

const dir = makeTempDir('gitsync-state-');
after(() => dir.remove());
let counter = 0;
const fresh = (): FleetState => FleetState.open(path.join(dir.path, `state-${++counter}.db`));

const at = (minute: number): Date => new Date(Date.UTC(2026, 0, 1, 0, minute));
function ended(minute: number, outcome: RunRecord['outcome'], extra: Partial<RunRecord> = {}): RunRecord {
  return {
    finishedAt: at(minute),
    outcome,
    reason: null,
    relayMode: outcome === 'success' ? 'incremental' : 'none',
    bytesFromSource: 100,
    bytesToTarget: 90,
    refsChanged: outcome === 'success' ? 2 : 0,
    errorCode: null,
    errorMessage: null,
    ...extra,
  };
}

describe('fleet state', () => {
  it('opens in WAL mode, creating the directory', () => {
    const file = path.join(dir.path, 'nested', 'dir', 'fleet.db');
    const state = FleetState.open(file);
    state.close();
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('records runs and reads them back, newest first', () => {
    const state = fresh();
    const first = state.startRun('a', at(0), 'once');
    state.finishRun(first, ended(1, 'success'));
    const second = state.startRun('a', at(10), 'schedule');
    state.finishRun(second, ended(11, 'noop'));
    const runs = state.recentRuns('a', 10);
    assert.deepEqual(
      runs.map((run) => [run.id, run.trigger, run.outcome, run.relayMode, run.bytesFromSource, run.bytesToTarget, run.refsChanged]),
      [
        [second, 'schedule', 'noop', 'none', 100, 90, 0],
        [first, 'once', 'success', 'incremental', 100, 90, 2],
      ],
    );
    assert.deepEqual(runs[1]!.startedAt, at(0));
    assert.deepEqual(runs[1]!.finishedAt, at(1));
    state.close();
  });

  it('tracks a mirror failing, blocked, aborted and recovering', () => {
    const state = fresh();
    state.finishRun(state.startRun('m', at(0), 'once'), ended(1, 'success'));
    state.finishRun(state.startRun('m', at(10), 'schedule'), ended(11, 'failed', { errorCode: 'NETWORK', errorMessage: 'connection refused', reason: 'NETWORK' }));
    state.finishRun(state.startRun('m', at(20), 'schedule'), ended(21, 'blocked', { errorCode: 'REF_BLOCKED', reason: '1 ref blocked' }));
    state.finishRun(state.startRun('m', at(30), 'schedule'), ended(31, 'aborted', { errorCode: 'ABORTED' }));
    let status = state.mirrorStatus('m')!;
    assert.equal(status.lastOutcome, 'aborted');
    assert.equal(status.consecutiveFailures, 2);
    assert.deepEqual(status.failingSince, at(10));
    assert.deepEqual(status.lastSuccess, at(1));
    state.finishRun(state.startRun('m', at(40), 'hook'), ended(41, 'success'));
    status = state.mirrorStatus('m')!;
    assert.equal(status.consecutiveFailures, 0);
    assert.equal(status.failingSince, null);
    assert.deepEqual(status.lastSuccess, at(41));
    assert.equal(status.lastRun!.trigger, 'hook');
    state.close();
  });

  it('says which mirror is running now, and its next run', () => {
    const state = fresh();
    state.setNextRun('idle', at(5));
    const run = state.startRun('busy', at(1), 'manual');
    const statuses = state.mirrorStatuses();
    assert.deepEqual(statuses.map((s) => [s.id, s.runningSince?.getTime() ?? null, s.nextRun?.getTime() ?? null, s.lastOutcome]), [
      ['busy', at(1).getTime(), null, null],
      ['idle', null, at(5).getTime(), null],
    ]);
    state.finishRun(run, ended(2, 'success'));
    state.setNextRun('idle', null);
    assert.equal(state.mirrorStatus('busy')!.runningSince, null);
    assert.equal(state.mirrorStatus('idle')!.nextRun, null);
    assert.equal(state.mirrorStatus('nobody'), null);
    state.close();
  });

  it('redacts URLs in stored messages', () => {
    const state = fresh();
    const run = state.startRun('r', at(0), 'once');
    state.finishRun(run, ended(1, 'failed', { errorCode: 'HTTP_AUTH', errorMessage: 'HTTP 401 from https://user:hunter2@git.example.com/r.git/info/refs' }));
    const stored = state.recentRuns('r', 1)[0]!.errorMessage!;
    assert.ok(!stored.includes('hunter2'), stored);
    assert.match(stored, /https:\/\/\*\*\*@git\.example\.com/);
    state.close();
  });

  it('forgets mirrors no longer in the manifest, with their runs', () => {
    const state = fresh();
    for (const id of ['keep', 'drop']) state.finishRun(state.startRun(id, at(0), 'once'), ended(1, 'success'));
    assert.deepEqual(state.syncMirrors(['keep', 'new']), ['drop']);
    assert.deepEqual(state.mirrorStatuses().map((s) => s.id), ['keep', 'new']);
    assert.deepEqual(state.recentRuns('drop', 10), []);
    state.close();
  });

  it('prunes by count and by age, always keeping each mirror\'s last run', () => {
    const state = fresh();
    for (let minute = 0; minute < 10; minute++) state.finishRun(state.startRun('a', at(minute * 2), 'schedule'), ended(minute * 2 + 1, 'success'));
    state.finishRun(state.startRun('b', at(0), 'once'), ended(1, 'failed'));
    assert.equal(state.prune({ retainRuns: 3, retainDays: null }), 7);
    assert.deepEqual(state.recentRuns('a', 100).map((run) => run.finishedAt!.getTime()), [at(19), at(17), at(15)].map((d) => d.getTime()));
    // Everything is older than a day by now: only each mirror's last run stays.
    assert.equal(state.prune({ retainRuns: null, retainDays: 1, now: new Date(at(0).getTime() + 2 * 86_400_000) }), 2);
    assert.equal(state.recentRuns('a', 100).length, 1);
    assert.equal(state.recentRuns('b', 100).length, 1);
    state.close();
  });

  it('records a run its dead process left open as aborted, and leaves live ones running', () => {
    const file = path.join(dir.path, 'abandoned.db');
    const state = FleetState.open(file);
    const live = state.startRun('live', at(0), 'schedule');
    state.close();
    // A run started by another process that has exited since.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { FleetState } from ${JSON.stringify(new URL('../../src/fleet/state.js', import.meta.url).href)};
      FleetState.open(${JSON.stringify(file)}).startRun('dead', new Date(${at(0).getTime()}), 'schedule');
    `]);
    assert.equal(child.status, 0, child.stderr.toString());
    const reopened = FleetState.open(file);
    const dead = reopened.mirrorStatus('dead')!;
    assert.equal(dead.runningSince, null);
    assert.equal(dead.lastOutcome, 'aborted');
    assert.equal(dead.lastRun!.errorCode, 'ABORTED');
    assert.equal(dead.consecutiveFailures, 0);
    assert.deepEqual(reopened.mirrorStatus('live')!.runningSince, at(0));
    reopened.finishRun(live, ended(1, 'success'));
    reopened.close();
  });

  it('refuses to create a database where only reading was asked', () => {
    assert.throws(() => FleetState.open(path.join(dir.path, 'absent.db'), { mustExist: true }), (error: Error & { code: string }) => {
      assert.equal(error.code, 'LOCAL_STORAGE');
      assert.match(error.message, /^no fleet state at .*absent\.db: run `git-sync fleet run`/);
      return true;
    });
  });

  it('names a path it cannot use', () => {
    const file = path.join(dir.path, 'a-file');
    writeFileSync(file, 'not a directory');
    assert.throws(() => FleetState.open(path.join(file, 'fleet.db')), (error: Error & { code: string }) => {
      assert.equal(error.code, 'LOCAL_STORAGE');
      assert.match(error.message, /^cannot open the fleet state at .*a-file\/fleet\.db: .*; check the path and its permissions$/);
      return true;
    });
  });
});
