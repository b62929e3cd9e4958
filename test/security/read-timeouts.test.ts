/**
 * Issue 20, item 3 (docs/security.md, "Bounded memory and time"; docs/usage.md, "Timeouts and
 * retries"): `--timeout` is a read timeout on every transport, and it counts the server's
 * progress (a whole packet, a whole handshake line), not bytes. A server that trickles a byte
 * now and then — over HTTP (the advertisement, a fetch response), ssh, git:// and a remote
 * helper — ends the run with TIMEOUT_IDLE naming the source; a server that sends whole packets
 * slowly, each well within the timeout, is never cut however long it takes in all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  advertisementSteps,
  hostileHelper,
  hostilePipe,
  runCliMeasured,
  startHostileDaemon,
  startHostileHttp,
  type HostileStep,
  type MeasuredRun,
} from '../helpers/hostile-server.js';

const OID = 'a'.repeat(40);
/** Short, so the tests are quick; the trickle below is four bytes per timeout. */
const TIMEOUT = ['--timeout', '1200ms', '--retries', '0'];
/** One byte every 300 ms, for ever: `aaaa` reads as the header of a 43690-byte packet that never completes. */
const TRICKLE: HostileStep = { repeat: 'a', everyMillis: 300 };
const FIRST_REF = { pkt: `${OID} refs/heads/main\0ofs-delta side-band-64k\n` };

function assertStalled(run: MeasuredRun): void {
  // Killed (137) would mean the trickle kept the run alive until the harness gave up.
  assert.equal(run.code, 1, `exit ${run.code}\n${run.stderr}`);
  const { error } = JSON.parse(run.stdout) as { error: { code: string; side: string; message: string } };
  assert.equal(error.code, 'TIMEOUT_IDLE', error.message);
  assert.equal(error.side, 'source');
  assert.match(error.message, /no progress either way for 1200 ms; the source server stopped sending/);
}

describe('the idle timeout counts progress, on every transport (issue 20, item 3)', () => {
  it('stops an HTTP server that trickles its advertisement', async () => {
    const server = await startHostileHttp({ advertisement: [{ pkt: '# service=git-upload-pack\n' }, { flush: true }, FIRST_REF, TRICKLE] });
    try {
      assertStalled(await runCliMeasured(['probe', '--json', '--protocol', 'v1', ...TIMEOUT, server.url]));
    } finally {
      await server.close();
    }
  });

  it('stops an HTTP server that trickles a fetch response inside a pack packet', async () => {
    const server = await startHostileHttp({
      advertisement: [{ pkt: '# service=git-upload-pack\n' }, { flush: true }, ...advertisementSteps([['refs/heads/main', OID]], 'ofs-delta side-band-64k')],
      uploadPack: [{ read: 'all' }, { pkt: 'NAK\n' }, { send: '8000\u0001PACK' }, { repeat: '\u0000', everyMillis: 300 }],
    });
    try {
      assertStalled(await runCliMeasured(['fetch', '--json', ...TIMEOUT, server.url]));
    } finally {
      await server.close();
    }
  });

  it('stops an ssh server that trickles', async () => {
    const peer = await hostilePipe({ uploadPack: [FIRST_REF, TRICKLE] });
    try {
      assertStalled(await runCliMeasured(['probe', '--json', '--protocol', 'v1', ...TIMEOUT, peer.url], peer.env));
    } finally {
      await peer.close();
    }
  });

  it('stops a git:// server that trickles', async () => {
    const daemon = await startHostileDaemon({ uploadPack: [FIRST_REF, TRICKLE] });
    try {
      assertStalled(await runCliMeasured(['probe', '--json', '--protocol', 'v1', ...TIMEOUT, daemon.url]));
    } finally {
      await daemon.close();
    }
  });

  it('stops a remote helper that trickles its capabilities line', async () => {
    const helper = await hostileHelper({ uploadPack: [{ repeat: 'c', everyMillis: 300 }] });
    try {
      assertStalled(await runCliMeasured(['probe', '--json', ...TIMEOUT, helper.url], helper.env));
    } finally {
      await helper.close();
    }
  });

  it('never cuts a server whose whole packets come slowly, each within the timeout', async () => {
    // Eight refs 400 ms apart: 3.2 s in all, more than twice the timeout, with progress throughout.
    const steps: HostileStep[] = [FIRST_REF];
    for (let i = 0; i < 8; i++) steps.push({ sleep: 400 }, { pkt: `${OID} refs/heads/slow-${i}\n` });
    steps.push({ flush: true });
    const peer = await hostilePipe({ uploadPack: steps });
    try {
      const run = await runCliMeasured(['probe', '--json', '--protocol', 'v1', ...TIMEOUT, peer.url], peer.env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /refs\/heads\/slow-7/);
    } finally {
      await peer.close();
    }
  });
});
