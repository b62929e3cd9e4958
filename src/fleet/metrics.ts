/**
 * The serve metrics (docs/fleet.md, "Metrics"), in Prometheus' text format via prom-client, on a
 * registry of their own (an embedding program's default registry is left alone). Counters move
 * when a run ends; the per-mirror gauges (staleness, failures in a row) are read from the
 * service's status when /metrics is scraped, so they are never stale themselves.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** A finished run, as the metrics count it. */
export interface RunMetrics {
  mirror: string;
  outcome: 'success' | 'noop' | 'failed' | 'blocked' | 'aborted';
  durationSeconds: number;
  bytesFromSource: number;
  bytesToTarget: number;
  /** The error code of a failed, blocked or aborted run; null otherwise. */
  errorCode: string | null;
}

/** A mirror's standing when /metrics is read. */
export interface MirrorGaugeSource {
  id: string;
  /** ms since the epoch; null: never succeeded. */
  lastSuccessAt: number | null;
  /** Since when the service has known the mirror (its staleness when it never succeeded). */
  knownSince: number;
  consecutiveFailures: number;
}

export interface FleetMetricsOptions {
  /** The mirrors' standing, read at every scrape. */
  mirrors: () => readonly MirrorGaugeSource[];
  /** Runs in progress, read at every scrape. */
  inFlight: () => number;
  now?: () => number;
  /** Also export prom-client's process metrics (memory, CPU, event loop). Default true. */
  processMetrics?: boolean;
}

/** Seconds; fleet runs last from a few hundred milliseconds (a no-op) to an hour (a first mirror). */
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export class FleetMetrics {
  readonly registry = new Registry();
  private readonly runs: Counter<'mirror' | 'outcome'>;
  private readonly failures: Counter<'mirror' | 'code'>;
  private readonly duration: Histogram<'outcome'>;
  private readonly bytes: Counter<'mirror' | 'direction'>;
  private readonly hooks: Counter<'provider' | 'status'>;
  /** The error codes each mirror's failures were counted under, to drop its series when it goes. */
  private readonly failureCodes = new Map<string, Set<string>>();

  constructor(options: FleetMetricsOptions) {
    const now = options.now ?? Date.now;
    const registers = [this.registry];
    this.runs = new Counter({ name: 'gitsync_fleet_runs_total', help: 'Finished mirror runs, by mirror and outcome (success, noop, failed, blocked, aborted).', labelNames: ['mirror', 'outcome'], registers });
    this.failures = new Counter({ name: 'gitsync_fleet_run_failures_total', help: 'Failed mirror runs, by mirror and error code.', labelNames: ['mirror', 'code'], registers });
    this.duration = new Histogram({ name: 'gitsync_fleet_run_duration_seconds', help: 'How long mirror runs took, by outcome.', labelNames: ['outcome'], buckets: DURATION_BUCKETS, registers });
    this.bytes = new Counter({ name: 'gitsync_fleet_bytes_total', help: 'Bytes read from sources (direction="source") and sent to targets (direction="target"), by mirror.', labelNames: ['mirror', 'direction'], registers });
    this.hooks = new Counter({ name: 'gitsync_fleet_hook_requests_total', help: 'Webhook requests, by endpoint (github, gitlab, generic) and HTTP status answered.', labelNames: ['provider', 'status'], registers });
    new Gauge({
      name: 'gitsync_fleet_runs_in_flight',
      help: 'Mirror runs in progress (or waiting for a slot under the concurrency caps).',
      registers,
      collect() {
        this.set(options.inFlight());
      },
    });
    new Gauge({
      name: 'gitsync_fleet_mirrors',
      help: 'Mirrors in the manifest being served.',
      registers,
      collect() {
        this.set(options.mirrors().length);
      },
    });
    // Each per-mirror gauge reads the mirrors' standing when it is collected; a mirror gone
    // from the manifest leaves no series behind.
    const perMirror = (name: string, help: string, value: (mirror: MirrorGaugeSource, at: number) => number | null): void => {
      new Gauge({
        name,
        help,
        labelNames: ['mirror'],
        registers,
        collect() {
          const at = now();
          this.reset();
          for (const mirror of options.mirrors()) {
            const v = value(mirror, at);
            if (v !== null) this.set({ mirror: mirror.id }, v);
          }
        },
      });
    };
    perMirror('gitsync_fleet_mirror_staleness_seconds', 'Seconds since the mirror last synced successfully (since the service took it on, when it never has).', (mirror, at) =>
      Math.max(0, (at - (mirror.lastSuccessAt ?? mirror.knownSince)) / 1000),
    );
    perMirror('gitsync_fleet_mirror_last_success_timestamp_seconds', 'When the mirror last synced successfully (Unix time); absent when it never has.', (mirror) =>
      mirror.lastSuccessAt === null ? null : mirror.lastSuccessAt / 1000,
    );
    perMirror('gitsync_fleet_mirror_consecutive_failures', 'Failed runs in a row of the mirror (0 after a success).', (mirror) => mirror.consecutiveFailures);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts a finished run. */
  runFinished(run: RunMetrics): void {
    this.runs.inc({ mirror: run.mirror, outcome: run.outcome });
    if (run.outcome === 'failed') {
      const code = run.errorCode ?? 'INTERNAL';
      this.failures.inc({ mirror: run.mirror, code });
      const codes = this.failureCodes.get(run.mirror) ?? new Set<string>();
      codes.add(code);
      this.failureCodes.set(run.mirror, codes);
    }
    this.duration.observe({ outcome: run.outcome }, run.durationSeconds);
    if (run.bytesFromSource > 0) this.bytes.inc({ mirror: run.mirror, direction: 'source' }, run.bytesFromSource);
    if (run.bytesToTarget > 0) this.bytes.inc({ mirror: run.mirror, direction: 'target' }, run.bytesToTarget);
  }

  hookAnswered(provider: string, status: number): void {
    this.hooks.inc({ provider, status: String(status) });
  }

  /** Drops the series of a mirror no longer in the manifest. */
  forget(mirror: string): void {
    for (const outcome of ['success', 'noop', 'failed', 'blocked', 'aborted']) this.runs.remove({ mirror, outcome });
    for (const direction of ['source', 'target']) this.bytes.remove({ mirror, direction });
    for (const code of this.failureCodes.get(mirror) ?? []) this.failures.remove({ mirror, code });
    this.failureCodes.delete(mirror);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
