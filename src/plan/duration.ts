/**
 * Durations for `--timeout` and `--deadline`: a number with a unit (`500ms`, `30s`, `2m`,
 * `1.5h`), or plain seconds (`90`). Case-insensitive; fractions allowed; the result is whole
 * milliseconds, at least 1.
 */
import { UsageError } from '../errors.js';

const UNIT_MILLIS: ReadonlyMap<string, number> = new Map([
  ['ms', 1],
  ['', 1000],
  ['s', 1000],
  ['m', 60_000],
  ['min', 60_000],
  ['h', 3_600_000],
]);

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** Longest duration accepted: a week, far past any mirror run, and safe for timers. */
const MAX_DURATION_MILLIS = 7 * 24 * 3_600_000;

/** `label` names the flag in messages, e.g. `--timeout`. */
export function parseDuration(text: string, label = 'duration'): number {
  const shown = `${label} '${text}'`;
  const match = DURATION_RE.exec(text.trim());
  const unit = match === null ? undefined : UNIT_MILLIS.get((match[2] ?? '').toLowerCase());
  if (match === null || unit === undefined) throw new UsageError(`${shown} is not a duration; write a number with a unit (500ms, 30s, 2m, 1h) or seconds (90)`);
  const millis = Math.round(Number(match[1]) * unit);
  if (millis < 1) throw new UsageError(`${shown} is zero; give a duration of at least 1ms`);
  if (millis > MAX_DURATION_MILLIS) throw new UsageError(`${shown} is longer than a week; give at most 168h`);
  return millis;
}
