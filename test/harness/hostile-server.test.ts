/** The hostile-server helper itself: its scripts reach git-sync over a pipe and over HTTP. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advertisementSteps, hostilePipe, runCliMeasured, startHostileHttp } from '../helpers/hostile-server.js';

const OID = 'a'.repeat(40);
const REFS = [['refs/heads/main', OID]] as const;

describe('hostile-server helper', () => {
  it('plays an advertisement over a pipe (GIT_SSH_COMMAND) and the CLI reads it', async () => {
    const peer = await hostilePipe({ uploadPack: advertisementSteps(REFS, 'ofs-delta agent=hostile') });
    try {
      const run = await runCliMeasured(['probe', '--protocol', 'v1', '--json', peer.url], peer.env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /refs\/heads\/main/);
      assert.match(run.stdout, new RegExp(OID));
      assert.ok(Number.isFinite(run.peakRssBytes) && run.peakRssBytes > 1024 * 1024, `peak RSS ${run.peakRssBytes}`);
    } finally {
      await peer.close();
    }
  });

  it('plays a smart-HTTP advertisement and records the requests', async () => {
    const server = await startHostileHttp({
      advertisement: [{ pkt: '# service=git-upload-pack\n' }, { flush: true }, ...advertisementSteps(REFS, 'ofs-delta agent=hostile')],
    });
    try {
      const run = await runCliMeasured(['probe', '--protocol', 'v1', '--json', server.url]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /refs\/heads\/main/);
      assert.ok(server.requests.some((line) => line.startsWith('GET /repo.git/info/refs?service=git-upload-pack')), server.requests.join('\n'));
    } finally {
      await server.close();
    }
  });

  it('ends a run that does not end by itself, and reports the peak as unknown', async () => {
    const peer = await hostilePipe({ uploadPack: [{ sleep: 60_000 }] });
    try {
      const run = await runCliMeasured(['probe', '--timeout', '60s', peer.url], peer.env, 1_500);
      assert.equal(run.code, 137);
      assert.equal(run.peakRssBytes, Number.POSITIVE_INFINITY);
    } finally {
      await peer.close();
    }
  });
});
