/**
 * Fuzz properties of the v2 ls-refs response (docs/testing.md, "Fuzzing"): random listings
 * (symref targets, peeled ids, an unborn HEAD, both object formats) read back as listed at any
 * chunking; mutated listings and mutations of a captured one fail only with PKT_LINE, PROTOCOL
 * or REMOTE_ERROR, the same however the bytes are cut.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readLsRefsResponse } from '../../src/protocol/ls-refs.js';
import { DELIM_PKT, FLUSH_PKT, PktLineReader, packetText, pktLine } from '../../src/wire/pktline.js';
import { chunkSizes, cut, describeOutcome, fuzzParameters, mutations, mutate, oidOf, refNameArb, settle, streamOf } from '../helpers/fuzz.js';
import { transcript } from '../helpers/streams.js';

const ERRORS = ['PKT_LINE', 'PROTOCOL', 'REMOTE_ERROR'] as const;

interface Line {
  name: string;
  /** null: `unborn`. */
  hash: string | null;
  symrefTarget: string | null;
  peeled: string | null;
}

function listingArb(format: 'sha1' | 'sha256'): fc.Arbitrary<Line[]> {
  const oid = oidOf(format);
  const line = fc.record({
    name: fc.oneof({ weight: 1, arbitrary: fc.constant('HEAD') }, { weight: 5, arbitrary: refNameArb }),
    hash: fc.oneof({ weight: 8, arbitrary: oid }, { weight: 1, arbitrary: fc.constant(null) }),
    symrefTarget: fc.option(refNameArb, { nil: null, freq: 3 }),
    peeled: fc.option(oid, { nil: null, freq: 3 }),
  });
  return fc.array(line, { maxLength: 10 });
}

function frame(lines: readonly Line[]): Buffer {
  const texts = lines.map((l) => {
    const parts = [l.hash ?? 'unborn', l.name];
    if (l.symrefTarget !== null) parts.push(`symref-target:${l.symrefTarget}`);
    if (l.peeled !== null) parts.push(`peeled:${l.peeled}`);
    return pktLine(`${parts.join(' ')}\n`);
  });
  return Buffer.concat([...texts, FLUSH_PKT]);
}

async function read(chunks: readonly Buffer[]): Promise<unknown> {
  return describeOutcome(await settle(ERRORS, () => readLsRefsResponse(new PktLineReader(streamOf(chunks)))));
}

describe('ls-refs response (fuzz)', () => {
  it('reads back a listing as built, both object formats, at any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('sha1' as const, 'sha256' as const).chain((f) => listingArb(f)), chunkSizes, async (lines, sizes) => {
        const reader = new PktLineReader(streamOf(cut(Buffer.concat([frame(lines), pktLine('next\n')]), sizes)));
        const outcome = await settle(ERRORS, () => readLsRefsResponse(reader));
        assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
        const heads = lines.filter((l) => l.name === 'HEAD');
        const lastHead = heads[heads.length - 1];
        assert.equal(outcome.value.head, lastHead === undefined ? null : lastHead.symrefTarget);
        assert.equal(outcome.value.headUnborn, heads.some((l) => l.hash === null));
        assert.deepEqual(
          outcome.value.refs,
          lines.filter((l) => l.hash !== null).map((l) => ({ name: l.name, hash: l.hash, peeled: l.peeled, ...(l.symrefTarget !== null ? { symrefTarget: l.symrefTarget } : {}) })),
        );
        assert.equal(packetText((await reader.read())!), 'next', 'the packet after the flush is left');
      }),
      fuzzParameters(600),
    );
  });

  it('fails anything else with PKT_LINE, PROTOCOL or REMOTE_ERROR, the same at any chunking', async () => {
    const lineArb = fc.oneof(
      listingArb('sha1').map(frame),
      fc.constantFrom('ERR no', 'unborn', 'unborn HEAD', 'x y', ' ', 'HEAD', `${'a'.repeat(40)} `, `${'a'.repeat(40)} r peeled:zz`, `${'a'.repeat(39)} r`).map((t) => pktLine(`${t}\n`)),
      fc.uint8Array({ maxLength: 40 }).map((b) => pktLine(b)),
      fc.constantFrom(FLUSH_PKT, DELIM_PKT, Buffer.from('0002'), Buffer.from('00')),
    );
    const captured = [transcript('v2-ls-refs.bin'), transcript('v2-ls-refs-empty.bin')];
    const input = fc.oneof(
      fc.tuple(fc.array(lineArb, { maxLength: 6 }), fc.option(mutations, { nil: undefined })).map(([parts, edits]) => (edits === undefined ? Buffer.concat(parts) : mutate(Buffer.concat(parts), edits))),
      fc.tuple(fc.constantFrom(...captured), mutations).map(([bytes, edits]) => mutate(bytes, edits)),
    );
    await fc.assert(
      fc.asyncProperty(input, chunkSizes, async (bytes, sizes) => {
        assert.deepEqual(await read(cut(bytes, sizes)), await read([bytes]));
      }),
      fuzzParameters(1500),
    );
  });
});
