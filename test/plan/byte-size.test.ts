import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { parseByteSize } from '../../src/plan/byte-size.js';

test('sizes with and without units', () => {
  const cases: Array<[string, number]> = [
    ['1048576', 1048576],
    ['0', 0],
    ['512MiB', 536870912],
    ['512mib', 536870912],
    ['2GB', 2_000_000_000],
    ['2gb', 2_000_000_000],
    ['1.5GiB', 1610612736],
    ['100kb', 100_000],
    ['100KB', 100_000],
    ['100KiB', 102_400],
    ['1TB', 1e12],
    ['1TiB', 1024 ** 4],
    ['1PB', 1e15],
    ['512m', 536870912],
    ['4k', 4096],
    ['1g', 1024 ** 3],
    ['10B', 10],
    ['0.5KB', 500],
    ['0.25KiB', 256],
    ['1.000MB', 1_000_000],
    ['1 MB', 1_000_000],
    [' 42 ', 42],
  ];
  for (const [text, bytes] of cases) assert.equal(parseByteSize(text), bytes, text);
});

test('negative, junk and fractional byte counts are usage errors naming the flag', () => {
  const cases: Array<[string, string]> = [
    ['-1', "--max-pack-bytes '-1' is negative; give a size of 0 or more, e.g. 512MiB"],
    ['-5MB', "--max-pack-bytes '-5MB' is negative; give a size of 0 or more, e.g. 512MiB"],
    ['abc', "--max-pack-bytes 'abc' is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)"],
    ['', "--max-pack-bytes '' is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)"],
    ['12XB', "--max-pack-bytes '12XB' is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)"],
    ['1e6', "--max-pack-bytes '1e6' is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)"],
    ['10 000', "--max-pack-bytes '10 000' is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)"],
    ['.5MB', "--max-pack-bytes '.5MB' is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)"],
    ['MB', "--max-pack-bytes 'MB' is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)"],
    ['1.5', "--max-pack-bytes '1.5' is not a whole number of bytes; use a smaller unit or fewer decimals"],
    ['1.0001KB', "--max-pack-bytes '1.0001KB' is not a whole number of bytes; use a smaller unit or fewer decimals"],
    ['99999PB', `--max-pack-bytes '99999PB' is too large; give at most ${Number.MAX_SAFE_INTEGER} bytes`],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseByteSize(text, '--max-pack-bytes'),
      (error: unknown) => error instanceof UsageError && error.code === 'USAGE' && error.message === message,
      text,
    );
  }
});
