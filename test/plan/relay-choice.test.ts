import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ancestryFromMap, ancestryKey } from '../../src/plan/ancestry-questions.js';
import { planActions } from '../../src/plan/plan-actions.js';
import type { PlanFlags } from '../../src/plan/plan-policy.js';
import { chooseRelay, targetObjectHashes, type RelayChoice } from '../../src/plan/relay-choice.js';
import type { Oid, Ref } from '../../src/types.js';
import { A, B, C, D, input, ref, refs } from './fixtures.js';

const MAIN = 'refs/heads/main';

function choose(
  flags: PlanFlags,
  source: Record<string, Oid>,
  target: Record<string, Oid> | Ref[],
  targetMaxPackBytes: number | null = null,
): RelayChoice {
  const planInput = input(flags, source, target);
  const ancestry = ancestryFromMap(
    new Map([
      [ancestryKey(B, A), 'ancestor'],
      [ancestryKey(C, A), 'not-ancestor'],
    ]),
  );
  const plans = planActions({ ...planInput, ancestry });
  return chooseRelay({ mode: planInput.mode, plans, targetRefs: planInput.targetRefs, targetMaxPackBytes });
}

test('each relay mode and reason', async (t) => {
  const rows: Array<[string, () => RelayChoice, RelayChoice]> = [
    [
      'a block stops everything',
      () => choose({ mode: 'sync' }, { [MAIN]: A, 'refs/heads/x': D }, { [MAIN]: C }),
      { relay: false, relayMode: 'none', relayReason: 'blocked-refs', bootstrapSuggested: false },
    ],
    [
      'everything current',
      () => choose({ mode: 'sync' }, { [MAIN]: A }, { [MAIN]: A }),
      { relay: false, relayMode: 'none', relayReason: 'nothing-to-push', bootstrapSuggested: false },
    ],
    [
      'nothing managed at all',
      () => choose({ mode: 'sync' }, {}, {}),
      { relay: false, relayMode: 'none', relayReason: 'nothing-to-push', bootstrapSuggested: false },
    ],
    [
      'only deletes',
      () => choose({ mode: 'sync', prune: true }, { [MAIN]: A }, { [MAIN]: A, 'refs/heads/old': B }),
      { relay: false, relayMode: 'ref-only', relayReason: 'deletes-only', bootstrapSuggested: false },
    ],
    [
      'a create of a commit the target already has as a tip',
      () => choose({ mode: 'sync', prune: true }, { [MAIN]: A, 'refs/heads/copy': A }, { [MAIN]: A, 'refs/heads/old': B }),
      { relay: false, relayMode: 'ref-only', relayReason: 'objects-on-target', bootstrapSuggested: false },
    ],
    [
      'a create of a commit the target has as a peeled tag',
      () => choose({ mode: 'sync' }, { 'refs/heads/rel': D }, [ref('refs/tags/v1', B, D)]),
      { relay: false, relayMode: 'ref-only', relayReason: 'objects-on-target', bootstrapSuggested: false },
    ],
    [
      'replicate with differences',
      () => choose({ mode: 'replicate' }, { [MAIN]: A }, { [MAIN]: C }),
      { relay: true, relayMode: 'replicate', relayReason: 'replicate-differences', bootstrapSuggested: false },
    ],
    [
      'replicate into an empty target suggests bootstrap',
      () => choose({ mode: 'replicate' }, { [MAIN]: A }, {}),
      { relay: true, relayMode: 'replicate', relayReason: 'replicate-differences', bootstrapSuggested: true },
    ],
    [
      'replicate of refs whose objects are present is ref-only',
      () => choose({ mode: 'replicate' }, { [MAIN]: B }, { [MAIN]: A, 'refs/heads/x': B }),
      { relay: false, relayMode: 'ref-only', relayReason: 'objects-on-target', bootstrapSuggested: false },
    ],
    [
      'sync into a target without any managed ref (others may exist)',
      () => choose({ mode: 'sync', branches: ['main'] }, { [MAIN]: A }, { 'refs/heads/unmanaged': B }),
      { relay: true, relayMode: 'bootstrap', relayReason: 'empty-target-managed-refs', bootstrapSuggested: true },
    ],
    [
      'bootstrap command into an empty target',
      () => choose({ mode: 'bootstrap' }, { [MAIN]: A }, {}),
      { relay: true, relayMode: 'bootstrap', relayReason: 'empty-target-managed-refs', bootstrapSuggested: true },
    ],
    [
      'bootstrap with a target body limit',
      () => choose({ mode: 'sync' }, { [MAIN]: A }, {}, 1_000_000),
      { relay: true, relayMode: 'bootstrap-batch', relayReason: 'target-body-limit', bootstrapSuggested: true },
    ],
    [
      'bootstrap resuming from its checkpoints',
      () => choose({ mode: 'bootstrap' }, { [MAIN]: A, 'refs/heads/dev': D }, { [MAIN]: A, 'refs/gitsync/bootstrap/heads/dev': C }),
      { relay: true, relayMode: 'bootstrap-batch', relayReason: 'resume-checkpoints', bootstrapSuggested: false },
    ],
    [
      'sync bootstrap resuming from its checkpoints',
      () => choose({ mode: 'sync' }, { [MAIN]: A }, { 'refs/gitsync/bootstrap/heads/main': C }),
      { relay: true, relayMode: 'bootstrap-batch', relayReason: 'resume-checkpoints', bootstrapSuggested: true },
    ],
    [
      'incremental with a target body limit',
      () => choose({ mode: 'sync' }, { [MAIN]: A }, { [MAIN]: B }, 1_000_000),
      { relay: true, relayMode: 'incremental-batch', relayReason: 'target-body-limit', bootstrapSuggested: false },
    ],
    [
      'incremental with a forced update',
      () => choose({ mode: 'sync', forceWithLease: true }, { [MAIN]: A }, { [MAIN]: C }),
      { relay: true, relayMode: 'incremental', relayReason: 'forced-updates', bootstrapSuggested: false },
    ],
    [
      'incremental fast-forwards, creates and deletes',
      () => choose({ mode: 'sync', prune: true }, { [MAIN]: A, 'refs/heads/new': D }, { [MAIN]: B, 'refs/heads/old': C }),
      { relay: true, relayMode: 'incremental', relayReason: 'fast-forward-and-creates', bootstrapSuggested: false },
    ],
  ];
  for (const [name, run, expected] of rows) {
    await t.test(name, () => assert.deepEqual(run(), expected));
  }
});

test('warn plans recorded after a push do not count as pushes', () => {
  const choice = chooseRelay({
    mode: 'sync',
    targetRefs: [],
    plans: [{ branch: null, sourceRef: 'refs/pull/1/head', targetRef: 'refs/pull/1/head', sourceHash: A, targetHash: null, kind: 'other', action: 'warn', reason: 'target rejected: deny', forced: false }],
  });
  assert.deepEqual(choice, { relay: false, relayMode: 'none', relayReason: 'nothing-to-push', bootstrapSuggested: false });
});

test('the objects a target listing proves present are its tips and peeled values', () => {
  assert.deepEqual([...targetObjectHashes([ref('refs/tags/v1', B, D), ...refs({ [MAIN]: A })])].sort(), [A, B, D].sort());
});
