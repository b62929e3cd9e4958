import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { GitSyncError, ProtocolError, RemoteError, TargetRefMovedError, TargetRejectedError } from '../../src/errors.js';
import { DELIM_PKT, FLUSH_PKT, PktLineReader, pktLine } from '../../src/wire/pktline.js';
import type { PushCommand } from '../../src/protocol/receive-pack.js';
import { classifyRejection, pushReportError, readReportStatus, type PushReport } from '../../src/protocol/report-status.js';
import type { Oid } from '../../src/types.js';
import { chunked, repoRoot, transcript } from '../helpers/streams.js';

const hashes = Object.fromEntries(
  readFileSync(path.join(repoRoot, 'test', 'fixtures', 'transcripts', 'push-hashes.txt'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('=') as [string, string]),
);
const base = hashes.base as Oid;
const next = hashes.next as Oid;
const feature = hashes.feature as Oid;

const updateMain: PushCommand = { ref: 'refs/heads/main', oldHash: base, newHash: next };
const createFeature: PushCommand = { ref: 'refs/heads/feature', oldHash: null, newHash: feature };

function reader(bytes: Buffer, size = 1 << 16): PktLineReader {
  return new PktLineReader(chunked(bytes, size));
}

function band(n: number, payload: string | Buffer): Buffer {
  return pktLine(Buffer.concat([Buffer.from([n]), Buffer.isBuffer(payload) ? payload : Buffer.from(payload)]));
}

/** A report as receive-pack frames it with side-band-64k: the report's pkt-lines inside band 1. */
function sidebandReport(...lines: string[]): Buffer {
  return Buffer.concat([band(1, Buffer.concat([...lines.map((l) => pktLine(`${l}\n`)), FLUSH_PKT])), FLUSH_PKT]);
}

function plainReport(...lines: string[]): Buffer {
  return Buffer.concat([...lines.map((l) => pktLine(`${l}\n`)), FLUSH_PKT]);
}

async function read(name: string, sideband = true, size = 1 << 16): Promise<{ report: PushReport; progress: string[] }> {
  const progress: string[] = [];
  const report = await readReportStatus(reader(transcript(name), size), { sideband, onProgress: (m) => progress.push(m) });
  return { report, progress };
}

function statuses(report: PushReport): string[] {
  return report.refs.map((r) => (r.status === 'ok' ? `ok ${r.ref}` : `ng ${r.ref} ${r.reason}`));
}

describe('push reports captured from git receive-pack', () => {
  it('success with side-band-64k: report re-framed from band 1, post-receive output after it, at any chunking', async () => {
    for (const size of [1, 7, 65536]) {
      const { report, progress } = await read('push-ok-sideband.bin', true, size);
      assert.equal(report.unpackOk, true);
      assert.equal(report.unpackError, null);
      assert.deepEqual(statuses(report), ['ok refs/heads/main', 'ok refs/heads/feature']);
      assert.deepEqual(progress, ['post-receive: thanks']);
      assert.equal(pushReportError(report, [updateMain, createFeature]), null);
    }
  });

  it('success with report-status-v2: plain ok lines, no options from a stock receive-pack', async () => {
    const { report } = await read('push-ok-v2.bin');
    assert.deepEqual(statuses(report), ['ok refs/heads/main', 'ok refs/heads/feature']);
    assert.ok(report.refs.every((r) => r.options === null));
  });

  it('success without sideband: plain pkt-lines, the reader left after the flush', async () => {
    const bytes = Buffer.concat([transcript('push-ok-plain.bin'), pktLine('next\n')]);
    const r = reader(bytes, 3);
    const report = await readReportStatus(r, { sideband: false });
    assert.deepEqual(statuses(report), ['ok refs/heads/main', 'ok refs/heads/feature']);
    assert.equal((await r.read())?.type, 'data', 'bytes after the report stay unread');
  });

  it('pre-receive hook refusal: every ref ng, the hook message on band 2', async () => {
    const { report, progress } = await read('push-pre-receive.bin');
    assert.equal(report.unpackOk, true);
    assert.deepEqual(statuses(report), ['ng refs/heads/main pre-receive hook declined', 'ng refs/heads/feature pre-receive hook declined']);
    assert.deepEqual(progress, ['pushes are frozen until Monday']);
    const error = pushReportError(report, [updateMain, createFeature]);
    assert.ok(error instanceof TargetRejectedError);
    assert.deepEqual(error.rejections.map((r) => r.ref), ['refs/heads/main', 'refs/heads/feature']);
    assert.equal(error.code, 'TARGET_REJECTED');
  });

  it('update hook refusal: one ref ng, the other ok', async () => {
    const { report, progress } = await read('push-update-hook.bin');
    assert.deepEqual(statuses(report), ['ok refs/heads/main', 'ng refs/heads/feature hook declined']);
    assert.deepEqual(report.remoteErrors, ['error: hook declined to update refs/heads/feature']);
    assert.ok(progress.includes('feature branches are closed'));
    const error = pushReportError(report, [updateMain, createFeature]);
    assert.ok(error instanceof TargetRejectedError);
    assert.deepEqual(error.rejections, [{ ref: 'refs/heads/feature', reason: 'hook declined' }]);
  });

  it('lease miss: "failed to update ref", with the lock message on band 2', async () => {
    const { report } = await read('push-lease-miss.bin');
    assert.deepEqual(statuses(report), ['ng refs/heads/main failed to update ref']);
    assert.match(report.remoteErrors[0] ?? '', /^error: cannot lock ref 'refs\/heads\/main': is at [0-9a-f]{40} but expected [0-9a-f]{40}$/);
    const error = pushReportError(report, [{ ref: 'refs/heads/main', oldHash: feature, newHash: next }]);
    assert.ok(error instanceof TargetRefMovedError);
    assert.equal(error.ref, 'refs/heads/main');
    assert.equal(error.code, 'TARGET_REF_MOVED');
  });

  it('creating a ref that already exists counts as the ref having moved', async () => {
    const { report } = await read('push-create-exists.bin');
    assert.deepEqual(statuses(report), ['ng refs/heads/old failed to update ref']);
    assert.deepEqual(report.remoteErrors, ["error: cannot lock ref 'refs/heads/old': reference already exists"]);
    const error = pushReportError(report, [{ ref: 'refs/heads/old', oldHash: null, newHash: next }]);
    assert.ok(error instanceof TargetRefMovedError);
    assert.equal(error.ref, 'refs/heads/old');
  });

  it('deletes: accepted, or refused with a stale old value', async () => {
    assert.deepEqual(statuses((await read('push-delete.bin')).report), ['ok refs/heads/old']);
    const stale = (await read('push-delete-stale.bin')).report;
    assert.deepEqual(statuses(stale), ['ng refs/heads/old failed to update ref']);
    assert.ok(pushReportError(stale, [{ ref: 'refs/heads/old', oldHash: next, newHash: null }]) instanceof TargetRefMovedError);
  });

  it('atomic push with a stale ref: every ref "atomic transaction failed", the moved ref found on band 2', async () => {
    const { report } = await read('push-atomic.bin');
    assert.deepEqual(statuses(report), [
      'ng refs/heads/main atomic transaction failed',
      'ng refs/heads/feature atomic transaction failed',
      'ng refs/heads/old atomic transaction failed',
    ]);
    const error = pushReportError(report, [updateMain, createFeature, { ref: 'refs/heads/old', oldHash: next, newHash: feature }]);
    assert.ok(error instanceof TargetRefMovedError);
    assert.equal(error.ref, 'refs/heads/old', 'not the first ref: the one whose lock failed');
  });

  it('atomic push with a hook refusal: the others fail with "atomic push failure"', async () => {
    const { report } = await read('push-atomic-hook.bin');
    assert.deepEqual(statuses(report), ['ng refs/heads/main atomic push failure', 'ng refs/heads/feature hook declined']);
    const error = pushReportError(report, [updateMain, createFeature]);
    assert.ok(error instanceof TargetRejectedError);
    assert.equal(error.rejections.length, 2);
  });

  it('corrupt pack: unpack error, every ref "unpacker error"', async () => {
    const { report, progress } = await read('push-bad-pack.bin');
    assert.equal(report.unpackOk, false);
    assert.equal(report.unpackError, 'unpack-objects abnormal exit');
    assert.deepEqual(statuses(report), ['ng refs/heads/main unpacker error', 'ng refs/heads/feature unpacker error']);
    assert.deepEqual(progress, ['fatal: early EOF']);
    const error = pushReportError(report, [updateMain, createFeature]);
    assert.ok(error instanceof TargetRejectedError);
    assert.equal(error.unpackError, 'unpack-objects abnormal exit');
    assert.match(error.message, /could not unpack/);
  });

  it('policy refusals: non-fast-forward, missing objects, deletion prohibited', async () => {
    const nonFf = (await read('push-non-ff.bin')).report;
    assert.deepEqual(statuses(nonFf), ['ng refs/heads/main non-fast-forward']);
    assert.deepEqual(nonFf.remoteErrors, ['error: denying non-fast-forward refs/heads/main (you should pull first)']);
    assert.deepEqual(statuses((await read('push-missing-objects.bin')).report), ['ng refs/heads/main missing necessary objects']);
    const denied = (await read('push-deny-delete.bin')).report;
    assert.deepEqual(statuses(denied), ['ng refs/heads/old deletion prohibited']);
    assert.ok(pushReportError(denied, [{ ref: 'refs/heads/old', oldHash: base, newHash: null }]) instanceof TargetRejectedError);
  });

  it('every truncation of a captured report is a typed error, never a hang', async () => {
    for (const [name, sideband] of [
      ['push-ok-plain.bin', false],
      ['push-atomic.bin', true],
    ] as const) {
      const bytes = transcript(name);
      // With sideband, the response may end (EOF) once the band-1 packet holding the report is complete.
      const complete = sideband ? bytes.lastIndexOf(Buffer.from('0000')) : bytes.length;
      for (let cut = 0; cut < complete; cut++) {
        await assert.rejects(readReportStatus(reader(bytes.subarray(0, cut), 5), { sideband }), ProtocolError, `${name} cut at ${cut}`);
      }
    }
  });
});

describe('push report parsing', () => {
  it('reads report-status-v2 options after an ok line', async () => {
    const bytes = sidebandReport(
      'unpack ok',
      'ok refs/for/main',
      'option refname refs/changes/01/1/1',
      `option old-oid ${base}`,
      `option new-oid ${next}`,
      'option forced-update',
      'option future-thing whatever',
      'ok refs/heads/dev',
      'ng refs/heads/x non-fast-forward',
    );
    const report = await readReportStatus(reader(bytes, 2), { sideband: true });
    assert.deepEqual(report.refs, [
      { ref: 'refs/for/main', status: 'ok', reason: null, options: { refname: 'refs/changes/01/1/1', oldOid: base, newOid: next, forcedUpdate: true } },
      { ref: 'refs/heads/dev', status: 'ok', reason: null, options: null },
      { ref: 'refs/heads/x', status: 'ng', reason: 'non-fast-forward', options: null },
    ]);
  });

  it('keeps reasons with spaces whole', async () => {
    const report = await readReportStatus(reader(plainReport('unpack ok', 'ng refs/heads/a protected branch hook declined')), { sideband: false });
    assert.deepEqual(statuses(report), ['ng refs/heads/a protected branch hook declined']);
  });

  it('band 3 is a RemoteError with the server text', async () => {
    const bytes = Buffer.concat([band(2, 'working\n'), band(3, 'fatal: out of disk space\n')]);
    await assert.rejects(readReportStatus(reader(bytes), { sideband: true }), (error: unknown) => {
      assert.ok(error instanceof RemoteError);
      assert.equal(error.remoteMessage, 'fatal: out of disk space');
      return true;
    });
  });

  it('an ERR line is a RemoteError', async () => {
    await assert.rejects(readReportStatus(reader(plainReport('ERR repository is read-only')), { sideband: false }), RemoteError);
  });

  it('rejects malformed reports with a ProtocolError', async () => {
    const cases: [string, Buffer, boolean][] = [
      ['empty response', Buffer.alloc(0), false],
      ['empty sideband response', FLUSH_PKT, true],
      ['no unpack status', plainReport('ok refs/heads/a'), false],
      ['bare unpack', plainReport('unpack', 'ok refs/heads/a'), false],
      ['no ref lines', plainReport('unpack ok'), false],
      ['unknown line', plainReport('unpack ok', 'maybe refs/heads/a'), false],
      ['ok without ref', plainReport('unpack ok', 'ok'), false],
      ['ok with two words', plainReport('unpack ok', 'ok refs/heads/a extra'), false],
      ['ng without reason', plainReport('unpack ok', 'ng refs/heads/a'), false],
      ['ng with empty reason', plainReport('unpack ok', 'ng refs/heads/a '), false],
      ['option first', plainReport('unpack ok', 'option forced-update'), false],
      ['option after ng', plainReport('unpack ok', 'ng refs/heads/a hook declined', 'option forced-update'), false],
      ['bad option oid', plainReport('unpack ok', 'ok refs/heads/a', 'option new-oid xyz'), false],
      ['option refname without value', plainReport('unpack ok', 'ok refs/heads/a', 'option refname'), false],
      ['forced-update with value', plainReport('unpack ok', 'ok refs/heads/a', 'option forced-update yes'), false],
      ['repeated option', plainReport('unpack ok', 'ok refs/heads/a', `option old-oid ${base}`, `option old-oid ${next}`), false],
      ['delim inside', Buffer.concat([pktLine('unpack ok\n'), DELIM_PKT]), false],
      ['sideband report read as plain', transcript('push-ok-sideband.bin'), false],
      ['plain report read as sideband', transcript('push-ok-plain.bin'), true],
      ['no flush before end', Buffer.concat([pktLine('unpack ok\n'), pktLine('ok refs/heads/a\n')]), false],
      ['sideband report without inner flush', Buffer.concat([band(1, pktLine('unpack ok\n')), band(1, pktLine('ok refs/heads/a\n')), FLUSH_PKT]), true],
      ['data after the report in band 1', Buffer.concat([band(1, Buffer.concat([plainReport('unpack ok', 'ok refs/heads/a'), pktLine('more\n')])), FLUSH_PKT]), true],
      ['broken pkt-line inside band 1', Buffer.concat([band(1, 'zzzzunpack ok'), FLUSH_PKT]), true],
      ['truncated pkt-line inside band 1', Buffer.concat([band(1, '0030unpack ok'), FLUSH_PKT]), true],
      ['unknown band', Buffer.concat([band(4, 'x'), FLUSH_PKT]), true],
      ['broken outer framing', Buffer.from('00zzjunk'), false],
    ];
    for (const [label, bytes, sideband] of cases) {
      for (const size of [1, 1 << 16]) {
        await assert.rejects(readReportStatus(reader(bytes, size), { sideband }), ProtocolError, label);
      }
    }
  });

  it('a missing ref in the report is a ProtocolError from pushReportError', () => {
    const report: PushReport = { unpackOk: true, unpackError: null, refs: [{ ref: 'refs/heads/main', status: 'ok', reason: null, options: null }], remoteErrors: [] };
    const error = pushReportError(report, [updateMain, createFeature]);
    assert.ok(error instanceof ProtocolError);
    assert.match(error.message, /refs\/heads\/feature/);
  });

  it('honours an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(readReportStatus(reader(transcript('push-ok-plain.bin')), { sideband: false, signal: controller.signal }), (error: unknown) => {
      assert.ok(error instanceof GitSyncError);
      assert.equal(error.code, 'ABORTED');
      return true;
    });
  });
});

