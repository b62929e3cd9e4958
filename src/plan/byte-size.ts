/**
 * Sizes for `--max-pack-bytes` and `--target-max-pack-bytes`: plain bytes or a number with a
 * unit, case-insensitive. SI units are powers of 1000 (`kB`, `MB`, `GB`, `TB`, `PB`), IEC units
 * powers of 1024 (`KiB` ... `PiB`); a bare letter (`512m`) is binary, as in git's config.
 * Fractions are allowed when the result is a whole number of bytes (`1.5GiB`, not `1.5`).
 */

import { UsageError } from '../errors.js';

const KILO = 1000n;
const KIBI = 1024n;

const UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n], ['b', 1n],
  ['kb', KILO], ['mb', KILO ** 2n], ['gb', KILO ** 3n], ['tb', KILO ** 4n], ['pb', KILO ** 5n],
  ['kib', KIBI], ['mib', KIBI ** 2n], ['gib', KIBI ** 3n], ['tib', KIBI ** 4n], ['pib', KIBI ** 5n],
  ['k', KIBI], ['m', KIBI ** 2n], ['g', KIBI ** 3n], ['t', KIBI ** 4n], ['p', KIBI ** 5n],
]);

const SIZE_RE = /^(\d+)(?:\.(\d+))?\s*([a-z]*)$/i;

/** `label` names the flag in messages, e.g. `--max-pack-bytes`. */
export function parseByteSize(text: string, label = 'size'): number {
  const trimmed = text.trim();
  const shown = `${label} '${text}'`;
  if (trimmed.startsWith('-')) throw new UsageError(`${shown} is negative; give a size of 0 or more, e.g. 512MiB`);
  const match = SIZE_RE.exec(trimmed);
  const multiplier = match === null ? undefined : UNITS.get((match[3] ?? '').toLowerCase());
  if (match === null || multiplier === undefined) {
    throw new UsageError(`${shown} is not a size; write bytes (1048576) or a number with a unit (512MiB, 2GB, 100kB)`);
  }
  const fraction = match[2] ?? '';
  const numerator = BigInt(`${match[1]}${fraction}`) * multiplier;
  const denominator = 10n ** BigInt(fraction.length);
  if (numerator % denominator !== 0n) {
    throw new UsageError(`${shown} is not a whole number of bytes; use a smaller unit or fewer decimals`);
  }
  const bytes = numerator / denominator;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${shown} is too large; give at most ${Number.MAX_SAFE_INTEGER} bytes`);
  return Number(bytes);
}
