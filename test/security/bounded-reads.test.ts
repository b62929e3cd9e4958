/**
 * Issue 20, item 2 (docs/security.md, "Bounded memory and time"): every reader of server data
 * has a cap. A server that lists refs without end (over ssh, over HTTP v2 `ls-refs`, as a
 * target), advertises capabilities without end (v2 over git://, a remote helper), acknowledges
 * without end, or reports a push without end ends the run with RESPONSE_TOO_LARGE naming the
 * side and what overflowed; the child's peak RSS stays under a bound and a target is untouched.
 * Progress text without line ends is shown in pieces, never held whole.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import {
  advertisementSteps,
  hostileHelper,
  hostilePipe,
  pktLine,
  runCliMeasured,
  startHostileDaemon,
  startHostileHttp,
  type MeasuredRun,
} from '../helpers/hostile-server.js';

const RSS_BOUND = 200 * 1024 * 1024;
const OID = 'a'.repeat(40);
const ZERO = '0'.repeat(40);

/** A thousand ref lines in one write: an endless listing arrives at pipe speed. */
const REF_LINES = Buffer.concat(Array.from({ length: 1000 }, (_, i) => pktLine(`${OID} refs/heads/endless-${String(i).padStart(20, '0')}\n`)));

interface JsonError {
  code: string;
  message: string;
  side: string | null;
}

function errorOf(run: MeasuredRun): JsonError {
  const result = JSON.parse(run.stdout) as { error: JsonError | null };
  assert.ok(result.error !== null, run.stdout);
  return result.error;
}

/** The run failed with RESPONSE_TOO_LARGE for `side`, message matching `what`, within the memory bound. */
function assertOverflow(run: MeasuredRun, side: 'source' | 'target', what: RegExp): void {
  assert.equal(run.code, 1, `exit ${run.code}\n${run.stderr}`);
  const error = errorOf(run);
  assert.equal(error.code, 'RESPONSE_TOO_LARGE', error.message);
  assert.equal(error.side, side, error.message);
  assert.match(error.message, what);
  assert.ok(run.peakRssBytes < RSS_BOUND, `peak RSS ${run.peakRssBytes}`);
}