describe('classifyRejection', () => {
  it('recognizes lease misses in git 2.39 wording and other servers\' wordings', () => {
    for (const reason of [
      'failed to update ref',
      'atomic transaction failed',
      "cannot lock ref 'refs/heads/main': is at 4fd6 but expected 4bdb",
      "cannot lock ref 'refs/heads/old': reference already exists",
      'reference already exists',
      'already exists',
      'stale info',
      'fetch first',
      'incorrect old value provided',
      'failed to lock',
    ]) {
      assert.equal(classifyRejection(reason), 'stale', reason);
    }
  });

  it('recognizes non-fast-forward and hook refusals', () => {
    for (const reason of ['non-fast-forward', 'not a fast forward', 'Updates were rejected: not a fast-forward']) {
      assert.equal(classifyRejection(reason), 'non-fast-forward', reason);
    }
    for (const reason of ['pre-receive hook declined', 'hook declined', 'protected branch hook declined']) {
      assert.equal(classifyRejection(reason), 'hook', reason);
    }
  });

  it('leaves everything else as other', () => {
    for (const reason of ['unpacker error', 'missing necessary objects', 'deletion prohibited', 'atomic push failure', 'funny refname', 'branch is currently checked out', 'please contact your administrator']) {
      assert.equal(classifyRejection(reason), 'other', reason);
    }
  });
});
