/**
 * Fuzz properties of the first words of a server (docs/testing.md, "Fuzzing"): v1 ref
 * advertisements and v2 capability advertisements built from random refs and capabilities read
 * back as built, at any chunking; mutations of those and of real captured advertisements fail
 * only with PKT_LINE, PROTOCOL or REMOTE_ERROR, the same however the bytes are cut.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readAdvertisement, type Advertisement } from '../../src/protocol/advertisement.js';
import { parseV1Capabilities, parseV2Capabilities, type Capabilities } from '../../src/protocol/capabilities.js';
import { skipServiceHeader } from '../../src/transport/http.js';
import { DELIM_PKT, FLUSH_PKT, PktLineReader, RESPONSE_END_PKT, packetText, pktLine } from '../../src/wire/pktline.js';
import { chunkSizes, cut, describeOutcome, fuzzParameters, mutations, mutate, oidArb, refNameArb, settle, streamOf } from '../helpers/fuzz.js';
import { transcript } from '../helpers/streams.js';

const ERRORS = ['PKT_LINE', 'PROTOCOL', 'REMOTE_ERROR'] as const;

/** `name` or `name=value`; values may hold `=` and `:` (symref=HEAD:refs/heads/main). */
const capabilityArb: fc.Arbitrary<[string, string | null]> = fc.tuple(
  fc.oneof(fc.constantFrom('symref', 'agent', 'object-format', 'side-band-64k', 'ofs-delta', 'fetch', 'ls-refs'), fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/)),
  fc.option(fc.oneof(fc.stringMatching(/^[!-~]{0,16}$/), refNameArb.map((r) => `HEAD:${r}`)), { nil: null }),
);

function capabilityText([name, value]: [string, string | null]): string {
  return value === null ? name : `${name}=${value}`;
}

/** What the capabilities answer for each name: present, and every value in order. */
function capabilityModel(capabilities: readonly [string, string | null][]): Map<string, string[]> {
  const model = new Map<string, string[]>();
  for (const [name, value] of capabilities) {
    const values = model.get(name) ?? [];
    if (value !== null) values.push(value);
    model.set(name, values);
  }
  return model;
}

function assertCapabilities(actual: Capabilities, capabilities: readonly [string, string | null][]): void {
  const model = capabilityModel(capabilities);
  assert.deepEqual(actual.names(), [...model.keys()]);
  for (const [name, values] of model) {
    assert.ok(actual.has(name));
    assert.deepEqual(actual.getAll(name), values);
    assert.equal(actual.get(name), values[0] ?? null);
  }
}

interface RefSpec {
  name: string;
  hash: string;
  peeled: string | null;
}

const refArb: fc.Arbitrary<RefSpec> = fc.record({
  name: fc.oneof({ weight: 1, arbitrary: fc.constant('HEAD') }, { weight: 6, arbitrary: refNameArb }),
  hash: oidArb,
  peeled: fc.option(oidArb, { nil: null }),
});

const v1Arb: fc.Arbitrary<V1Spec> = fc.record({
  versionLine: fc.boolean(),
  refs: fc.array(refArb, { maxLength: 8 }),
  capabilities: fc.array(capabilityArb, { maxLength: 8 }),
  shallow: fc.array(oidArb, { maxLength: 3 }),
  endsWithFlush: fc.boolean(),
});

interface V1Spec {
  versionLine: boolean;
  refs: RefSpec[];
  capabilities: [string, string | null][];
  shallow: string[];
  endsWithFlush: boolean;
}

function frameV1(adv: V1Spec): Buffer {
  const caps = adv.capabilities.map(capabilityText).join(' ');
  const lines: string[] = [];
  if (adv.versionLine) lines.push('version 1');
  if (adv.refs.length === 0) lines.push(`${'0'.repeat(40)} capabilities^{}\0${caps}`);
  adv.refs.forEach((ref, i) => {
    lines.push(i === 0 ? `${ref.hash} ${ref.name}\0${caps}` : `${ref.hash} ${ref.name}`);
    if (ref.peeled !== null) lines.push(`${ref.peeled} ${ref.name}^{}`);
  });
  for (const oid of adv.shallow) lines.push(`shallow ${oid}`);
  return Buffer.concat([...lines.map((l) => pktLine(`${l}\n`)), ...(adv.endsWithFlush ? [FLUSH_PKT] : [])]);
}

async function read(chunks: readonly Buffer[], service = false): Promise<unknown> {
  const reader = new PktLineReader(streamOf(chunks));
  const outcome = await settle(ERRORS, async () => {
    if (service) await skipServiceHeader(reader, 'git-upload-pack');
    return readAdvertisement(reader);
  });
  return describeOutcome(outcome, (adv: Advertisement) => ({ ...adv, capabilities: adv.capabilities.toList() }));
}

/** Lines an advertisement is made of, valid or nearly, for soups of them. */
const lineArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom('version 1', 'version 2', 'ERR denied', '# service=git-upload-pack', 'capabilities^{}', 'shallow 1234', '').map((t) => pktLine(`${t}\n`)),
  fc.tuple(oidArb, refNameArb, fc.constantFrom('', '^{}', '\0ofs-delta symref=HEAD:x', '\0')).map(([o, n, s]) => pktLine(`${o} ${n}${s}\n`)),
  fc.tuple(fc.constantFrom('0'.repeat(40), '0'.repeat(64), 'x'), fc.constantFrom(' capabilities^{}\0a b', ' HEAD', '')).map(([o, s]) => pktLine(`${o}${s}\n`)),
  capabilityArb.map((c) => pktLine(`${capabilityText(c)}\n`)),
  fc.uint8Array({ maxLength: 30 }).map((b) => pktLine(b)),
  fc.constantFrom(FLUSH_PKT, DELIM_PKT, RESPONSE_END_PKT),
);

