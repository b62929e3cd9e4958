/**
 * Fuzz properties of the push report (docs/testing.md, "Fuzzing"): random report-status and
 * report-status-v2 reports, plain or inside side-band-64k with the report's own pkt-lines cut
 * anywhere across band-1 packets and progress interleaved, read back as built at any chunking;
 * anything else fails only with PROTOCOL or REMOTE_ERROR (a framing error inside a report is a
 * protocol error), the same however the bytes are cut.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GitSyncError } from '../../src/errors.js';
import { pushReportError, readReportStatus, type RefReport } from '../../src/protocol/report-status.js';
import type { PushCommand } from '../../src/protocol/receive-pack.js';
import type { Oid } from '../../src/types.js';
import { FLUSH_PKT, PktLineReader, pktLine } from '../../src/wire/pktline.js';
import { chunkSizes, cut, describeOutcome, fuzzParameters, mutations, mutate, oidArb, refNameArb, settle, streamOf } from '../helpers/fuzz.js';
import { transcript } from '../helpers/streams.js';

const ERRORS = ['PROTOCOL', 'REMOTE_ERROR'] as const;

type OptionLine = { key: 'refname'; value: string } | { key: 'old-oid' | 'new-oid'; value: string } | { key: 'forced-update' } | { key: 'unknown'; value: string };

interface ReportSpec {
  unpack: string;
  refs: ({ ref: string; status: 'ok'; options: OptionLine[] } | { ref: string; status: 'ng'; reason: string })[];
}

const optionsArb: fc.Arbitrary<OptionLine[]> = fc
  .record(
    {
      refname: refNameArb,
      oldOid: oidArb,
      newOid: oidArb,
      forced: fc.constant(true),
      unknown: fc.stringMatching(/^[a-z]{1,8} [!-~]{0,8}$/),
    },
    { requiredKeys: [] },
  )
  .chain((o) => {
    const lines: OptionLine[] = [];
    if (o.refname !== undefined) lines.push({ key: 'refname', value: o.refname });
    if (o.oldOid !== undefined) lines.push({ key: 'old-oid', value: o.oldOid });
    if (o.newOid !== undefined) lines.push({ key: 'new-oid', value: o.newOid });
    if (o.forced !== undefined) lines.push({ key: 'forced-update' });
    if (o.unknown !== undefined && !/^(refname|old-oid|new-oid|forced-update) /.test(o.unknown)) lines.push({ key: 'unknown', value: o.unknown });
    return fc.shuffledSubarray(lines, { minLength: lines.length, maxLength: lines.length });
  });

const reportArb: fc.Arbitrary<ReportSpec> = fc.record({
  unpack: fc.oneof({ weight: 3, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30 }).filter((t) => t !== 'ok') }),
  refs: fc.array(
    fc.oneof(
      fc.record({ ref: refNameArb, status: fc.constant('ok' as const), options: fc.oneof(fc.constant<OptionLine[]>([]), optionsArb) }),
      fc.record({ ref: refNameArb, status: fc.constant('ng' as const), reason: fc.string({ minLength: 1, maxLength: 40 }) }),
    ),
    { minLength: 1, maxLength: 6 },
  ),
});

function reportLines(report: ReportSpec): string[] {
  const lines = [`unpack ${report.unpack}`];
  for (const ref of report.refs) {
    if (ref.status === 'ng') {
      lines.push(`ng ${ref.ref} ${ref.reason}`);
      continue;
    }
    lines.push(`ok ${ref.ref}`);
    for (const option of ref.options) lines.push(option.key === 'forced-update' ? 'option forced-update' : option.key === 'unknown' ? `option ${option.value}` : `option ${option.key} ${option.value}`);
  }
  return lines;
}

function expectedRefs(report: ReportSpec): RefReport[] {
  return report.refs.map((ref): RefReport => {
    if (ref.status === 'ng') return { ref: ref.ref, status: 'ng', reason: ref.reason, options: null };
    const known = ref.options.filter((o) => o.key !== 'unknown');
    if (ref.options.length === 0) return { ref: ref.ref, status: 'ok', reason: null, options: null };
    const value = (key: string): Oid | null => {
      const option = known.find((o) => o.key === key);
      return option !== undefined && 'value' in option ? (option.value as Oid) : null;
    };
    return {
      ref: ref.ref,
      status: 'ok',
      reason: null,
      options: { refname: value('refname'), oldOid: value('old-oid'), newOid: value('new-oid'), forcedUpdate: known.some((o) => o.key === 'forced-update') },
    };
  });
}

function band(n: number, payload: Buffer): Buffer {
  return pktLine(Buffer.concat([Buffer.from([n]), payload]));
}

/** Progress text, with `error:` lines as a target's hooks and ref updates write them. */
const progressArb = fc.array(fc.constantFrom('error: cannot lock ref \'refs/heads/x\'\n', 'remote: hook says hi\n', 'Resolving deltas: 50%\r', 'error: ', 'x\n', '\n'), { minLength: 1, maxLength: 3 }).map((p) => p.join(''));

