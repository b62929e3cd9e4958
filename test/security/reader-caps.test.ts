/**
 * Issue 20, items 2 and 3, the pure parts (docs/security.md, "Bounded memory and time"): the line
 * caps of the protocol readers, exactly at and one past their bound, and the progress the
 * transports' idle clock is told of (`PktLineReader`'s `onPacket`, `IdleClock`).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ResponseTooLargeError } from '../../src/errors.js';
import { MAX_V2_CAPABILITY_LINES, readAdvertisement } from '../../src/protocol/advertisement.js';
import { REPORT_LINES_PER_COMMAND, readReportStatus } from '../../src/protocol/report-status.js';
import { ACK_SLACK_LINES, readFetchResponseV1, readFetchResponseV2 } from '../../src/protocol/upload-pack.js';
import { IdleClock } from '../../src/transport/idle-clock.js';
import { DELIM_PKT, FLUSH_PKT, MAX_PKT_LENGTH, PktLineReader, pktLine } from '../../src/wire/pktline.js';
import { chunked, collect } from '../helpers/streams.js';

const OID = 'c'.repeat(40);

function reader(...parts: Buffer[]): PktLineReader {
  return new PktLineReader(chunked(Buffer.concat(parts), 7));
}

function lines(count: number, text: string): Buffer[] {
  return Array.from({ length: count }, () => pktLine(text));
}

async function overflow(promise: Promise<unknown>, what: ResponseTooLargeError['overflow']): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ResponseTooLargeError, String(error));
    assert.equal(error.code, 'RESPONSE_TOO_LARGE');
    assert.equal(error.overflow, what);
    return true;
  });
}

describe('protocol readers stop at their line caps', () => {
  it(`reads a v2 capability advertisement of ${MAX_V2_CAPABILITY_LINES} lines, not one more`, async () => {
    const at = await readAdvertisement(reader(pktLine('version 2\n'), ...lines(MAX_V2_CAPABILITY_LINES, 'ls-refs\n'), FLUSH_PKT));
    assert.equal(at.version, 'v2');
    await overflow(readAdvertisement(reader(pktLine('version 2\n'), ...lines(MAX_V2_CAPABILITY_LINES + 1, 'ls-refs\n'), FLUSH_PKT)), 'capabilities');
  });

  it('reads as many lines before a v1 pack as the haves explain, plus the slack', async () => {
    const pack = pktLine(Buffer.concat([Buffer.from([1]), Buffer.from('PACK')]));
    const haves = 10;
    const fits = await readFetchResponseV1(reader(...lines(haves + ACK_SLACK_LINES - 1, 'NAK\n'), pack), true, { haves });
    assert.equal((await collect(fits.pack)).toString('latin1'), 'PACK');
    await overflow(readFetchResponseV1(reader(...lines(haves + ACK_SLACK_LINES + 1, 'NAK\n'), pack), true, { haves }), 'acknowledgments');
  });

  it('stops a v2 acknowledgments section longer than the haves explain', async () => {
    const response = (acks: number): PktLineReader =>
      reader(pktLine('acknowledgments\n'), ...lines(acks, `ACK ${OID}\n`), pktLine('ready\n'), DELIM_PKT, pktLine('packfile\n'), FLUSH_PKT);
    const fits = await readFetchResponseV2(response(100), { haves: 100 });
    assert.equal(fits.acks.length, 100);
    await overflow(readFetchResponseV2(response(100 + ACK_SLACK_LINES), { haves: 100 }), 'acknowledgments');
  });

  it(`reads a push report of ${REPORT_LINES_PER_COMMAND} lines per command and the unpack line, not one more`, async () => {
    const full = [
      pktLine('unpack ok\n'),
      pktLine('ok refs/heads/main\n'),
      pktLine('option refname refs/heads/main\n'),
      pktLine(`option old-oid ${OID}\n`),
      pktLine(`option new-oid ${OID}\n`),
      pktLine('option forced-update\n'),
      pktLine('option future-key value\n'),
    ];
    const report = await readReportStatus(reader(...full, FLUSH_PKT), { sideband: false, commands: 1 });
    assert.equal(report.refs[0]!.options!.forcedUpdate, true);
    await overflow(readReportStatus(reader(...full, pktLine('option another value\n'), FLUSH_PKT), { sideband: false, commands: 1 }), 'push-report');
  });
});

describe('the progress a transport is told of', () => {
  it('is a whole packet, never a piece of one', async () => {
    let packets = 0;
    const bytes = Buffer.concat([pktLine('one\n'), FLUSH_PKT, pktLine('x'.repeat(1000)), DELIM_PKT]);
    const read = new PktLineReader(chunked(bytes, 1), { onPacket: () => (packets += 1) });
    const seen: number[] = [];
    while ((await read.read()) !== null) seen.push(packets);
    assert.deepEqual(seen, [1, 2, 3, 4]);
  });

  it('is a packet worth of raw bytes after the pkt-lines', async () => {
    let packets = 0;
    const raw = Buffer.alloc(MAX_PKT_LENGTH * 3 + 10);
    const read = new PktLineReader(chunked(Buffer.concat([FLUSH_PKT, raw]), 1000), { onPacket: () => (packets += 1) });
    await read.read();
    assert.equal(packets, 1);
    assert.equal((await collect(read.rest())).length, raw.length);
    assert.equal(packets, 4);
  });

  it('lets the idle clock count quiet across waits until progress, and only then start over', async () => {
    // Twenty waits of 100 ms each: 2 s of quiet in all, past the 1 s timeout, unless progress
    // comes between them; no single wait comes near the timeout.
    const waits = async (clock: IdleClock, progress: boolean): Promise<boolean> => {
      let idle = false;
      for (let i = 0; i < 20 && !idle; i++) {
        const stop = clock.watch(1000, () => (idle = true));
        await sleep(100);
        stop();
        if (progress) clock.touch();
      }
      return idle;
    };
    assert.equal(await waits(new IdleClock(), false), true, 'bytes without progress add up to the timeout');
    assert.equal(await waits(new IdleClock(), true), false, 'progress between the waits starts the quiet over');
  });

  it('never fires while the conversation is held (a relay waiting on its other side)', async () => {
    const clock = new IdleClock();
    let idle = false;
    const release = clock.hold();
    const stop = clock.watch(50, () => (idle = true));
    await sleep(300);
    assert.equal(idle, false);
    release();
    await sleep(300);
    stop();
    assert.equal(idle, true, 'after the release, the quiet counts again');
  });
});
