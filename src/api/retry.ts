/**
 * When a failed attempt is tried again, and after how long (docs/usage.md, "Timeouts and
 * retries"). Pure: the run (api/run-context.ts) decides whether trying again is safe and waits.
 *
 * Exponential backoff with jitter: the n-th retry waits between half and all of
 * `base * 2^(n-1)`, at most MAX_BACKOFF_MILLIS, so many mirrors failing at once against the same
 * host do not come back in step. A server's `Retry-After` is honoured when it asks for longer;
 * one that asks for more than MAX_RETRY_AFTER_MILLIS is not retried (it said "not now", and a
 * mirror run is better ended and rescheduled than parked).
 */
import { GitSyncError } from '../errors.js';

export const DEFAULT_RETRIES = 2;
export const DEFAULT_RETRY_DELAY_MILLIS = 1_000;
export const MAX_BACKOFF_MILLIS = 30_000;
export const MAX_RETRY_AFTER_MILLIS = 120_000;

export interface RetryDecision {
  /** Wait this long, then try again; null: do not try again. */
  waitMillis: number | null;
  /** Why not, when not (for -v). */
  reason: string | null;
}

/**
 * Whether the attempt that failed with `error` (the `retried`-th retry so far, 0 for the first
 * attempt) is tried again. `random` is in [0, 1); `remainingMillis` is what is left before the
 * run's deadline (null: no deadline).
 */
export function retryDecision(
  error: unknown,
  retried: number,
  policy: { retries: number; baseDelayMillis: number },
  random: number,
  remainingMillis: number | null,
): RetryDecision {
  if (!(error instanceof GitSyncError) || !error.transient) return { waitMillis: null, reason: null };
  if (retried >= policy.retries) return { waitMillis: null, reason: policy.retries === 0 ? null : `no retries left (${policy.retries} made)` };
  const backoff = Math.min(MAX_BACKOFF_MILLIS, policy.baseDelayMillis * 2 ** retried);
  let wait = Math.round(backoff / 2 + (random * backoff) / 2);
  const asked = 'retryAfterMillis' in error && typeof error.retryAfterMillis === 'number' ? error.retryAfterMillis : null;
  if (asked !== null) {
    if (asked > MAX_RETRY_AFTER_MILLIS) return { waitMillis: null, reason: `the server asked to wait ${Math.ceil(asked / 1000)} s (Retry-After), longer than a retry waits` };
    wait = Math.max(wait, asked);
  }
  if (remainingMillis !== null && wait >= remainingMillis) return { waitMillis: null, reason: 'the deadline would pass before the next attempt' };
  return { waitMillis: wait, reason: null };
}
