/**
 * Issue 20, item 1 (docs/security.md, "Bounded memory and time"): a source's pack cannot make
 * git-sync allocate what its headers declare. A commit delta declaring a gigabyte result, a
 * delta declaring more than its instructions can make, a commit entry declaring 4 GiB, and a
 * pack header claiming 4294967295 objects each end the planning of a real sync with PACK_FORMAT,
 * the source named, the child's peak RSS far below what was declared, and the target untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck } from '../helpers/git.js';
import { advertisementSteps, hostilePipe, runCliMeasured, type HostileScript } from '../helpers/hostile-server.js';
import { buildPack, sizeVarint, type RawEntry } from '../pack/pack-builder.js';

/** Far below any declared size below, far above what planning needs (about 50 MiB). */
const RSS_BOUND = 200 * 1024 * 1024;
const SOURCE_TIP = 'b'.repeat(40);

/** A copy instruction of `size` bytes (1-0xffff) from base offset 0. */
function copyAll(size: number): Buffer {
  return Buffer.from([0x80 | 0x10 | 0x20, size & 0xff, (size >>> 8) & 0xff]);
}

function commitBody(parent: string, message: string): Buffer {
  return Buffer.from(
    `tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent ${parent}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\n${message}\n`,
  );
}

/** The source: a v1 upload-pack advertising main at SOURCE_TIP, answering any fetch with `pack`. */
function sourceScript(pack: Buffer): HostileScript {
  const frames = [];
  for (let at = 0; at < pack.length; at += 65000) frames.push({ band: 1 as const, data: pack.subarray(at, at + 65000) });
  return {
    uploadPack: [
      ...advertisementSteps([['refs/heads/main', SOURCE_TIP]], 'ofs-delta side-band-64k no-progress agent=hostile'),
      { read: 'until-flush' },
      { pkt: 'NAK\n' },
      ...frames,
      { flush: true },
    ],
  };
}

describe('a hostile pack cannot make git-sync allocate what it declares (issue 20, item 1)', () => {
  let target: FixtureRepo;
  let targetTip: string;

  before(async () => {
    target = await createRepo({ name: 'target' });
    targetTip = await target.commit('main', { message: 'the target tip' });
  });
  after(async () => {
    await target.remove();
  });

  /** Runs `sync` from a source sending `pack` for the ancestry question; returns the JSON error and the peak. */
  async function syncAgainst(pack: Buffer): Promise<{ error: { code: string; side: string; message: string }; peak: number }> {
    const peer = await hostilePipe(sourceScript(pack));
    try {
      const before = await forEachRef(target.path);
      const run = await runCliMeasured(['sync', '--json', '--retries', '0', peer.url, target.path], peer.env, 120_000);
      assert.equal(run.code, 1, `exit ${run.code}\n${run.stderr}`);
      const result = JSON.parse(run.stdout) as { targets?: { error: unknown }[]; error: unknown };
      const error = (result.error ?? result.targets?.[0]?.error) as { code: string; side: string; message: string };
      assert.deepEqual(await forEachRef(target.path), before, 'the target is untouched');
      await fsck(target.path);
      return { error, peak: run.peakRssBytes };
    } finally {
      await peer.close();
    }
  }

  it('refuses a commit delta that declares a 1 GiB result, without allocating it', async () => {
    const base = commitBody(targetTip, 'base');
    const delta = Buffer.concat([sizeVarint(base.length), sizeVarint(1 << 30), copyAll(base.length)]);
    const entries: RawEntry[] = [{ type: 1, data: base }, { type: 6, data: delta, baseEntry: 0 }];
    const { pack } = buildPack(entries);
    assert.ok(pack.length < 400, `a ${pack.length}-byte pack`);
    const { error, peak } = await syncAgainst(pack);
    assert.equal(error.code, 'PACK_FORMAT', error.message);
    assert.equal(error.side, 'source');
    assert.match(error.message, /declares a result of 1073741824 bytes/);
    assert.ok(peak < RSS_BOUND, `peak RSS ${peak}`);
  });

  it('refuses a delta that declares more than its instructions can make', async () => {
    const base = commitBody(targetTip, 'base');
    // 8 MiB declared (the most a commit may be), three bytes of instructions copying ~200 bytes.
    const delta = Buffer.concat([sizeVarint(base.length), sizeVarint(8 * 1024 * 1024), copyAll(base.length)]);
    const { pack } = buildPack([{ type: 1, data: base }, { type: 6, data: delta, baseEntry: 0 }]);
    const { error, peak } = await syncAgainst(pack);
    assert.equal(error.code, 'PACK_FORMAT', error.message);
    assert.match(error.message, /more than its 3 bytes of instructions can make/);
    assert.ok(peak < RSS_BOUND, `peak RSS ${peak}`);
  });

  it('refuses a commit entry that declares 4 GiB before inflating it', async () => {
    const body = commitBody(targetTip, 'x');
    const { pack } = buildPack([{ type: 1, data: body, size: 2 ** 32 }]);
    const { error, peak } = await syncAgainst(pack);
    assert.equal(error.code, 'PACK_FORMAT', error.message);
    assert.match(error.message, /declares 4294967296 bytes/);
    assert.ok(peak < RSS_BOUND, `peak RSS ${peak}`);
  });

  it('reads a header claiming 4294967295 objects as the short pack it is (a typed error, not a RangeError)', async () => {
    const { pack } = buildPack([{ type: 1, data: commitBody(targetTip, 'only') }], { count: 0xffffffff });
    const { error, peak } = await syncAgainst(pack);
    assert.equal(error.code, 'PACK_FORMAT', error.message);
    assert.match(error.message, /declares 4294967295 objects but the pack ends after 1/);
    assert.ok(peak < RSS_BOUND, `peak RSS ${peak}`);
  });
});
