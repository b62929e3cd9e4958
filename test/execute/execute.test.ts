/**
 * executePlan on its own (execute/execute.ts): plans pushed into real receive-pack processes on
 * local repositories, split into requests, with the lease, blind and best-effort policies.
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TargetRefMovedError, TargetRejectedError } from '../../src/errors.js';
import { executePlan, type ExecutePolicy } from '../../src/execute/execute.js';
import type { Oid } from '../../src/types.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { createPlan, deletePlan, updatePlan } from '../helpers/plans.js';
import { openRun } from '../helpers/sessions.js';

const POLICY: ExecutePolicy = { atomic: true, bestEffort: false, force: 'none' };

describe('executePlan', { timeout: 120_000 }, () => {
  let dir: TempDir;
  let source: FixtureRepo;
  let first: Oid;
  let second: Oid;
  let rewritten: Oid;
  const branches: Record<string, Oid> = {};
  let targets = 0;

  before(async () => {
    dir = makeTempDir('gitsync-execute-unit-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    first = (await source.commit('main', { files: { 'a.txt': 'a\n' } })) as Oid;
    second = (await source.commit('main', { files: { 'b.txt': 'b\n' } })) as Oid;
    rewritten = (await source.commit('rewrite', { parents: [first], files: { 'r.txt': 'r\n' } })) as Oid;
    for (const name of ['b1', 'b2', 'b3', 'b4', 'b5']) branches[name] = (await source.commit(name, { parents: [first], files: { [`${name}.txt`]: `${name}\n` } })) as Oid;
  });
  after(async () => {
    await dir?.remove();
  });

  /** A bare target with main at the first commit, plus `extra` refs. */
  async function target(extra: Record<string, string> = {}): Promise<string> {
    const path = join(dir.path, `target-${++targets}.git`);
    await git(['init', '--quiet', '--bare', path]);
    const specs = Object.entries({ 'refs/heads/main': first, ...extra }).map(([ref, hash]) => `${hash}:${ref}`);
    await git(['push', '--quiet', path, ...specs], { cwd: source.path });
    return path;
  }

  it('splits the commands into requests of maxRefUpdates, each pack only what earlier ones did not bring', async (t) => {
    const path = await target();
    const run = await openRun(t, source.path, path);
    const plans = [updatePlan('refs/heads/main', first, second), ...Object.entries(branches).map(([name, hash]) => createPlan(`refs/heads/${name}`, hash))];
    const outcome = await executePlan(run.context({ maxRefUpdates: 2 }), plans, POLICY);
    assert.deepEqual(outcome.plans, plans, 'every plan applied as planned');
    const refs = await forEachRef(path);
    assert.equal(refs.get('refs/heads/main'), second);
    for (const [name, hash] of Object.entries(branches)) assert.equal(refs.get(`refs/heads/${name}`), hash);
    await fsck(path);
    const steps = run.events.flatMap((event) => (event.kind === 'phase' && event.phase === 'push' ? [event.step] : []));
    assert.deepEqual(steps, [1, 2, 3].map((index) => ({ unit: 'request', index, total: 3 })));
    const stats = run.stats();
    assert.equal(stats.phases['target push']?.requests, 3);
    assert.equal(stats.phases['target push']?.commands, 6);
    // Haves grow with each request: the second and third fetch against what landed before.
    assert.ok((stats.phases['source fetch']?.haves ?? 0) > 3, JSON.stringify(stats.phases['source fetch']));
  });

  it('with a lease, a ref that moved since planning fails the push and keeps the concurrent value', async (t) => {
    const path = await target();
    const run = await openRun(t, source.path, path);
    // Someone else moves main after the plan was made against `first`.
    await git(['push', '--quiet', '--force', path, `${rewritten}:refs/heads/main`], { cwd: source.path });
    const error = await executePlan(run.context(), [updatePlan('refs/heads/main', first, second)], { ...POLICY, force: 'lease' }).then(
      () => assert.fail('the push went through'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof TargetRefMovedError, String(error));
    assert.equal(error.ref, 'refs/heads/main');
    assert.equal((await forEachRef(path)).get('refs/heads/main'), rewritten);
  });

  it('blind force re-reads the target after a moved ref and overwrites it', async (t) => {
    const path = await target();
    const run = await openRun(t, source.path, path);
    await git(['push', '--quiet', '--force', path, `${rewritten}:refs/heads/main`], { cwd: source.path });
    await executePlan(run.context(), [updatePlan('refs/heads/main', first, second, true)], { ...POLICY, force: 'blind' });
    assert.equal((await forEachRef(path)).get('refs/heads/main'), second);
    assert.ok(run.decisions().some((message) => message.includes('re-reads the target')), run.decisions().join('\n'));
    await fsck(path);
  });

  describe('a target whose update hook refuses refs/heads/b2', () => {
    async function guarded(): Promise<string> {
      const path = await target({ 'refs/heads/old': first });
      const hook = join(path, 'hooks', 'update');
      await writeFile(hook, '#!/bin/sh\nif [ "$1" = refs/heads/b2 ]; then echo "b2 is protected" >&2; exit 1; fi\nexit 0\n');
      await chmod(hook, 0o755);
      return path;
    }
    const plans = (): ReturnType<typeof createPlan | typeof deletePlan>[] => [
      createPlan('refs/heads/b1', branches['b1']!),
      createPlan('refs/heads/b2', branches['b2']!),
      deletePlan('refs/heads/old', first),
    ];

    it('an atomic push fails as a whole: TargetRejectedError gives each ref its reason, nothing moves', async (t) => {
      const path = await guarded();
      const before = await forEachRef(path);
      const run = await openRun(t, source.path, path);
      const error = await executePlan(run.context(), plans(), POLICY).then(
        () => assert.fail('the push went through'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof TargetRejectedError, String(error));
      const reasons = new Map(error.rejections.map((rejection) => [rejection.ref, rejection.reason]));
      assert.equal(reasons.get('refs/heads/b2'), 'hook declined');
      // git refuses the others because the transaction failed, not for themselves.
      for (const ref of ['refs/heads/b1', 'refs/heads/old']) assert.match(reasons.get(ref) ?? '', /atomic/, ref);
      assert.deepEqual(await forEachRef(path), before);
    });

    it('best effort lands the others and turns the refused ref into a warning', async (t) => {
      const path = await guarded();
      const run = await openRun(t, source.path, path);
      const outcome = await executePlan(run.context(), plans(), { ...POLICY, bestEffort: true });
      assert.deepEqual(
        outcome.plans.map((plan) => [plan.targetRef, plan.action]),
        [
          ['refs/heads/b1', 'create'],
          ['refs/heads/b2', 'warn'],
          ['refs/heads/old', 'delete'],
        ],
      );
      const refs = await forEachRef(path);
      assert.equal(refs.get('refs/heads/b1'), branches['b1']);
      assert.equal(refs.has('refs/heads/b2'), false);
      assert.equal(refs.has('refs/heads/old'), false);
    });
  });
});
