import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { parseDuration } from '../../src/plan/duration.js';

describe('parseDuration', () => {
  it('reads a number with a unit, or plain seconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('2min'), 120_000);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration(' 90 '), 90_000);
    assert.equal(parseDuration('0.25S'), 250);
  });

  it('refuses what is not a duration, zero, negatives and more than a week, naming the flag', () => {
    for (const bad of ['', 'soon', '-5s', '5 d', '1e3', '0', '0ms', '0.0001s', '169h']) {
      assert.throws(() => parseDuration(bad, '--timeout'), (error: unknown) => error instanceof UsageError && error.message.startsWith(`--timeout '${bad}'`), bad);
    }
  });
});
