import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { LocalStorageError, PackFormatError } from '../../src/errors.js';
import { BaseCache } from '../../src/pack/base-cache.js';
import { DeltaBaseStore } from '../../src/pack/delta-base-store.js';
import { SpillLog } from '../../src/pack/spill-log.js';
import { makeTempDir } from '../helpers/git.js';
import { encodeDelta } from './pack-builder.js';

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

describe('SpillLog', () => {
  it('keeps a short log in memory and never makes a file', () => {
    const dir = makeTempDir('gitsync-spill-');
    const log = new SpillLog({ directory: dir.path, chunkBytes: 16, memoryBytes: 64 });
    const at = log.append(bytes('hello '), bytes('world'));
    assert.equal(at, 0);
    assert.equal(log.append(bytes('!')), 11);
    assert.equal(log.read(0, 12).toString(), 'hello world!');
    assert.equal(log.spilledBytes, 0);
    assert.deepEqual(readdirSync(dir.path), []);
    log.close();
  });

  it('moves its oldest chunks to an unlinked file past the memory bound, and reads across both', () => {
    const dir = makeTempDir('gitsync-spill-');
    const log = new SpillLog({ directory: dir.path, chunkBytes: 10, memoryBytes: 20 });
    let expected = '';
    for (let i = 0; i < 200; i++) {
      const record = `<${i}:${'x'.repeat(i % 13)}>`;
      assert.equal(log.append(bytes(record)), expected.length);
      expected += record;
    }
    assert.ok(log.spilledBytes > 0 && log.spilledBytes < expected.length, `spilled ${log.spilledBytes} of ${expected.length}`);
    // The file has no name while it is used: nothing is left behind, whatever happens next.
    assert.deepEqual(readdirSync(dir.path), []);
    for (const [start, end] of [[0, expected.length], [0, 5], [log.spilledBytes - 3, log.spilledBytes + 3], [expected.length - 7, expected.length], [123, 456]] as const) {
      assert.equal(log.read(start, end).toString(), expected.slice(start, end), `read(${start}, ${end})`);
    }
    log.close();
    log.close();
  });

  it('holds a record larger than a chunk', () => {
    const log = new SpillLog({ chunkBytes: 8, memoryBytes: 8 });
    const big = bytes('0123456789abcdefghijklmnopqrstuvwxyz');
    log.append(bytes('head'));
    const at = log.append(big);
    log.append(bytes('tail'));
    assert.equal(log.read(at, at + big.length).toString(), big.toString());
    assert.equal(log.read(0, log.length).toString(), `head${big.toString()}tail`);
    log.close();
  });

  it('says which directory failed and what to do when the file cannot be made', () => {
    const dir = makeTempDir('gitsync-spill-');
    const notADirectory = join(dir.path, 'file');
    writeFileSync(notADirectory, '');
    const log = new SpillLog({ directory: notADirectory, chunkBytes: 4, memoryBytes: 0 });
    log.append(bytes('abcdefgh'), bytes('ijkl'));
    // The next chunk pushes the first out of memory: now the file is needed.
    assert.throws(() => log.append(bytes('mnop')), (error: unknown) => {
      assert.ok(error instanceof LocalStorageError);
      assert.equal(error.code, 'LOCAL_STORAGE');
      assert.equal(error.directory, notADirectory);
      assert.match(error.message, new RegExp(`in ${notADirectory}: .*ENOTDIR.*; make it a writable directory or point TMPDIR at another directory`));
      return true;
    });
    log.close();
  });

  it('says which directory failed when it does not exist', () => {
    const log = new SpillLog({ directory: '/nonexistent/git-sync-test', chunkBytes: 4, memoryBytes: 0 });
    log.append(bytes('abcd'));
    assert.throws(() => log.append(bytes('efgh')), (error: unknown) => error instanceof LocalStorageError && /cannot create the temporary file .* in \/nonexistent\/git-sync-test: .*ENOENT/.test(error.message));
    log.close();
  });
});

describe('BaseCache', () => {
  it('keeps what was just read on probation and evicts the oldest first', () => {
    const cache = new BaseCache(80); // probation 10 bytes, protected 70
    cache.setRecent(1, bytes('aaaa'));
    cache.setRecent(2, bytes('bbbb'));
    cache.setRecent(3, bytes('cccc')); // 12 bytes: 1 goes
    assert.equal(cache.get(1), undefined);
    assert.equal(cache.get(3)?.toString(), 'cccc');
    assert.equal(cache.get(2)?.toString(), 'bbbb');
  });

  it('protects an object asked for again, so new objects do not push it out', () => {
    const cache = new BaseCache(80);
    cache.setRecent(1, bytes('base'));
    assert.equal(cache.get(1)?.toString(), 'base'); // promoted
    for (let key = 2; key < 50; key++) cache.setRecent(key, bytes(`n${key}`.padEnd(4, '.')));
    assert.equal(cache.get(1)?.toString(), 'base');
  });

  it('keeps rebuilt objects in the protected segment and returns their kept copy', () => {
    const cache = new BaseCache(80);
    const source = bytes('rebuilt');
    const kept = cache.setNeeded(7, source);
    source.fill(0);
    assert.equal(kept.toString(), 'rebuilt');
    assert.equal(cache.get(7)?.toString(), 'rebuilt');
    const huge = Buffer.alloc(100, 1);
    assert.equal(cache.setNeeded(8, huge), huge, 'too large to keep: the object itself');
    assert.equal(cache.get(8), undefined);
  });

  it('forgets an object it cannot keep, never returning an older copy under its key', () => {
    const cache = new BaseCache(8); // protected holds 7 bytes
    cache.setNeeded(14, bytes('a'));
    assert.equal(cache.setNeeded(14, bytes('12345678')).toString(), '12345678');
    assert.equal(cache.get(14), undefined);
  });

  it('matches a model of two first-in first-out segments, whatever the sequence (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('recent' as const), key: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('needed' as const), key: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 30 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 120 }), fc.array(op, { maxLength: 300 }), (budget, ops) => {
        const cache = new BaseCache(budget);
        /** What each key's content must be whenever the cache returns it. */
        const truth = new Map<number, string>();
        let version = 0;
        for (const step of ops) {
          if (step.kind === 'get') {
            const got = cache.get(step.key);
            if (got !== undefined) assert.equal(got.toString(), truth.get(step.key), `key ${step.key}`);
            continue;
          }
          const content = `${step.key}:${version++}:`.padEnd(step.size, '#').slice(0, Math.max(step.size, 1));
          if (step.kind === 'recent') {
            // A key already held keeps its content; otherwise this one is the truth.
            const held = cache.get(step.key);
            if (held === undefined) truth.set(step.key, content);
            cache.setRecent(step.key, bytes(content));
          } else {
            truth.set(step.key, content);
            assert.equal(cache.setNeeded(step.key, bytes(content)).toString(), content);
          }
        }
      }),
      // A fixed seed keeps CI repeatable; the case found with seed 380127468 stays below.
      { numRuns: 300, seed: 7 },
    );
  });
});

