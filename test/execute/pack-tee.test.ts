/**
 * The shared fetch of a group of targets (execute/pack-tee.ts) on its own: a pack made in the
 * test, members that read it all, stop early, never read, or never fetch.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { PackFormatError } from '../../src/errors.js';
import { SharedFetch } from '../../src/execute/pack-tee.js';
import type { FetchResponse } from '../../src/protocol/upload-pack.js';
import type { Oid } from '../../src/types.js';
import { buildPack } from '../pack/pack-builder.js';

const request = { wants: ['a'.repeat(40) as Oid], haves: [] };
const CHUNK = 4096;

/** A valid pack of a few blobs, cut into 4 KiB chunks, with what the source produced so far. */
function source(options: { corrupt?: boolean } = {}): { pack: Buffer; produced: { chunks: number; finished: boolean }; fetchOnce: () => Promise<FetchResponse> } {
  const { pack } = buildPack(Array.from({ length: 8 }, () => ({ type: 3, data: randomBytes(20_000) })));
  if (options.corrupt) pack[pack.length - 30] ^= 0xff;
  const produced = { chunks: 0, finished: false };
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = 0; at < pack.length; at += CHUNK) {
      produced.chunks += 1;
      yield pack.subarray(at, at + CHUNK);
      await new Promise((resolve) => setImmediate(resolve));
    }
    produced.finished = true;
  }
  return { pack, produced, fetchOnce: async () => ({ acks: [], shallow: [], unshallow: [], pack: chunks() }) };
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}

describe('shared fetch', () => {
  it('gives every member the whole pack from one fetch, checked once', async () => {
    const { pack, fetchOnce } = source();
    let fetches = 0;
    const shared = new SharedFetch(3, request, () => (fetches++, fetchOnce()), undefined, { objectFormat: 'sha1', maxBytes: null });
    const members = [shared.member(), shared.member(), shared.member()];
    const bodies = await Promise.all(members.map(async (member) => readAll((await member.fetch(request)).pack)));
    assert.equal(fetches, 1);
    for (const body of bodies) assert.ok(body.equals(pack));
    assert.equal(members[0]!.verified()?.bytes, pack.length);
  });

  it('waits for the slowest member: the source is read no further than the window ahead of it', async () => {
    const { produced, fetchOnce } = source();
    const shared = new SharedFetch(2, request, fetchOnce, undefined, { objectFormat: 'sha1', maxBytes: null });
    const [fast, slow] = [shared.member(), shared.member()];
    const [fastPack, slowPack] = await Promise.all([fast.fetch(request), slow.fetch(request)]);
    const fastRead = readAll(fastPack.pack);
    const slowReader = slowPack.pack[Symbol.asyncIterator]();
    await slowReader.next();
    // Let the pump run as far as it can while the slow member holds still.
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(produced.chunks <= 1 + 16 + 1, `${produced.chunks} chunks read from the source while one member had taken 1`);
    assert.equal(produced.finished, false);
    for (let next = await slowReader.next(); !next.done; next = await slowReader.next());
    await fastRead;
    assert.equal(produced.finished, true);
  });

  it('a member that stops reading, one that never reads and one that never fetches leave; the others get the whole pack', async () => {
    const { pack, fetchOnce } = source();
    const shared = new SharedFetch(4, request, fetchOnce, undefined, { objectFormat: 'sha1', maxBytes: null });
    const [reader, quitter, idle, absent] = [shared.member(), shared.member(), shared.member(), shared.member()];
    absent.done();
    const responses = await Promise.all([reader.fetch(request), quitter.fetch(request), idle.fetch(request)]);
    // The idle member's push failed before it read: its reader is returned unread.
    await responses[2]!.pack.return(undefined);
    const quitting = (async () => {
      for await (const chunk of responses[1]!.pack) {
        void chunk;
        break;
      }
    })();
    const [body] = await Promise.all([readAll(responses[0]!.pack), quitting]);
    assert.ok(body.equals(pack));
  });

  it('a corrupt pack fails every member before its last chunk', async () => {
    const { pack, fetchOnce } = source({ corrupt: true });
    const shared = new SharedFetch(2, request, fetchOnce, undefined, { objectFormat: 'sha1', maxBytes: null });
    const members = [shared.member(), shared.member()];
    const outcomes = await Promise.all(
      members.map(async (member) => {
        const parts: Buffer[] = [];
        try {
          for await (const chunk of (await member.fetch(request)).pack) parts.push(chunk);
          return 'read whole';
        } catch (error) {
          assert.ok(error instanceof PackFormatError, String(error));
          return Buffer.concat(parts).length;
        }
      }),
    );
    for (const outcome of outcomes) assert.ok(typeof outcome === 'number' && outcome < pack.length, String(outcome));
  });

  it('refuses a member asking for another pack than its group', async () => {
    const { fetchOnce } = source();
    const shared = new SharedFetch(1, request, fetchOnce, undefined, { objectFormat: 'sha1', maxBytes: null });
    assert.throws(() => shared.member().fetch({ wants: ['b'.repeat(40) as Oid], haves: [] }), /another pack/);
  });
});
