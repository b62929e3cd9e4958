/**
 * A source's corrupt pack is the source's failure even when the target meets the corruption
 * first (docs/security.md, "Bounded memory and time"): the target's receive-pack stops at the bad
 * object and answers `unpack ... abnormal exit` while git-sync has not reached the pack's
 * checksum yet. git-sync then reads the rest of the pack through its checks and reports
 * PACK_FORMAT on the source's side, not the target's refusal; the target keeps no ref.
 *
 * The same holds when the target answers while the push itself is still waiting for the pack's
 * last bytes: the relay's read of the rest then queues behind the push's, and the checksum failure
 * reaches the push's read, not the relay's (a small pack a fast source streams ahead of a target
 * that keeps taking bytes, as the fault matrix's carriers do, under load).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GitSyncError } from '../../src/errors.js';
import { relayPush } from '../../src/execute/relay.js';
import type { FetchResponse } from '../../src/protocol/upload-pack.js';
import type { Oid } from '../../src/types.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, git, gitRaw, makeTempDir, type TempDir } from '../helpers/git.js';
import { advertisementSteps, hostilePipe, runCliMeasured, type HostileScript } from '../helpers/hostile-server.js';
import { openRun } from '../helpers/sessions.js';

describe('a corrupt pack is blamed on the source, whoever meets it first', () => {
  let dir: TempDir;
  let repo: FixtureRepo;
  let tip: string;
  let pack: Buffer;

  before(async () => {
    dir = makeTempDir('gitsync-blame-');
    repo = await createRepo({ parentDir: dir.path, name: 'real' });
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 8; i++) files[`f${i}.bin`] = pseudoRandomBytes(512 * 1024, `blame-${i}`);
    tip = await repo.commit('main', { files });
    pack = Buffer.from(await gitRaw(['pack-objects', '--stdout', '--revs', '-q'], { cwd: repo.path, input: `${tip}\n` }));
    // A byte inside the first large blob (random data, stored as deflate's stored blocks): the
    // target's unpacking fails at that object's end, long before the pack's end.
    pack[64 * 1024] = pack[64 * 1024]! ^ 0xff;
  });
  after(async () => dir?.remove());

  it('reports PACK_FORMAT on the source side and leaves the target without refs', async () => {
    const frames = [];
    for (let at = 0; at < pack.length; at += 65000) frames.push({ band: 1 as const, data: pack.subarray(at, at + 65000) });
    const script: HostileScript = {
      uploadPack: [
        ...advertisementSteps([['refs/heads/main', tip]], 'ofs-delta side-band-64k no-progress agent=hostile'),
        { read: 'until-flush' },
        { pkt: 'NAK\n' },
        ...frames,
        { flush: true },
      ],
    };
    const peer = await hostilePipe(script);
    const target = path.join(dir.path, 'target.git');
    await git(['init', '--quiet', '--bare', target]);
    try {
      const run = await runCliMeasured(['sync', '--json', '--protocol', 'v1', '--retries', '0', peer.url, target], peer.env);
      assert.equal(run.code, 1, run.stderr);
      const json = JSON.parse(run.stdout) as { error: { code: string; side: string | null; message: string } };
      assert.equal(json.error.code, 'PACK_FORMAT', json.error.message);
      assert.equal(json.error.side, 'source');
      assert.deepEqual(await forEachRef(target), new Map());
    } finally {
      await peer.close();
    }
  });

  it('reports PACK_FORMAT on the source side when the target answers while the push waits for the pack\'s end', async (t) => {
    // A small pack (it fits in the target's pipe: the push never waits for the target to take it).
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 4; i++) files[`s${i}.bin`] = pseudoRandomBytes(1024, `blame-small-${i}`);
    const small = (await repo.commit('small', { parents: [], files })) as Oid;
    const bytes = Buffer.from(await gitRaw(['pack-objects', '--stdout', '--revs', '-q'], { cwd: repo.path, input: `${small}\n` }));
    assert.ok(bytes.length < 16 * 1024, `${bytes.length} bytes`);
    // Inside the first object (the commit): the target's unpacking fails there.
    bytes[100] = bytes[100]! ^ 0xff;
    const target = path.join(dir.path, 'small-target.git');
    await git(['init', '--quiet', '--bare', target]);
    const run = await openRun(t, repo.path, target);
    // The target's report has been read: the push is about to hand it to the relay.
    let answered = (): void => undefined;
    const targetAnswered = new Promise<'answered'>((resolve) => (answered = () => resolve('answered')));
    const finishPush = run.target.finishPush.bind(run.target);
    run.target.finishPush = async (reader) => {
      answered();
      return finishPush(reader);
    };
    let order: 'answered' | 'timeout' | null = null;
    // The source (given as the relay's prefetched answer): the pack in two chunks, the second its
    // checksum. The relay hands the push the first (the corrupt byte with it) once the second came,
    // and holds the second back until the pack's end: so the push has taken all it will get and
    // waits for the end before the target can have met the corrupt byte. The end comes only after
    // the target answered and the relay, with no summary yet, asked for the rest (that happens in
    // the same turn of the event loop as the answer: the end comes on the next one).
    async function* sourcePack(): AsyncGenerator<Buffer> {
      yield bytes.subarray(0, bytes.length - 20);
      yield bytes.subarray(bytes.length - 20);
      order = await Promise.race([targetAnswered, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref())]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const prefetched = Promise.resolve<FetchResponse>({ acks: [], shallow: [], unshallow: [], pack: sourcePack() });
    const commands = [{ ref: 'refs/heads/small', oldHash: null, newHash: small }];
    const error = await relayPush(run.context(), { commands, wants: [small], haves: [], atomic: true, prefetched }).then(
      ({ report }) => assert.fail(`the relay returned the target's report (unpack: ${report.unpackError ?? 'ok'})`),
      (caught: unknown) => caught,
    );
    assert.equal(order, 'answered', 'the target answered before the pack ended');
    assert.ok(error instanceof GitSyncError, String(error));
    assert.equal(error.code, 'PACK_FORMAT', error.message);
    assert.equal(error.side, 'source');
    assert.deepEqual(await forEachRef(target), new Map());
  });
});