/** The report inside band 1, its bytes cut into band-1 packets at `sizes`, progress slipped in between. */
function sidebandFrame(report: Buffer, sizes: readonly number[], progress: readonly (string | null)[]): { bytes: Buffer; progressText: string } {
  const pieces = cut(report, sizes);
  const out: Buffer[] = [];
  let progressText = '';
  pieces.forEach((piece, i) => {
    const text = progress[i % Math.max(1, progress.length)];
    if (text !== undefined && text !== null) {
      out.push(band(2, Buffer.from(text)));
      progressText += text;
    }
    out.push(band(1, piece));
  });
  const after = progress[progress.length - 1];
  if (after !== undefined && after !== null) {
    out.push(band(2, Buffer.from(after)));
    progressText += after;
  }
  out.push(FLUSH_PKT);
  return { bytes: Buffer.concat(out), progressText };
}

/** The `error:` messages band 2's text makes, as the progress splitter splits it (the first 100 are kept). */
function errorMessages(text: string): string[] {
  return text.split(/[\r\n]/).filter((m) => m.startsWith('error:')).slice(0, 100);
}

async function read(chunks: readonly Buffer[], sideband: boolean): Promise<unknown> {
  return describeOutcome(await settle(ERRORS, () => readReportStatus(new PktLineReader(streamOf(chunks)), { sideband })));
}

describe('push report (fuzz)', () => {
  it('reads back a report as built, plain or inside side-band-64k, at any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        reportArb,
        fc.boolean(),
        chunkSizes,
        chunkSizes,
        fc.array(fc.option(progressArb, { nil: null, freq: 2 }), { maxLength: 4 }),
        async (report, sideband, bandSizes, sizes, progress) => {
          const framed = Buffer.concat([...reportLines(report).map((l) => pktLine(`${l}\n`)), FLUSH_PKT]);
          const { bytes, progressText } = sideband ? sidebandFrame(framed, bandSizes.map((s) => Math.min(s, 65515)), progress) : { bytes: framed, progressText: '' };
          const reader = new PktLineReader(streamOf(cut(Buffer.concat([bytes, pktLine('next\n')]), sizes)));
          const messages: string[] = [];
          const outcome = await settle(ERRORS, () => readReportStatus(reader, { sideband, onProgress: (m) => messages.push(m) }));
          assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
          assert.equal(outcome.value.unpackOk, report.unpack === 'ok');
          assert.equal(outcome.value.unpackError, report.unpack === 'ok' ? null : report.unpack);
          assert.deepEqual(outcome.value.refs, expectedRefs(report));
          assert.deepEqual(outcome.value.remoteErrors, errorMessages(progressText));
          assert.equal((await reader.read())?.type, 'data', 'the packet after the report is left');
          // What the report amounts to, for any commands: an error or null, never a throw.
          const commands: PushCommand[] = report.refs.map((r) => ({ ref: r.ref, oldHash: null, newHash: null }));
          const verdict = pushReportError(outcome.value, commands);
          assert.ok(verdict === null || verdict instanceof GitSyncError);
          if (report.unpack !== 'ok' || report.refs.some((r) => r.status === 'ng')) assert.ok(verdict instanceof GitSyncError);
        },
      ),
      fuzzParameters(600),
    );
  });

  it('fails anything else with PROTOCOL or REMOTE_ERROR only (never PKT_LINE), the same at any chunking', async () => {
    const lineArb = fc.oneof(
      fc.constantFrom('unpack ok', 'unpack', 'unpack index-pack failed', 'ok', 'ok refs/heads/a', 'ok a b', 'ng', 'ng a', 'ng a ', 'ng refs/heads/a hook declined', 'option', 'option refname', 'option forced-update x', 'option old-oid zz', `option new-oid ${'a'.repeat(40)}`, 'ERR x', 'what').map((t) => pktLine(`${t}\n`)),
      fc.uint8Array({ maxLength: 20 }).map((b) => pktLine(b)),
      fc.constantFrom(FLUSH_PKT, Buffer.from('0001'), Buffer.from('0002')),
    );
    const plain = fc.array(lineArb, { maxLength: 8 }).map((l) => Buffer.concat(l));
    const input = fc.oneof(
      fc.tuple(plain, fc.constant(false)),
      fc.tuple(fc.tuple(plain, chunkSizes, fc.array(fc.option(progressArb, { nil: null }), { maxLength: 3 })).map(([b, s, p]) => sidebandFrame(b, s.map((n) => Math.min(n, 65515)), p).bytes), fc.constant(true)),
      fc.tuple(reportArb, fc.boolean(), chunkSizes, mutations).map(([report, sideband, sizes, edits]): [Buffer, boolean] => {
        const framed = Buffer.concat([...reportLines(report).map((l) => pktLine(`${l}\n`)), FLUSH_PKT]);
        return [mutate(sideband ? sidebandFrame(framed, sizes, []).bytes : framed, edits), sideband];
      }),
      fc.tuple(fc.constantFrom('push-ok-sideband.bin', 'push-ok-plain.bin', 'push-ok-v2.bin', 'push-atomic-hook.bin', 'push-lease-miss.bin', 'push-bad-pack.bin'), mutations).map(([name, edits]): [Buffer, boolean] => [mutate(transcript(name), edits), name !== 'push-ok-plain.bin']),
    );
    await fc.assert(
      fc.asyncProperty(input, chunkSizes, async ([bytes, sideband], sizes) => {
        assert.deepEqual(await read(cut(bytes, sizes), sideband), await read([bytes], sideband));
      }),
      fuzzParameters(1500),
    );
  });
});
