/**
 * A worker's `/metrics` (docs/fleet.md, "Distributed workers"): serve's metrics (metrics.ts),
 * counting the runs this worker finished, with the per-mirror gauges (staleness, failures in a
 * row) read from the shared Redis state when scraped, so every worker reports the fleet's
 * standing, not only its own runs.
 */
import { FleetMetrics, type MirrorGaugeSource } from '../metrics.js';
import type { RunRecord } from '../state.js';
import type { FleetWorker } from './worker.js';

export class WorkerMetrics {
  private worker: FleetWorker | null = null;
  private mirrors: MirrorGaugeSource[] = [];
  private readonly since = Date.now();
  readonly metrics = new FleetMetrics({ mirrors: () => this.mirrors, inFlight: () => this.worker?.inFlight() ?? 0 });

  /** Reads the standing of `worker`'s mirrors from Redis at each scrape. */
  watch(worker: FleetWorker): void {
    this.worker = worker;
  }

  runFinished(mirror: string, record: RunRecord, durationMillis: number): void {
    this.metrics.runFinished({
      mirror,
      outcome: record.outcome,
      durationSeconds: durationMillis / 1000,
      bytesFromSource: record.bytesFromSource ?? 0,
      bytesToTarget: record.bytesToTarget ?? 0,
      errorCode: record.errorCode,
    });
  }

  /** The exposition text, the mirrors' standing read from Redis first. */
  async render(): Promise<{ contentType: string; body: string }> {
    if (this.worker !== null) {
      const statuses = await this.worker.fleetState.mirrorStatuses({ ids: this.worker.mirrorIds() });
      this.mirrors = statuses.map((status) => ({ id: status.id, lastSuccessAt: status.lastSuccess?.getTime() ?? null, knownSince: this.since, consecutiveFailures: status.consecutiveFailures }));
    }
    return { contentType: this.metrics.contentType, body: await this.metrics.text() };
  }
}
