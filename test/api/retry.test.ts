/** The retry policy (api/retry.ts), with numbers: which failures, how long, and when not. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RETRY_DELAY_MILLIS, MAX_BACKOFF_MILLIS, MAX_RETRY_AFTER_MILLIS, retryDecision } from '../../src/api/retry.js';
import { HttpStatusError, NetworkError, RefBlockedError, TimeoutError, UsageError } from '../../src/errors.js';

const POLICY = { retries: 3, baseDelayMillis: DEFAULT_RETRY_DELAY_MILLIS };

function status(code: number, retryAfterMillis: number | null = null): HttpStatusError {
  const error = new HttpStatusError({ status: code, url: 'https://h/r.git', requestIds: {} }, `HTTP ${code}`);
  error.retryAfterMillis = retryAfterMillis;
  return error;
}

describe('retryDecision', () => {
  it('retries transient failures only', () => {
    for (const error of [status(502), status(503), status(504), status(429), new NetworkError('u', 'reset', { transient: true }), new TimeoutError('idle', 'u', 5, 'idle')]) {
      assert.notEqual(retryDecision(error, 0, POLICY, 0.5, null).waitMillis, null, error.message);
    }
    for (const error of [status(500), status(404), status(401), new NetworkError('u', 'ENOTFOUND'), new TimeoutError('deadline', null, 5, 'deadline'), new UsageError('bad'), new RefBlockedError(['refs/heads/x']), new Error('bug')]) {
      assert.deepEqual(retryDecision(error, 0, POLICY, 0.5, null), { waitMillis: null, reason: null }, String(error));
    }
  });

  it('backs off exponentially, between half and all of base * 2^n, capped', () => {
    const waits = [0, 1, 2, 3].map((retried) => [retryDecision(status(503), retried, { retries: 10, baseDelayMillis: 1000 }, 0, null).waitMillis, retryDecision(status(503), retried, { retries: 10, baseDelayMillis: 1000 }, 0.999999, null).waitMillis]);
    assert.deepEqual(waits, [
      [500, 1000],
      [1000, 2000],
      [2000, 4000],
      [4000, 8000],
    ]);
    assert.equal(retryDecision(status(503), 9, { retries: 10, baseDelayMillis: 1000 }, 0.999999, null).waitMillis, MAX_BACKOFF_MILLIS);
  });

  it('stops when the retries are used up, saying so; 0 retries says nothing', () => {
    assert.deepEqual(retryDecision(status(503), 3, POLICY, 0.5, null), { waitMillis: null, reason: 'no retries left (3 made)' });
    assert.deepEqual(retryDecision(status(503), 0, { retries: 0, baseDelayMillis: 1000 }, 0.5, null), { waitMillis: null, reason: null });
  });

  it("honours a longer Retry-After, and gives up on one longer than it waits", () => {
    assert.equal(retryDecision(status(503, 7000), 0, POLICY, 0.5, null).waitMillis, 7000);
    assert.equal(retryDecision(status(503, 10), 0, POLICY, 0.5, null).waitMillis, 750, 'a shorter Retry-After does not shorten the backoff');
    const long = retryDecision(status(503, MAX_RETRY_AFTER_MILLIS + 1000), 0, POLICY, 0.5, null);
    assert.equal(long.waitMillis, null);
    assert.match(long.reason ?? '', /the server asked to wait 121 s \(Retry-After\)/);
  });

  it('does not wait past the deadline', () => {
    assert.deepEqual(retryDecision(status(503), 0, POLICY, 0.5, 700), { waitMillis: null, reason: 'the deadline would pass before the next attempt' });
    assert.equal(retryDecision(status(503), 0, POLICY, 0.5, 800).waitMillis, 750);
  });
});
