/** The serve metrics (docs/fleet.md, "Metrics"): names, labels and values as Prometheus reads them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FleetMetrics, type MirrorGaugeSource } from '../../src/fleet/metrics.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';

describe('fleet metrics', () => {
  it('counts runs, failures, bytes and durations, and reads the mirrors\' gauges at scrape time', async () => {
    let now = 1_800_000_000_000;
    let mirrors: MirrorGaugeSource[] = [
      { id: 'a', lastSuccessAt: now - 90_000, knownSince: now - 600_000, consecutiveFailures: 0 },
      { id: 'b', lastSuccessAt: null, knownSince: now - 30_000, consecutiveFailures: 3 },
    ];
    const metrics = new FleetMetrics({ mirrors: () => mirrors, inFlight: () => 2, now: () => now, processMetrics: false });
    metrics.runFinished({ mirror: 'a', outcome: 'success', durationSeconds: 0.3, bytesFromSource: 1000, bytesToTarget: 900, errorCode: null });
    metrics.runFinished({ mirror: 'a', outcome: 'noop', durationSeconds: 0.05, bytesFromSource: 200, bytesToTarget: 0, errorCode: null });
    metrics.runFinished({ mirror: 'b', outcome: 'failed', durationSeconds: 4, bytesFromSource: 0, bytesToTarget: 0, errorCode: 'HTTP_AUTH' });
    metrics.runFinished({ mirror: 'b', outcome: 'failed', durationSeconds: 4, bytesFromSource: 0, bytesToTarget: 0, errorCode: 'HTTP_AUTH' });
    metrics.hookAnswered('github', 401);
    assert.match(metrics.contentType, /^text\/plain/);
    const scraped = parseExposition(await metrics.text());
    assert.equal(sampleValue(scraped, 'gitsync_fleet_runs_total', { mirror: 'a', outcome: 'success' }), 1);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_runs_total', { mirror: 'b', outcome: 'failed' }), 2);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_run_failures_total', { mirror: 'b', code: 'HTTP_AUTH' }), 2);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_bytes_total', { mirror: 'a', direction: 'source' }), 1200);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_bytes_total', { mirror: 'a', direction: 'target' }), 900);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_run_duration_seconds_count', { outcome: 'failed' }), 2);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_run_duration_seconds_bucket', { outcome: 'success', le: '0.25' }), 0);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_run_duration_seconds_bucket', { outcome: 'success', le: '0.5' }), 1);
    assert.equal(scraped.types.get('gitsync_fleet_run_duration_seconds'), 'histogram');
    assert.equal(sampleValue(scraped, 'gitsync_fleet_runs_in_flight'), 2);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_mirrors'), 2);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_mirror_staleness_seconds', { mirror: 'a' }), 90);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_mirror_staleness_seconds', { mirror: 'b' }), 30, 'never synced: stale since taken on');
    assert.equal(sampleValue(scraped, 'gitsync_fleet_mirror_last_success_timestamp_seconds', { mirror: 'a' }), (now - 90_000) / 1000);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_mirror_last_success_timestamp_seconds', { mirror: 'b' }), undefined);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_mirror_consecutive_failures', { mirror: 'b' }), 3);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_hook_requests_total', { provider: 'github', status: '401' }), 1);

    // Later, with mirror b removed from the manifest.
    now += 60_000;
    mirrors = [mirrors[0]!];
    metrics.forget('b');
    const later = parseExposition(await metrics.text());
    assert.equal(sampleValue(later, 'gitsync_fleet_mirror_staleness_seconds', { mirror: 'a' }), 150);
    assert.deepEqual(later.samples.filter((sample) => sample.labels.mirror === 'b'), []);
    assert.equal(sampleValue(later, 'gitsync_fleet_runs_total', { mirror: 'a', outcome: 'noop' }), 1);
  });

  it('exports the process metrics by default', async () => {
    const metrics = new FleetMetrics({ mirrors: () => [], inFlight: () => 0 });
    const scraped = parseExposition(await metrics.text());
    assert.ok((sampleValue(scraped, 'process_resident_memory_bytes') ?? 0) > 0);
  });
});