describe('v1 and v2 advertisements (fuzz)', () => {
  it('reads back a v1 ref advertisement as built: refs, peeled tags, capabilities, HEAD, shallow; one without its flush is cut (PKT_LINE)', async () => {
    await fc.assert(
      fc.asyncProperty(v1Arb, chunkSizes, async (adv, sizes) => {
        const reader = new PktLineReader(streamOf(cut(frameV1(adv), sizes)));
        const outcome = await settle(ERRORS, () => readAdvertisement(reader));
        if (!adv.endsWithFlush) {
          // Cut before its flush, the list is not the whole list: a transient PKT_LINE, never a
          // shorter list (as git dies on it: "the remote end hung up upon initial contact").
          assert.ok(!outcome.ok && outcome.error.code === 'PKT_LINE' && outcome.error.transient, outcome.ok ? 'a cut list was read as whole' : outcome.error.message);
          return;
        }
        assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
        const read = outcome.value;
        assert.equal(read.version, 'v1');
        if (read.version !== 'v1') return;
        const symrefs = adv.capabilities.filter(([n, v]) => n === 'symref' && v !== null && v.indexOf(':') > 0).map(([, v]) => v!);
        const headValue = [...symrefs].reverse().find((v) => v.slice(0, v.indexOf(':')) === 'HEAD');
        const head = headValue === undefined ? null : headValue.slice(headValue.indexOf(':') + 1);
        assert.equal(read.head, head);
        assert.deepEqual(
          read.refs,
          adv.refs.map((r) => ({ name: r.name, hash: r.hash, peeled: r.peeled, ...(r.name === 'HEAD' && head !== null ? { symrefTarget: head } : {}) })),
        );
        assert.deepEqual(read.shallow, adv.shallow);
        assertCapabilities(read.capabilities, adv.capabilities);
      }),
      fuzzParameters(600),
    );
  });

  it('reads back a v2 capability advertisement as built, and leaves what follows its flush', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(capabilityArb, { maxLength: 10 }), chunkSizes, async (capabilities, sizes) => {
        const bytes = Buffer.concat([pktLine('version 2\n'), ...capabilities.map((c) => pktLine(`${capabilityText(c)}\n`)), FLUSH_PKT, pktLine('next\n')]);
        const reader = new PktLineReader(streamOf(cut(bytes, sizes)));
        const outcome = await settle(ERRORS, () => readAdvertisement(reader));
        assert.ok(outcome.ok && outcome.value.version === 'v2');
        assertCapabilities(outcome.value.capabilities, capabilities);
        assert.equal(packetText((await reader.read())!), 'next');
      }),
      fuzzParameters(400),
    );
  });

  it('parses any capability string (v1) or lines (v2) without throwing, every token kept', () => {
    const split = (token: string): [string, string | null] => (token.includes('=') ? [token.slice(0, token.indexOf('=')), token.slice(token.indexOf('=') + 1)] : [token, null]);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 120 }), fc.array(fc.string({ unit: 'binary', maxLength: 30 }), { maxLength: 8 }), (text, lines) => {
        const v1 = parseV1Capabilities(text);
        assertCapabilities(v1, text.split(' ').filter((t) => t.length > 0).map(split));
        const v2 = parseV2Capabilities(lines);
        assertCapabilities(v2, lines.filter((l) => l.length > 0).map(split));
        v1.symrefs();
        v2.objectFormat();
      }),
      fuzzParameters(1000),
    );
  });

  it('fails anything else with PKT_LINE, PROTOCOL or REMOTE_ERROR, the same at any chunking', async () => {
    const input = fc.oneof(
      fc.tuple(v1Arb, mutations).map(([adv, edits]) => mutate(frameV1(adv), edits)),
      fc.array(lineArb, { maxLength: 10 }).map((lines) => Buffer.concat(lines)),
      fc.tuple(fc.array(lineArb, { maxLength: 6 }), mutations).map(([lines, edits]) => mutate(Buffer.concat(lines), edits)),
    );
    await fc.assert(
      fc.asyncProperty(input, chunkSizes, async (bytes, sizes) => {
        assert.deepEqual(await read(cut(bytes, sizes)), await read([bytes]));
      }),
      fuzzParameters(1500),
    );
  });

  it('fails mutations of captured advertisements (v1 with its HTTP service header, v2, receive-pack) with typed errors only', async () => {
    const captured = ['v1-advertisement.bin', 'v2-advertisement.bin', 'receive-pack-advertisement.bin', 'v1-advertisement-empty.bin'].map((name) => transcript(name));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...captured.keys()), mutations, chunkSizes, async (which, edits, sizes) => {
        const bytes = mutate(captured[which]!, edits);
        assert.deepEqual(await read(cut(bytes, sizes), true), await read([bytes], true));
      }),
      fuzzParameters(800),
    );
  });
});
