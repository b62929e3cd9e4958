/**
 * Fuzz properties of delta application (docs/testing.md, "Fuzzing"): random copy and insert
 * instructions make exactly what a model makes; encodeDelta's deltas rebuild their target;
 * anything else (random bytes, mutated deltas, headers claiming huge results) fails with
 * PACK_FORMAT only, never allocating more than the limit, and a delta that applies makes exactly
 * the size it declares.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applyDelta } from '../../src/pack/delta.js';
import { MAX_COMMIT_BYTES } from '../../src/pack/pack-format.js';
import { fuzzParameters, mutations, mutate, settle } from '../helpers/fuzz.js';
import { encodeDelta } from './pack-builder.js';

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 128; n = Math.floor(n / 128)) out.push(0x80 | (n % 128));
  out.push(n);
  return Buffer.from(out);
}

/** The base and result sizes a delta's header declares. */
function declaredSizes(delta: Buffer): [number, number] {
  const sizes: number[] = [];
  let at = 0;
  for (let k = 0; k < 2; k++) {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = delta[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) break;
    }
    sizes.push(value);
  }
  return [sizes[0]!, sizes[1]!];
}

type Instruction = { copy: { offset: number; size: number } } | { insert: Buffer };

/** A copy instruction with only the offset and size bytes that are not zero, as git writes them (size 0x10000 as no size bytes). */
function encodeCopy(offset: number, size: number): Buffer {
  let op = 0x80;
  const bytes: number[] = [];
  for (let i = 0; i < 4; i++) {
    const byte = Math.floor(offset / 2 ** (8 * i)) & 0xff;
    if (byte !== 0) {
      op |= 1 << i;
      bytes.push(byte);
    }
  }
  const stored = size === 0x10000 ? 0 : size;
  for (let i = 0; i < 3; i++) {
    const byte = (stored >> (8 * i)) & 0xff;
    if (byte !== 0) {
      op |= 1 << (4 + i);
      bytes.push(byte);
    }
  }
  return Buffer.from([op, ...bytes]);
}

const baseArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10000 + 4000 }).map((n) => Buffer.alloc(n, n & 0xff)) },
);

/** A base and instructions that stay inside it. */
const deltaCaseArb = baseArb.chain((base) =>
  fc.tuple(
    fc.constant(base),
    fc.array(
      fc.oneof(
        base.length === 0
          ? fc.uint8Array({ minLength: 1, maxLength: 127 }).map((b): Instruction => ({ insert: Buffer.from(b) }))
          : fc
              .tuple(fc.nat({ max: base.length - 1 }), fc.nat())
              .map(([offset, n]): Instruction => ({ copy: { offset, size: 1 + (n % Math.min(0x10000, base.length - offset)) } })),
        fc.uint8Array({ minLength: 1, maxLength: 127 }).map((b): Instruction => ({ insert: Buffer.from(b) })),
      ),
      { maxLength: 12 },
    ),
  ),
);

describe('delta application (fuzz)', () => {
  it('makes what the copy and insert instructions say, and encodeDelta rebuilds its target', async () => {
    await fc.assert(
      fc.asyncProperty(deltaCaseArb, fc.uint8Array({ maxLength: 400 }), async ([base, instructions], target) => {
        const expected = Buffer.concat(instructions.map((i) => ('copy' in i ? base.subarray(i.copy.offset, i.copy.offset + i.copy.size) : i.insert)));
        const delta = Buffer.concat([varint(base.length), varint(expected.length), ...instructions.map((i) => ('copy' in i ? encodeCopy(i.copy.offset, i.copy.size) : Buffer.concat([Buffer.from([i.insert.length]), i.insert])))]);
        const outcome = await settle(['PACK_FORMAT'], () => applyDelta(base, delta));
        assert.ok(outcome.ok && outcome.value.equals(expected), outcome.ok ? 'wrong result' : outcome.error.message);
        const rebuilt = await settle(['PACK_FORMAT'], () => applyDelta(base, encodeDelta(base, Buffer.from(target))));
        assert.ok(rebuilt.ok && rebuilt.value.equals(Buffer.from(target)));
      }),
      fuzzParameters(1000),
    );
  });

  it('fails random and mutated deltas with PACK_FORMAT only; one that applies makes exactly its declared size', async () => {
    const input = fc.oneof(
      fc.tuple(baseArb, fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b))),
      fc.tuple(deltaCaseArb, mutations).map(([[base, instructions], edits]): [Buffer, Buffer] => {
        const size = instructions.reduce((n, i) => n + ('copy' in i ? i.copy.size : i.insert.length), 0);
        const delta = Buffer.concat([varint(base.length), varint(size), ...instructions.map((i) => ('copy' in i ? encodeCopy(i.copy.offset, i.copy.size) : Buffer.concat([Buffer.from([i.insert.length]), i.insert])))]);
        return [base, mutate(delta, edits)];
      }),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.option(fc.integer({ min: 0, max: 1 << 20 }), { nil: undefined }), async ([base, delta], limit) => {
        const outcome = await settle(['PACK_FORMAT'], () => applyDelta(base, delta, limit));
        if (outcome.ok) {
          const declared = declaredSizes(delta)[1];
          assert.equal(outcome.value.length, declared);
          assert.ok(outcome.value.length <= (limit ?? MAX_COMMIT_BYTES));
        }
      }),
      fuzzParameters(2000),
    );
  });

  it('refuses a declared result past the limit or past what the instructions can make, without allocating it', async () => {
    await fc.assert(
      fc.asyncProperty(
        baseArb,
        fc.oneof(fc.constantFrom(MAX_COMMIT_BYTES + 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 49), fc.integer({ min: 0x10001, max: 2 ** 53 - 1 })),
        fc.uint8Array({ maxLength: 1 }),
        async (base, declared, instructions) => {
          const delta = Buffer.concat([varint(base.length), varint(declared), Buffer.from(instructions)]);
          const outcome = await settle(['PACK_FORMAT'], () => applyDelta(base, delta));
          assert.equal(outcome.ok, false);
        },
      ),
      fuzzParameters(500),
    );
  });
});
