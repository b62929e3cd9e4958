/**
 * relayPush on its own (execute/relay.ts): real upload-pack and receive-pack processes on local
 * repositories, the pack streamed from one into the other, every outcome checked with git.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AbortedError, PackTooLargeError, PushRefusedError, RemoteError } from '../../src/errors.js';
import { PackOverBudgetError, relayPush, THIN_PACK_FILTER } from '../../src/execute/relay.js';
import type { Oid } from '../../src/types.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, revListObjectsCount, type TempDir } from '../helpers/git.js';
import { startGitHttpServer } from '../helpers/http-server.js';
import { openRun } from '../helpers/sessions.js';

describe('relayPush', { timeout: 120_000 }, () => {
  let dir: TempDir;
  let source: FixtureRepo;
  let first: Oid;
  let tip: Oid;
  let big: Oid;
  let targets = 0;

  before(async () => {
    dir = makeTempDir('gitsync-relay-unit-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    first = (await source.commit('main', { files: { 'a.txt': 'a\n' } })) as Oid;
    await source.commit('main', { files: { 'b.txt': 'b\n' } });
    tip = (await source.commit('main', { files: { 'c.txt': 'c\n' } })) as Oid;
    big = (await source.commit('big', { parents: [tip], files: { 'big.bin': pseudoRandomBytes(256 * 1024, 'big') } })) as Oid;
  });
  after(async () => {
    await dir?.remove();
  });

  /** A bare target holding the source's first commit as main. */
  async function target(): Promise<string> {
    const path = join(dir.path, `target-${++targets}.git`);
    await git(['init', '--quiet', '--bare', path]);
    await git(['push', '--quiet', path, `${first}:refs/heads/main`], { cwd: source.path });
    return path;
  }

  it('relays exactly the objects the target lacks, and the ref moves', async (t) => {
    const path = await target();
    const run = await openRun(t, source.path, path);
    const commands = [{ ref: 'refs/heads/main', oldHash: first, newHash: tip }];
    const { report, pack } = await relayPush(run.context(), { commands, wants: [tip], haves: [first], atomic: true });
    assert.equal(report.unpackOk, true);
    assert.deepEqual(report.refs.map((ref) => [ref.ref, ref.status]), [['refs/heads/main', 'ok']]);
    assert.equal(pack?.objectCount, await revListObjectsCount(source.path, [tip, `^${first}`]));
    assert.equal((await forEachRef(path)).get('refs/heads/main'), tip);
    await fsck(path);
    const stats = run.stats();
    assert.equal(stats.phases['source fetch']?.wants, 1);
    assert.equal(stats.phases['source fetch']?.haves, 1);
    assert.equal(stats.phases['target push']?.commands, 1);
    assert.ok((stats.phases['target push']?.requestBytes ?? 0) >= pack!.bytes, 'the pack bytes were counted on the way out');
  });

  /** A 300 KB text file, then the same with one line changed: what a typical commit does. */
  async function textEdit(): Promise<{ old: Oid; edited: Oid; path: string }> {
    const lines = Array.from({ length: 5000 }, (_, i) => `${i} ${pseudoRandomBytes(24, `line${i}`).toString('hex')}`);
    const old = (await source.commit('text', { parents: [first], files: { 'big.txt': `${lines.join('\n')}\n` } })) as Oid;
    lines[2500] = 'one line changed';
    const edited = (await source.commit('text', { files: { 'big.txt': `${lines.join('\n')}\n` } })) as Oid;
    const path = await target();
    await git(['push', '--quiet', path, `${old}:refs/heads/text`], { cwd: source.path });
    // index-pack, not unpack-objects, for any pack: the receiver that can refuse a thin pack.
    await git(['config', 'receive.unpackLimit', '1'], { cwd: path });
    return { old, edited, path };
  }

  it('asks for a thin pack when the target holds the haves: one changed line of a big file costs a delta', async (t) => {
    const { old, edited, path } = await textEdit();
    const run = await openRun(t, source.path, path);
    assert.equal(run.target.discovery.features.noThin, false);
    const commands = [{ ref: 'refs/heads/text', oldHash: old, newHash: edited }];
    const { report, pack } = await relayPush(run.context(), { commands, wants: [edited], haves: [old], atomic: true });
    assert.equal(report.unpackOk, true);
    // The blob travels as a delta against the target's copy: a few hundred bytes, not ~150 KB.
    assert.ok(pack !== null && pack.bytes < 4096, `the pack took ${pack?.bytes} bytes`);
    assert.equal((await forEachRef(path)).get('refs/heads/text'), edited);
    await fsck(path);
  });

  /**
   * The source as a host keeps it: gc left one pack with reachability bitmaps (here holding
   * `old`), then `edited` arrived by a push (a few objects: loose, deltified against nothing).
   */
  async function bitmapped(old: Oid, edited: Oid, config: Record<string, string>): Promise<string> {
    const path = join(dir.path, `bitmapped-${++targets}.git`);
    await git(['init', '--quiet', '--bare', path]);
    await git(['push', '--quiet', path, `${old}:refs/heads/text`], { cwd: source.path });
    await git(['repack', '-a', '-d', '-b', '-q'], { cwd: path });
    await git(['push', '--quiet', path, `${edited}:refs/heads/text`], { cwd: source.path });
    for (const [name, value] of Object.entries(config)) await git(['config', name, value], { cwd: path });
    return path;
  }

  it('gets a thin pack from a source with bitmaps too: the filter that leaves nothing out makes it walk', async (t) => {
    const { old, edited, path } = await textEdit();
    const from = await bitmapped(old, edited, { 'uploadpack.allowFilter': 'true' });
    const run = await openRun(t, from, path);
    const commands = [{ ref: 'refs/heads/text', oldHash: old, newHash: edited }];
    const { report, pack } = await relayPush(run.context(), { commands, wants: [edited], haves: [old], atomic: true });
    assert.equal(report.unpackOk, true);
    assert.ok(pack !== null && pack.bytes < 4096, `the pack took ${pack?.bytes} bytes`);
    assert.equal(pack.objectCount, await revListObjectsCount(from, [edited, `^${old}`]), 'the filter left no object out');
    assert.equal((await forEachRef(path)).get('refs/heads/text'), edited);
    await fsck(path);
  });

  it('asks again without the filter when the source refuses it, before anything reaches the target', async (t) => {
    const { old, edited, path } = await textEdit();
    const from = await bitmapped(old, edited, { 'uploadpack.allowFilter': 'true', 'uploadpackfilter.tree.maxDepth': '10' });
    const run = await openRun(t, from, path);
    const commands = [{ ref: 'refs/heads/text', oldHash: old, newHash: edited }];
    const { report, pack } = await relayPush(run.context(), { commands, wants: [edited], haves: [old], atomic: true });
    assert.equal(report.unpackOk, true);
    assert.ok(run.decisions().some((d) => d.includes(`refused filter ${THIN_PACK_FILTER}`) && d.includes('max depth 10')), run.decisions().join('\n'));
    // The bitmap walk finds no thin bases: the edited blob travels whole, as git's own fetch gets it.
    assert.ok(pack !== null && pack.bytes > 50_000, `${pack?.bytes} bytes`);
    assert.equal((await forEachRef(path)).get('refs/heads/text'), edited);
    await fsck(path);
  });

  it('sends a self-contained pack to a target that says no-thin', async (t) => {
    const { old, edited, path } = await textEdit();
    // git's receive-pack never advertises no-thin; this one refuses thin packs (index-pack
    // without --fix-thin), and the test reads its advertisement as if it had said so.
    const bin = join(dir.path, 'no-thin-bin');
    mkdirSync(bin, { recursive: true });
    const realGit = (await git(['--exec-path'])).trim() + '/git';
    writeFileSync(
      join(bin, 'git'),
      `#!/bin/sh\nif [ "$1" = receive-pack ]; then shift; exec "${realGit}" receive-pack --reject-thin-pack-for-testing "$@"; fi\nexec "${realGit}" "$@"\n`,
      { mode: 0o755 },
    );
    const savedPath = process.env['PATH'];
    process.env['PATH'] = `${bin}${delimiter}${savedPath ?? ''}`;
    t.after(() => {
      process.env['PATH'] = savedPath;
    });
    const run = await openRun(t, source.path, path);
    const commands = [{ ref: 'refs/heads/text', oldHash: old, newHash: edited }];
    // First as the relay would without no-thin: this receiver refuses the thin pack.
    const thin = await relayPush(run.context(), { commands, wants: [edited], haves: [old], atomic: true }).then(
      ({ report }) => report.unpackOk,
      () => false,
    );
    assert.equal(thin, false, 'the receiver refuses thin packs');
    (run.target.discovery.features as { noThin: boolean }).noThin = true;
    const { report, pack } = await relayPush(run.context(), { commands, wants: [edited], haves: [old], atomic: true });
    assert.equal(report.unpackOk, true);
    assert.ok(pack !== null && pack.bytes > 50_000, `a self-contained pack carries the whole blob (${pack?.bytes} bytes)`);
    assert.equal((await forEachRef(path)).get('refs/heads/text'), edited);
    await fsck(path);
  });

  it('with no wants pushes the ref alone: no fetch, no pack', async (t) => {
    const path = await target();
    const run = await openRun(t, source.path, path);
    const commands = [{ ref: 'refs/heads/copy', oldHash: null, newHash: first }];
    const { report, pack } = await relayPush(run.context(), { commands, wants: [], haves: [first], atomic: true });
    assert.equal(pack, null);
    assert.equal(report.refs[0]?.status, 'ok');
    assert.equal((await forEachRef(path)).get('refs/heads/copy'), first);
    assert.equal(run.stats().phases['source fetch'], undefined, 'the source was not asked for a pack');
  });

  it('stops a pack over maxPackBytes before its end leaves: no ref moves, no object lands', async (t) => {
    const path = await target();
    const before = await forEachRef(path);
    const run = await openRun(t, source.path, path);
    const commands = [{ ref: 'refs/heads/big', oldHash: null, newHash: big }];
    await assert.rejects(relayPush(run.context({ maxPackBytes: 64 * 1024 }), { commands, wants: [big], haves: [first], atomic: true }), PackTooLargeError);
    assert.deepEqual(await forEachRef(path), before);
    assert.equal(await git(['cat-file', '-t', big], { cwd: path }).catch(() => 'missing'), 'missing');
    await fsck(path);
  });

  it('aborts a pack that crosses a batch budget with what was sent, and nothing lands', async (t) => {
    const path = await target();
    const before = await forEachRef(path);
    const run = await openRun(t, source.path, path);
    const commands = [{ ref: 'refs/heads/big', oldHash: null, newHash: big }];
    const error = await relayPush(run.context(), { commands, wants: [big], haves: [first], atomic: true, budgetBytes: 100 * 1024 }).then(
      () => assert.fail('the push went through'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof PackOverBudgetError, String(error));
    assert.equal(error.budgetBytes, 100 * 1024);
    assert.ok(error.sentBytes > error.budgetBytes, `${error.sentBytes} bytes reached, past the budget`);
    assert.deepEqual(await forEachRef(path), before);
    await fsck(path);
  });

  it('a source that refuses the want fails the relay, and the target keeps its refs', async (t) => {
    const path = await target();
    const before = await forEachRef(path);
    const run = await openRun(t, source.path, path);
    const unknown = 'c0ffee'.padEnd(40, '0') as Oid;
    const commands = [{ ref: 'refs/heads/ghost', oldHash: null, newHash: unknown }];
    await assert.rejects(relayPush(run.context(), { commands, wants: [unknown], haves: [], atomic: true }), RemoteError);
    assert.deepEqual(await forEachRef(path), before);
  });

  it('an HTTP target that refuses the body for its size: PushRefusedError with status and bytes sent, nothing lands', async (t) => {
    const server = await startGitHttpServer({ maxRequestBytes: 64 * 1024 });
    t.after(() => server.close());
    await git(['init', '--quiet', '--bare', join(server.root, 'target.git')]);
    await git(['push', '--quiet', join(server.root, 'target.git'), `${first}:refs/heads/main`], { cwd: source.path });
    const run = await openRun(t, source.path, server.url('target'));
    const commands = [{ ref: 'refs/heads/big', oldHash: null, newHash: big }];
    const error = await relayPush(run.context(), { commands, wants: [big], haves: [first], atomic: true }).then(
      () => assert.fail('the push went through'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof PushRefusedError, String(error));
    assert.equal(error.status, 413);
    assert.ok(error.packBytesSent > 0 && error.packBytesSent <= 256 * 1024 + 4096, `${error.packBytesSent} pack bytes sent`);
    assert.deepEqual([...(await forEachRef(join(server.root, 'target.git'))).keys()], ['refs/heads/main']);
  });

  it('an abort before the first byte fails with AbortedError and changes nothing', async (t) => {
    const path = await target();
    const before = await forEachRef(path);
    const run = await openRun(t, source.path, path);
    const controller = new AbortController();
    controller.abort();
    const commands = [{ ref: 'refs/heads/main', oldHash: first, newHash: tip }];
    await assert.rejects(relayPush(run.context({ signal: controller.signal }), { commands, wants: [tip], haves: [first], atomic: true }), AbortedError);
    assert.deepEqual(await forEachRef(path), before);
  });
});
