/**
 * answerAncestry on its own (api/ancestry.ts): the planner's "is the target tip an ancestor of
 * the source tip?" answered from commits-only fetches of a real upload-pack, with and without
 * `filter` support, checked against `git merge-base --is-ancestor`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { answerAncestry } from '../../src/api/ancestry.js';
import { ListeningObserver } from '../../src/observe/observer.js';
import type { ProgressEvent } from '../../src/observe/progress.js';
import { ancestryKey, type AncestryQuestion } from '../../src/plan/index.js';
import { UploadPackSession } from '../../src/protocol/upload-pack-session.js';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { openTransport } from '../../src/transport/open.js';
import type { Oid } from '../../src/types.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { makeTempDir, runGit, type TempDir } from '../helpers/git.js';

interface Opened {
  session: UploadPackSession;
  /** The decisions said so far. */
  decisions(): string[];
  observer: ListeningObserver;
}

describe('answerAncestry', { timeout: 120_000 }, () => {
  let dir: TempDir;
  const repos: Record<'plain' | 'filtering', FixtureRepo> = {} as never;
  const at: Record<string, Oid> = {};

  before(async () => {
    dir = makeTempDir('gitsync-ancestry-unit-');
    for (const kind of ['plain', 'filtering'] as const) {
      const repo = await createRepo({ parentDir: dir.path, name: kind, config: kind === 'filtering' ? { 'uploadpack.allowFilter': true } : {} });
      // main: m1 - m2 - m3 - m4;  topic: m2 - t1;  orphan: o1 - o2 (no common history);
      // the same history in both repositories.
      at['m1'] = (await repo.commit('main', { message: 'm1', date: 1_700_000_001 })) as Oid;
      at['m2'] = (await repo.commit('main', { message: 'm2', date: 1_700_000_002 })) as Oid;
      at['m3'] = (await repo.commit('main', { message: 'm3', date: 1_700_000_003 })) as Oid;
      at['m4'] = (await repo.commit('main', { message: 'm4', date: 1_700_000_004 })) as Oid;
      at['t1'] = (await repo.commit('topic', { parents: [at['m2']], message: 't1', date: 1_700_000_005 })) as Oid;
      at['o1'] = (await repo.commit('orphan', { parents: [], emptyTree: true, message: 'o1', date: 1_700_000_006 })) as Oid;
      at['o2'] = (await repo.commit('orphan', { message: 'o2', date: 1_700_000_007 })) as Oid;
      repos[kind] = repo;
    }
  });
  after(async () => {
    await dir?.remove();
  });

  async function open(kind: 'plain' | 'filtering', t: { after(fn: () => Promise<void>): void }): Promise<Opened> {
    const events: ProgressEvent[] = [];
    const observer = new ListeningObserver({ stats: true, listener: (event) => events.push(event), progressIntervalMillis: 60_000 });
    const session = await UploadPackSession.open(openTransport(parseEndpoint(repos[kind].path), { side: 'source', observer }), { protocol: 'auto', observer });
    t.after(async () => {
      observer.stop();
      await session.close();
    });
    return {
      session,
      observer,
      decisions: () => events.flatMap((event) => (event.kind === 'decision' ? [event.message] : [])),
    };
  }

  async function gitSays(kind: 'plain' | 'filtering', target: Oid, source: Oid): Promise<string> {
    const { exitCode } = await runGit(['merge-base', '--is-ancestor', target, source], { cwd: repos[kind].path, okExitCodes: [0, 1] });
    return exitCode === 0 ? 'ancestor' : 'not-ancestor';
  }

  function question(targetRef: string, targetHash: Oid, sourceHash: Oid): AncestryQuestion {
    return { targetRef, targetHash, sourceHash };
  }

  for (const kind of ['plain', 'filtering'] as const) {
    it(`${kind}: one shared fetch settles what it can see, and every answer is git's`, async (t) => {
      const { session, decisions, observer } = await open(kind, t);
      assert.equal(session.supportsFilter, kind === 'filtering');
      // m4's walk meets m3; o2's walk never leaves the pack, so t1 is not below it.
      const questions = [question('refs/heads/main', at['m3']!, at['m4']!), question('refs/heads/orphan', at['t1']!, at['o2']!)];
      const result = await answerAncestry(session, questions, { observer });
      assert.equal(result.requests, 1);
      for (const q of questions) assert.equal(result.answers.get(ancestryKey(q.targetHash, q.sourceHash)), await gitSays(kind, q.targetHash, q.sourceHash), q.targetRef);
      assert.match(decisions()[0] ?? '', kind === 'filtering' ? /commits only \(filter tree:0\)/ : /ordinary pack read as far as its commits/);
      assert.equal(observer.stop()?.phases['source fetch']?.requests, 1);
    });

    it(`${kind}: a tip the shared fetch leaves ambiguous is asked again alone`, async (t) => {
      const { session, decisions, observer } = await open(kind, t);
      // With m3 a have too, the walk from m4 stops at m3 and never sees m1: m1's question needs its own fetch.
      const questions = [question('refs/heads/old', at['m1']!, at['m4']!), question('refs/heads/main', at['m3']!, at['m4']!)];
      const result = await answerAncestry(session, questions, { observer });
      assert.equal(result.requests, 2);
      assert.equal(result.answers.get(ancestryKey(at['m1']!, at['m4']!)), 'ancestor');
      assert.equal(result.answers.get(ancestryKey(at['m3']!, at['m4']!)), 'ancestor');
      assert.ok(decisions().some((message) => message.startsWith('ancestry: refs/heads/old left ambiguous')), decisions().join('\n'));
    });
  }

  it('a target tip the source does not have is not an ancestor', async (t) => {
    const { session, observer } = await open('plain', t);
    const stranger = 'abad1dea'.padEnd(40, '0') as Oid;
    const result = await answerAncestry(session, [question('refs/heads/main', stranger, at['m4']!)], { observer });
    assert.equal(result.answers.get(ancestryKey(stranger, at['m4']!)), 'not-ancestor');
  });

  it('no questions: no request', async (t) => {
    const { session, observer } = await open('plain', t);
    const result = await answerAncestry(session, [], { observer });
    assert.deepEqual(result, { answers: new Map(), requests: 0, commits: 0 });
    assert.equal(observer.stop()?.phases['source fetch'], undefined);
  });
});