/** Commit-like texts that differ a little: what git deltifies. */
function version(i: number): Buffer {
  return bytes(`tree ${'4b825dc642cb6eb9a060e54bf8d69288fbee4904'}\nauthor A <a@example.com> ${1_700_000_000 + i} +0000\n\n${'a long, shared message body '.repeat(8)}change ${i}\n`);
}

describe('DeltaBaseStore', () => {
  it('rebuilds any stored object through its delta chain, however far back its base is, with the cache too small to help', () => {
    const store = new DeltaBaseStore({ cacheBytes: 64, memoryBytes: 256, chunkBytes: 128 });
    const offsets: number[] = [];
    // Object 0 whole; every other object a delta against the one before it: a chain of 299.
    store.addObject(100, version(0), deflateSync(version(0)));
    offsets.push(100);
    for (let i = 1; i < 300; i++) {
      const offset = 100 + i * 50;
      store.addDelta(offset, offsets[i - 1]!, encodeDelta(version(i - 1), version(i)), undefined, version(i));
      offsets.push(offset);
    }
    assert.ok(store.spilledBytes > 0, 'most of the log is in the temporary file');
    for (const i of [299, 0, 150, 1, 298]) assert.deepEqual(store.contentAt(offsets[i]!), version(i), `object ${i}`);
    assert.equal(store.contentAt(101), undefined);
    assert.equal(store.contentAt(99), undefined);
    assert.equal(store.count, 300);
    store.close();
  });

  it('keeps deltas as the pack carried them (zlib data when it is smaller) and reads them back alike', () => {
    const store = new DeltaBaseStore({ cacheBytes: 0 });
    const whole = version(1);
    const delta = encodeDelta(whole, version(2));
    store.addObject(12, whole, deflateSync(whole));
    store.addDelta(500, 12, delta, deflateSync(delta), version(2));
    assert.deepEqual(store.contentAt(500), version(2));
    assert.deepEqual(store.contentAt(12), whole);
    // Whole objects stored deflated take about half their size.
    assert.ok(store.bytes < whole.length + delta.length, `${store.bytes} bytes stored`);
    store.close();
  });

  it('lists the offsets it holds in order', () => {
    const store = new DeltaBaseStore({ memoryBytes: 100, chunkBytes: 64 });
    const offsets = Array.from({ length: 100 }, (_, i) => 12 + i * 7);
    for (const offset of offsets) store.addObject(offset, version(offset), undefined);
    const seen: number[] = [];
    store.forEachOffset((offset) => seen.push(offset));
    assert.deepEqual(seen, offsets);
    store.close();
  });

  it('refuses objects out of pack order and a delta whose base does not come before it', () => {
    const store = new DeltaBaseStore();
    store.addObject(100, version(0), undefined);
    assert.throws(() => store.addObject(100, version(1), undefined), /pack order/);
    assert.throws(() => store.addDelta(200, 300, Buffer.alloc(3), undefined, version(1)), PackFormatError);
    store.close();
  });

  it('rebuilds every object of random delta forests (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(), { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 0, max: 2048 }),
        fc.integer({ min: 16, max: 512 }),
        (choices, cacheBytes, memoryBytes, chunkBytes) => {
          const store = new DeltaBaseStore({ cacheBytes, memoryBytes, chunkBytes });
          try {
            const offsets: number[] = [];
            choices.forEach((choice, i) => {
              const offset = 12 + i * 40;
              // choice % 3 === 0: a whole object; otherwise a delta against any earlier one.
              if (i === 0 || choice % 3 === 0) {
                store.addObject(offset, version(i), choice % 2 === 0 ? deflateSync(version(i)) : undefined);
              } else {
                const base = choice % i;
                const delta = encodeDelta(version(base), version(i));
                store.addDelta(offset, offsets[base]!, delta, choice % 5 === 0 ? deflateSync(delta) : undefined, version(i));
              }
              offsets.push(offset);
            });
            for (let i = choices.length - 1; i >= 0; i -= 1 + (choices[i]! % 3)) {
              assert.deepEqual(store.contentAt(offsets[i]!), version(i), `object ${i}`);
            }
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 150, seed: 13 },
    );
  });
});
