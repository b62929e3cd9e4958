import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchSizer, FILL_SHARE, REQUEST_HEADROOM_BYTES, limitNamedIn } from '../../src/plan/batch-sizer.js';

describe('batch sizer', () => {
  it('probes with an eighth of the sequence first, then halves a range that crossed the budget', () => {
    const probe = new BatchSizer(500_000, 40);
    assert.equal(probe.nextEnd(-1), 4, 'the first 5 of 40 checkpoints');
    assert.equal(new BatchSizer(500_000, 3).nextEnd(-1), 0, 'at least one');
    const sizer = new BatchSizer(500_000, 15);
    assert.equal(sizer.budget, 500_000 - REQUEST_HEADROOM_BYTES);
    assert.equal(sizer.nextEnd(-1), 1, '2 of 15 checkpoints');
    assert.equal(sizer.guessing, true);
    assert.equal(sizer.misfit(15, { kind: 'crossed', sentBytes: 491_519 }), 7);
    assert.equal(sizer.misfit(7, { kind: 'crossed', sentBytes: 491_498 }), 3);
    assert.equal(sizer.misfit(3, { kind: 'crossed', sentBytes: 491_519 }), 1);
    assert.equal(sizer.nextEnd(-1), 0);
  });

  it('sizes the next range from measured bytes per checkpoint at 90% of the budget', () => {
    const sizer = new BatchSizer(500_000, 15);
    sizer.misfit(15, { kind: 'crossed', sentBytes: 491_519 });
    // One 200 KB checkpoint landed: two fit in 0.9 x 483,616 bytes.
    assert.equal(sizer.fitted(1, 200_245), 2);
    assert.equal(sizer.guessing, false);
    assert.equal(sizer.nextEnd(0), 2);
    // 14 left at two per push: 7 more, 8 in all.
    assert.equal(sizer.planned(1, 0), 8);
    assert.equal(Math.floor((sizer.budget * FILL_SHARE) / 200_245), 2);
    // Small checkpoints grow the range again.
    assert.equal(sizer.fitted(2, 20_000), Math.floor((sizer.budget * FILL_SHARE) / 10_000));
  });

  it('scales a range by a projection, and never below one checkpoint nor above half', () => {
    const sizer = new BatchSizer(1_000_000, 100);
    const budget = sizer.budget;
    // 100 checkpoints projected at 10 MB: about 8 fit.
    assert.equal(sizer.misfit(100, { kind: 'projected', sentBytes: 300_000, projectedBytes: 10_000_000 }), Math.floor((100 * budget * FILL_SHARE) / 10_000_000));
    // A mild projection still at least halves.
    assert.equal(sizer.misfit(10, { kind: 'projected', sentBytes: 300_000, projectedBytes: 1_100_000 }), 5);
    assert.equal(sizer.misfit(2, { kind: 'projected', sentBytes: 300_000, projectedBytes: 1e12 }), 1);
  });

  it('says a single checkpoint that does not fit cannot be split', () => {
    const sizer = new BatchSizer(100_000, 3);
    assert.equal(sizer.misfit(1, { kind: 'crossed', sentBytes: 90_000 }), null);
  });

  it('takes a limit the target names in its refusal, when it is lower', () => {
    const sizer = new BatchSizer(4_415_693, 40);
    assert.equal(sizer.misfit(40, { kind: 'refused', status: 413, namedLimit: 1_500_000 }), 20);
    assert.equal(sizer.limit, 1_500_000);
    sizer.misfit(20, { kind: 'refused', status: 413, namedLimit: 9_000_000 });
    assert.equal(sizer.limit, 1_500_000, 'a higher named size does not raise the limit');
  });

  it('sizes the first range from an ordinary pack read to its end', () => {
    // The graph came from a 10 MB pack of 100 checkpoints: 100 KB each, 8 per 1 MB push.
    const sizer = new BatchSizer(1_000_000, 100, 10_000_000);
    assert.equal(sizer.step, Math.floor(((1_000_000 - REQUEST_HEADROOM_BYTES) * FILL_SHARE) / 100_000));
    assert.equal(sizer.planned(0, -1), Math.ceil(100 / sizer.step));
    // A pack that fits the budget whole says nothing against one push.
    assert.equal(new BatchSizer(1_000_000, 100, 500_000).step, 100);
  });

  it('reads a size out of a refusal the way hosts word it', () => {
    assert.equal(limitNamedIn('request body exceeds 1500000 bytes'), 1_500_000);
    assert.equal(limitNamedIn('max size 100MB'), 100_000_000);
    assert.equal(limitNamedIn('limit is 2 GiB'), 2 * 1024 ** 3);
    assert.equal(limitNamedIn('<html>413 Request Entity Too Large</html>'), null);
  });
});
