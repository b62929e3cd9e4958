/**
 * A source's corrupt pack is the source's failure even when the target meets the corruption
 * first (docs/security.md, "Bounded memory and time"): the target's receive-pack stops at the bad
 * object and answers `unpack ... abnormal exit` while git-sync has not reached the pack's
 * checksum yet. git-sync then reads the rest of the pack through its checks and reports
 * PACK_FORMAT on the source's side, not the target's refusal; the target keeps no ref.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRepo, pseudoRandomBytes } from '../helpers/fixtures.js';
import { forEachRef, git, gitRaw, makeTempDir, type TempDir } from '../helpers/git.js';
import { advertisementSteps, hostilePipe, runCliMeasured, type HostileScript } from '../helpers/hostile-server.js';

describe('a corrupt pack is blamed on the source, whoever meets it first', () => {
  let dir: TempDir;
  let tip: string;
  let pack: Buffer;

  before(async () => {
    dir = makeTempDir('gitsync-blame-');
    const repo = await createRepo({ parentDir: dir.path, name: 'real' });
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
});
