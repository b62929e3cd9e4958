/**
 * planRun on its own (api/planning.ts): both sides listed, ancestry answered, every ref planned
 * and a relay chosen, against real local repositories; the sessions stay open for the push, and
 * are closed when planning fails.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planRun, resolvePolicy, type Planning, type PlanningOptions } from '../../src/api/planning.js';
import { RunContext } from '../../src/api/run-context.js';
import { UnsupportedError } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/observe/progress.js';
import type { Oid } from '../../src/types.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { processesMatching, waitUntilEmpty } from '../helpers/processes.js';

describe('planRun', { timeout: 120_000 }, () => {
  let dir: TempDir;
  let source: FixtureRepo;
  let targetPath: string;
  const at: Record<string, Oid> = {};

  before(async () => {
    dir = makeTempDir('gitsync-planning-unit-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    at['main1'] = (await source.commit('main')) as Oid;
    at['dev1'] = (await source.commit('dev', { parents: [at['main1']] })) as Oid;
    targetPath = join(dir.path, 'target.git');
    await git(['init', '--quiet', '--bare', targetPath]);
    // The target: main behind, dev rewritten there, stale gone from the source.
    const rewritten = (await source.commit('refs/scratch/dev', { parents: [at['main1']], message: 'target-only' })) as Oid;
    await git(['push', '--quiet', targetPath, `${at['main1']}:refs/heads/main`, `${rewritten}:refs/heads/dev`, `${at['main1']}:refs/heads/stale`], { cwd: source.path });
    await source.deleteRef('refs/scratch/dev');
    at['main2'] = (await source.commit('main')) as Oid;
    at['feature'] = (await source.commit('feature', { parents: [at['main2']] })) as Oid;
  });
  after(async () => {
    await dir?.remove();
  });

  /** Plans a sync as the API does; the run and both sessions are closed when the test ends. */
  async function planned(t: { after(fn: () => Promise<void>): void }, options: PlanningOptions): Promise<Planning> {
    const context = new RunContext(options);
    t.after(() => context.close());
    const planning = await planRun(context, options, resolvePolicy(options, 'sync'));
    t.after(async () => {
      await planning.source.close();
      await planning.target.close();
    });
    return planning;
  }

  it('plans every ref from both listings and the ancestry fetches; the sessions stay open for the push', async (t) => {
    const events: ProgressEvent[] = [];
    const planning = await planned(t, { source: { url: source.path }, target: { url: targetPath }, prune: true, onProgress: (event) => events.push(event) });
    assert.deepEqual(
      planning.plans.map((plan) => [plan.targetRef, plan.action]),
      [
        ['refs/heads/dev', 'block'],
        ['refs/heads/feature', 'create'],
        ['refs/heads/main', 'update'],
        ['refs/heads/stale', 'delete'],
      ],
    );
    // The shared fetch settles main; dev's source tip sits on main1, another have, so dev's
    // question is asked again with its target tip alone.
    assert.equal(planning.ancestryRequests, 2);
    // A blocked ref stops the whole sync: nothing is relayed.
    assert.deepEqual([planning.relay.relayMode, planning.relay.relayReason], ['none', 'blocked-refs']);
    assert.equal(planning.guard, null);
    assert.deepEqual(planning.summary, { pushed: 2, deleted: 1, skipped: 0, blocked: 1, warned: 0 });
    assert.deepEqual(
      events.flatMap((event) => (event.kind === 'phase' ? [event.phase] : [])),
      ['discover', 'ancestry'],
    );
    // Still usable: the push that follows planning fetches on the same session.
    const response = await planning.source.fetch({ wants: [at['feature']!], haves: [at['main1']!] });
    for await (const chunk of response.pack) void chunk;
    assert.equal((await forEachRef(targetPath)).get('refs/heads/main'), at['main1'], 'planning changed nothing on the target');
  });

  it('only looks at a local target that does not exist yet: nothing is created', async (t) => {
    const missing = join(dir.path, 'not-yet', 'mirror.git');
    const planning = await planned(t, { source: { url: source.path }, target: { url: missing } });
    assert.equal(planning.target.missing, true);
    assert.equal(planning.relay.relayMode, 'bootstrap');
    assert.ok(planning.plans.every((plan) => plan.action === 'create'));
    assert.equal(existsSync(missing), false);
  });

  it('refuses sources and targets of different object formats, and closes both sessions', async (t) => {
    const sha256 = await createRepo({ parentDir: dir.path, name: 'sha256', objectFormat: 'sha256' });
    await sha256.commit('main');
    const options: PlanningOptions = { source: { url: sha256.path }, target: { url: targetPath } };
    const context = new RunContext(options);
    t.after(() => context.close());
    await assert.rejects(planRun(context, options, resolvePolicy(options, 'sync')), (error: unknown) => {
      assert.ok(error instanceof UnsupportedError, String(error));
      assert.match(error.message, /uses sha256 object ids and .* uses sha1/);
      return true;
    });
    // The upload-pack and receive-pack children planning started are gone.
    assert.deepEqual(await waitUntilEmpty(() => processesMatching(sha256.path)), []);
    assert.deepEqual(await waitUntilEmpty(() => processesMatching(targetPath)), []);
  });
});