describe('every reader of server data has a cap (issue 20, item 2)', () => {
  let source: FixtureRepo;

  before(async () => {
    source = await createRepo({ name: 'source' });
    await source.commit('main', { message: 'one' });
    await source.commit('main', { message: 'two' });
  });
  after(async () => {
    await source.remove();
  });

  it('stops an endless ref advertisement over ssh at the listing limit (default 32 MiB)', async () => {
    const peer = await hostilePipe({ uploadPack: [{ pkt: `${OID} refs/heads/main\0ofs-delta side-band-64k\n` }, { repeat: REF_LINES }] });
    try {
      const run = await runCliMeasured(['probe', '--json', '--retries', '0', peer.url], peer.env);
      assertOverflow(run, 'source', /the source's ref listing exceeds 33554432 bytes/);
      assert.match(run.stderr, /pass a larger --max-ref-listing-bytes/);
    } finally {
      await peer.close();
    }
  });

  it('stops an endless v2 ls-refs answer over HTTP at the listing limit', async () => {
    const server = await startHostileHttp({
      advertisement: [{ pkt: 'version 2\n' }, { pkt: 'ls-refs\n' }, { pkt: 'fetch\n' }, { flush: true }],
      uploadPack: [{ read: 'all' }, { repeat: REF_LINES }],
    });
    try {
      const run = await runCliMeasured(['probe', '--json', '--retries', '0', server.url]);
      assertOverflow(run, 'source', /git-upload-pack: the source's ref listing exceeds 33554432 bytes/);
    } finally {
      await server.close();
    }
  });

  it('stops an endless target advertisement, as the target, before anything is pushed', async () => {
    const peer = await hostilePipe({ receivePack: [{ pkt: `${ZERO} capabilities^{}\0report-status delete-refs ofs-delta\n` }, { repeat: REF_LINES }] });
    try {
      const run = await runCliMeasured(['sync', '--json', '--retries', '0', source.path, peer.url], peer.env);
      assertOverflow(run, 'target', /the target's ref listing exceeds 33554432 bytes/);
    } finally {
      await peer.close();
    }
  });

  it('takes the listing limit from --max-ref-listing-bytes and GITSYNC_MAX_REF_LISTING_BYTES (a real git upload-pack)', async () => {
    const small = await runCliMeasured(['probe', '--json', '--max-ref-listing-bytes', '100', source.path]);
    assertOverflow(small, 'source', /the source's ref listing exceeds 100 bytes/);
    const fromEnv = await runCliMeasured(['probe', '--json', source.path], { GITSYNC_MAX_REF_LISTING_BYTES: '100B' });
    assertOverflow(fromEnv, 'source', /exceeds 100 bytes/);
    const enough = await runCliMeasured(['probe', '--json', '--max-ref-listing-bytes', '1MiB', source.path]);
    assert.equal(enough.code, 0, enough.stderr);
    assert.match(enough.stdout, /refs\/heads\/main/);
  });

  it('stops an endless v2 capability advertisement over git:// after 256 lines', async () => {
    const daemon = await startHostileDaemon({ uploadPack: [{ pkt: 'version 2\n' }, { repeat: pktLine('ls-refs\n') }] });
    try {
      const run = await runCliMeasured(['probe', '--json', '--retries', '0', daemon.url]);
      assertOverflow(run, 'source', /the v2 capability advertisement has more than 256 lines/);
    } finally {
      await daemon.close();
    }
  });

  it('stops a fetch response that acknowledges without end before its pack', async () => {
    const peer = await hostilePipe({
      uploadPack: [...advertisementSteps([['refs/heads/main', OID]], 'ofs-delta side-band-64k'), { read: 'until-flush' }, { repeat: pktLine('NAK\n') }],
    });
    try {
      const run = await runCliMeasured(['fetch', '--json', '--retries', '0', peer.url], peer.env);
      assertOverflow(run, 'source', /the fetch response has more than 64 lines before its pack \(for 0 haves\)/);
    } finally {
      await peer.close();
    }
  });

  it('passes progress text without line ends on in pieces, never holding it whole (-v shows it)', async () => {
    // 32 MB of band-2 text without a line end, then the server's own error on band 3.
    const peer = await hostilePipe({
      uploadPack: [
        ...advertisementSteps([['refs/heads/main', OID]], 'ofs-delta side-band-64k'),
        { read: 'until-flush' },
        { pkt: 'NAK\n' },
        { repeat: pktLine(Buffer.concat([Buffer.from([2]), Buffer.alloc(65000, 'x')])), times: 516 },
        { band: 3, data: 'gave up\n' },
      ],
    });
    try {
      const run = await runCliMeasured(['fetch', '--json', '-v', '--retries', '0', peer.url], peer.env);
      assert.equal(run.code, 1, run.stderr.slice(-2000));
      assert.equal(errorOf(run).code, 'REMOTE_ERROR');
      assert.ok(run.stderr.length > 516 * 65000, `the progress was shown (${run.stderr.length} characters)`);
      assert.ok(run.peakRssBytes < RSS_BOUND, `peak RSS ${run.peakRssBytes}`);
    } finally {
      await peer.close();
    }
  });

  it('stops a push report without end, as the target', async () => {
    const peer = await hostilePipe({
      receivePack: [
        { pkt: `${ZERO} capabilities^{}\0report-status delete-refs ofs-delta\n` },
        { flush: true },
        { read: 'until-flush' },
        { pkt: 'unpack ok\n' },
        { repeat: pktLine('ok refs/heads/main\n') },
      ],
    });
    try {
      const run = await runCliMeasured(['sync', '--json', '--retries', '0', source.path, peer.url], peer.env);
      assertOverflow(run, 'target', /the push report has more than 7 lines for 1 command/);
    } finally {
      await peer.close();
    }
  });

  it("stops a remote helper's endless capability list, and an endless handshake line", async () => {
    const listing = await hostileHelper({ uploadPack: [{ repeat: 'option\n' }] });
    try {
      const run = await runCliMeasured(['probe', '--json', '--retries', '0', listing.url], listing.env);
      assertOverflow(run, 'source', /git-remote-hostile lists more than 256 capabilities/);
    } finally {
      await listing.close();
    }
    const line = await hostileHelper({ uploadPack: [{ repeat: 'x'.repeat(1000) }] });
    try {
      const run = await runCliMeasured(['probe', '--json', '--retries', '0', line.url], line.env);
      assertOverflow(run, 'source', /handshake line longer than 8192 bytes/);
    } finally {
      await line.close();
    }
  });
});
