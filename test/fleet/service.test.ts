/**
 * FleetService's stop (docs/fleet.md, "Stopping and reloading"), in process, with a runner the
 * test ends by hand (the runs against real git are serve.test.ts's): a run in progress may finish
 * within the grace period, a run waiting for a slot never starts, `/readyz` says 503 while the
 * service drains, and aborting reaches the run's signal.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FleetService, type MirrorRunner, type RunSummary } from '../../src/fleet/serve.js';
import { FleetState } from '../../src/fleet/state.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { freePort } from '../helpers/net.js';

function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

const QUIET = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Started {
  id: string;
  signal: AbortSignal;
  finish: (summary: RunSummary) => void;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(check(), 'the condition came true');
}

describe('fleet service stop', () => {
  let dir: TempDir;
  before(() => {
    dir = makeTempDir('gitsync-service-');
  });
  after(() => dir?.remove());

  async function service(name: string, stopGraceMillis: number): Promise<{ service: FleetService; started: Started[]; manifest: string }> {
    const port = await freePort();
    const manifest = join(dir.path, `${name}.yaml`);
    // Two mirrors, one slot: while one runs, the other waits.
    await writeFile(
      manifest,
      `concurrency: 1\nserve:\n  listen: 127.0.0.1:${port}\nstate:\n  path: ${join(dir.path, `${name}.db`)}\nmirrors:\n  - id: one\n    source: /srv/one.git\n    target: /srv/one-mirror.git\n    schedule: 1h\n  - id: two\n    source: /srv/two.git\n    target: /srv/two-mirror.git\n    schedule: 1h\n`,
    );
    const started: Started[] = [];
    const runner: MirrorRunner = (spec, context) =>
      new Promise<RunSummary>((resolve) => {
        const runId = context.state.startRun(spec.id, new Date(), context.trigger);
        started.push({
          id: spec.id,
          signal: context.signal,
          finish: (summary) => {
            context.state.finishRun(runId, { finishedAt: new Date(), outcome: summary.outcome, reason: null, relayMode: null, bytesFromSource: 0, bytesToTarget: 0, refsChanged: 0, errorCode: summary.errorCode, errorMessage: null });
            resolve(summary);
          },
        });
      });
    const running = await FleetService.start({ manifest, logger: QUIET, stopGraceMillis, watch: false, runner });
    return { service: running, started, manifest };
  }

  it('lets the run in progress finish within the grace period, never starts the waiting one, and answers 503 on /readyz meanwhile', async () => {
    const { service: fleet, started } = await service('grace', 600_000);
    assert.equal(fleet.trigger('one', 'hook'), 'started');
    assert.equal(fleet.trigger('two', 'hook'), 'started');
    await until(() => started.length === 1);
    assert.equal(await status(`${fleet.url}/readyz`), 200);
    const stopping = fleet.stop();
    assert.equal(await status(`${fleet.url}/readyz`), 503);
    assert.equal(fleet.trigger('one', 'hook'), 'stopped');
    started[0]!.finish({ outcome: 'success', bytesFromSource: 1, bytesToTarget: 1, errorCode: null });
    await stopping;
    await fleet.stopped;
    assert.equal(started.length, 1, 'the run waiting for a slot never started');
    assert.equal(started[0]!.signal.aborted, false, 'the run in progress was not aborted');
    const state = FleetState.open(join(dir.path, 'grace.db'), { mustExist: true });
    try {
      assert.equal(state.mirrorStatus(started[0]!.id)!.lastOutcome, 'success');
    } finally {
      state.close();
    }
  });

  it('aborts the runs in progress once the grace period is over', async () => {
    const { service: fleet, started } = await service('abort', 1);
    fleet.trigger('one', 'hook');
    await until(() => started.length === 1);
    const stopping = fleet.stop();
    await until(() => started[0]!.signal.aborted);
    assert.equal((started[0]!.signal.reason as { code?: string }).code, 'ABORTED');
    started[0]!.finish({ outcome: 'aborted', bytesFromSource: 0, bytesToTarget: 0, errorCode: 'ABORTED' });
    await stopping;
  });
});
