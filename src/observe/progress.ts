/**
 * Progress events: what a running verb tells its caller through `onProgress` (docs/usage.md, "Progress and verbose output"). The
 * library never prints; the CLI draws these on stderr (src/cli/progress.ts), an embedding
 * program does what it likes with them.
 *
 * Byte counts come from the counters the transports already keep for `stats` (every request and
 * response body, streamed ones included, counted where the bytes pass). A timer reads them a few
 * times a second and reports the sides that moved, so the hot path pays nothing for progress.
 */
import type { RunPhase } from '../types.js';
import type { Side, StatsRecorder } from './stats.js';
import { monotonicMillis } from '../builtins.js';

/** A line of a server's own progress output (sideband band 2): what git prints after `remote:`. */
export interface ServerProgressEvent {
  kind: 'server';
  side: Side;
  message: string;
  /** An in-place update (git ended it with `\r`): the next line from this side replaces it. */
  transient: boolean;
}

/** git-sync explaining itself: discovery, the relay choice and why, ancestry requests, subdivisions, retries, checkpoints. */
export interface DecisionEvent {
  kind: 'decision';
  message: string;
}

export type { RunPhase };

/** Where a repeated phase stands: receive-pack request `index` of `total`, or batch `index` of `total`. */
export interface PhaseStep {
  unit: 'request' | 'batch';
  /** 1-based. */
  index: number;
  /** Null when the total is not known yet. */
  total: number | null;
}

export interface PhaseEvent {
  kind: 'phase';
  phase: RunPhase;
  /** Null for a phase that happens once. */
  step: PhaseStep | null;
}

/** Bytes moved with one side since the run started. */
export interface TransferEvent {
  kind: 'transfer';
  side: Side;
  bytesSent: number;
  bytesReceived: number;
  /** Since the run started. */
  elapsedMillis: number;
  /** True for the last event of the run for this side: the totals are final. */
  final: boolean;
}

export type ProgressEvent = ServerProgressEvent | DecisionEvent | PhaseEvent | TransferEvent;

export type ProgressListener = (event: ProgressEvent) => void;

/** How often byte counts are reported while they change (CommonOptions.progressIntervalMillis). */
export const DEFAULT_PROGRESS_INTERVAL_MILLIS = 200;

const SIDES: readonly Side[] = ['source', 'target'];

/** Reads the transport byte counters on a timer and reports each side whose counts moved. */
export class TransferTicker {
  private readonly started = monotonicMillis();
  private readonly timer: NodeJS.Timeout;
  private readonly last = new Map<Side, number>();
  private stopped = false;

  constructor(
    private readonly stats: StatsRecorder,
    private readonly emit: ProgressListener,
    intervalMillis: number = DEFAULT_PROGRESS_INTERVAL_MILLIS,
  ) {
    this.timer = setInterval(() => this.report(false), intervalMillis);
    this.timer.unref();
  }

  /** Stops the timer and reports the final totals of every side that moved any bytes. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.report(true);
  }

  private report(final: boolean): void {
    const elapsedMillis = Math.round(monotonicMillis() - this.started);
    for (const side of SIDES) {
      const { bytesSent, bytesReceived } = this.stats.bytes(side);
      const moved = bytesSent + bytesReceived;
      if (moved === 0 || (!final && moved === this.last.get(side))) continue;
      this.last.set(side, moved);
      this.emit({ kind: 'transfer', side, bytesSent, bytesReceived, elapsedMillis, final });
    }
  }
}
