/**
 * executeBatched on its own (execute/batched.ts): a history too big for one push goes over in
 * checkpoint pushes into a real receive-pack, then the cutover; checked with git.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnsupportedError } from '../../src/errors.js';
import { executeBatched, type BatchPolicy } from '../../src/execute/batched.js';
import type { Oid } from '../../src/types.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { createPlan } from '../helpers/plans.js';
import { openRun } from '../helpers/sessions.js';

/** Each commit adds this much incompressible data: 12 of them need several 100 KiB pushes. */
const COMMIT_BYTES = 24 * 1024;
const LIMIT = 100 * 1024;

function policy(limitBytes: number): BatchPolicy {
  return { atomic: true, bestEffort: false, force: 'none', limitBytes, placement: 'first-parent' };
}

describe('executeBatched', { timeout: 120_000 }, () => {
  let dir: TempDir;
  let source: FixtureRepo;
  const tips: Record<string, Oid> = {};
  let targets = 0;

  before(async () => {
    dir = makeTempDir('gitsync-batched-unit-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    for (let i = 0; i < 12; i++) tips['main'] = (await source.commit('main', { files: { [`f${i}.bin`]: pseudoRandomBytes(COMMIT_BYTES, `main-${i}`) } })) as Oid;
    tips['side'] = tips['main'];
    for (let i = 0; i < 3; i++) tips['side'] = (await source.commit('side', { parents: [tips['side']], files: { [`s${i}.bin`]: pseudoRandomBytes(COMMIT_BYTES, `side-${i}`) } })) as Oid;
    await source.commit('huge', { parents: [tips['main']], files: { 'huge.bin': pseudoRandomBytes(3 * LIMIT, 'huge') } });
    tips['huge'] = (await source.revParse('huge')) as Oid;
  });
  after(async () => {
    await dir?.remove();
  });

  async function emptyTarget(): Promise<string> {
    const path = join(dir.path, `target-${++targets}.git`);
    await git(['init', '--quiet', '--bare', path]);
    return path;
  }

  it('carries two branches over in pushes under the limit, cuts over, and leaves no checkpoint ref', async (t) => {
    const path = await emptyTarget();
    const run = await openRun(t, source.path, path);
    const plans = [createPlan('refs/heads/main', tips['main']!), createPlan('refs/heads/side', tips['side']!)];
    const outcome = await executeBatched(run.context(), plans, policy(LIMIT));
    assert.ok(outcome.batchCount >= 4, `${outcome.batchCount} batches for about ${15 * COMMIT_BYTES} bytes under ${LIMIT}`);
    assert.ok(outcome.plannedBatchCount >= outcome.batchCount);
    assert.deepEqual(outcome.plans, plans);
    assert.deepEqual(outcome.tempRefs, ['refs/gitsync/bootstrap/heads/main', 'refs/gitsync/bootstrap/heads/side']);
    const refs = await forEachRef(path);
    assert.deepEqual(refs, new Map([['refs/heads/main', tips['main']], ['refs/heads/side', tips['side']]]), 'the real refs, and no checkpoint ref left');
    await fsck(path);
    // Every checkpoint push stayed under the limit: the target never received a larger body.
    const pushes = run.stats().phases['target push']!;
    assert.ok(pushes.requests >= outcome.batchCount + 2, 'checkpoints, the cutover and the checkpoint deletes');
    assert.ok(pushes.requestBytes < (outcome.batchCount + 2) * LIMIT);
    const batches = run.events.flatMap((event) => (event.kind === 'phase' && event.phase === 'push' && event.step?.unit === 'batch' ? [event.step.index] : []));
    assert.deepEqual(
      batches.filter((index, i) => batches.indexOf(index) === i),
      Array.from({ length: outcome.batchCount }, (_, i) => i + 1),
    );
  });

  it('resumes from checkpoint refs an interrupted run left: only what lies beyond them is sent', async (t) => {
    const path = await emptyTarget();
    // An earlier run got main's first 8 commits across before it stopped.
    const checkpoint = await source.revParse('main~4');
    await git(['push', '--quiet', path, `${checkpoint}:refs/gitsync/bootstrap/heads/main`], { cwd: source.path });
    const run = await openRun(t, source.path, path);
    const outcome = await executeBatched(run.context(), [createPlan('refs/heads/main', tips['main']!)], policy(LIMIT));
    assert.ok(run.decisions().some((message) => message === 'batch: resuming from 1 checkpoint ref(s) left on the target'), run.decisions().join('\n'));
    assert.ok(run.decisions().some((message) => message.includes('refs/heads/main: 4 commit(s) to send')), run.decisions().join('\n'));
    assert.ok(outcome.batchCount >= 1);
    assert.deepEqual(await forEachRef(path), new Map([['refs/heads/main', tips['main']]]));
    await fsck(path);
  });

  it('a commit that alone needs more than the limit is named, and only whole checkpoints landed', async (t) => {
    const path = await emptyTarget();
    const run = await openRun(t, source.path, path);
    const error = await executeBatched(run.context(), [createPlan('refs/heads/huge', tips['huge']!)], policy(LIMIT)).then(
      () => assert.fail('the batches went through'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof UnsupportedError, String(error));
    assert.match(error.message, new RegExp(`commit ${tips['huge']!.slice(0, 12)} alone needs more than the target's limit of ${LIMIT} bytes`));
    const refs = await forEachRef(path);
    assert.equal(refs.has('refs/heads/huge'), false, 'the real ref was never created');
    // What landed is main's history up to the huge commit, held by the checkpoint ref for a rerun.
    assert.deepEqual([...refs.keys()], ['refs/gitsync/bootstrap/heads/huge']);
    assert.equal(refs.get('refs/gitsync/bootstrap/heads/huge'), tips['main']);
    await fsck(path);
  });
});
