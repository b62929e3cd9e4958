/**
 * The one object every layer reports to during a run (docs/architecture.md, "Observing a run").
 * Transports and protocol sessions count bytes, wants, haves and commands into the counters of
 * the transfer phase they are in; planning and execution announce phases and explain decisions;
 * server progress lines go where a listener wants them. A run builds one observer (api/run-context.ts)
 * and hands the same object down; a layer used on its own gets QUIET_OBSERVER.
 *
 * Counters are plain mutable records the counting code adds to where the bytes pass (a body
 * stream adds each chunk's length): a method call per chunk would be a cost on the hot path for
 * nothing, and the recorder reads the records only when asked (stats, the progress ticker).
 */
import type { ProgressCallback } from '../types.js';
import { TransferTicker, type PhaseStep, type ProgressListener, type RunPhase } from './progress.js';
import { StatsRecorder, type PhaseName, type PhaseStats, type Side, type StatsReport } from './stats.js';

export interface RunObserver {
  /** The counters of one transfer phase, or null when nobody counts (no stats, no progress). */
  counters(phase: PhaseName): PhaseStats | null;
  /** git-sync explaining a choice (`-v`, DecisionEvent). */
  decision(message: string): void;
  /** What the run does next; `step` says which push request or batch of how many. */
  phase(phase: RunPhase, step?: PhaseStep | null): void;
  /**
   * Where one side's server progress lines go, or null when nobody listens: the servers are then
   * asked for no progress at all (`no-progress`, no sideband band 2 traffic).
   */
  serverProgress(side: Side): ProgressCallback | null;
}

/** Counts nothing, tells nobody: for a layer used outside a run (tests, tools). */
export const QUIET_OBSERVER: RunObserver = {
  counters: () => null,
  decision: () => undefined,
  phase: () => undefined,
  serverProgress: () => null,
};

export interface RunObserverOptions {
  /** Keep byte counters for the result's `stats`. */
  stats: boolean;
  /** The caller's listener (CommonOptions.onProgress); transfer events are ticked from the counters. */
  listener?: ProgressListener;
  progressIntervalMillis?: number;
}

/** The observer of one run: counters when stats or progress are wanted, events to the caller's listener. */
export class ListeningObserver implements RunObserver {
  private readonly recorder: StatsRecorder | null;
  private readonly ticker: TransferTicker | null;
  private readonly listener: ProgressListener | null;
  /** The phase last announced: what the run was doing if it fails now. */
  currentPhase: RunPhase | null = null;

  constructor(options: RunObserverOptions) {
    this.listener = options.listener ?? null;
    this.recorder = options.stats || this.listener !== null ? new StatsRecorder() : null;
    this.ticker = this.listener !== null && this.recorder !== null ? new TransferTicker(this.recorder, this.listener, options.progressIntervalMillis) : null;
  }

  counters(phase: PhaseName): PhaseStats | null {
    return this.recorder?.phase(phase) ?? null;
  }

  decision(message: string): void {
    this.listener?.({ kind: 'decision', message });
  }

  phase(phase: RunPhase, step: PhaseStep | null = null): void {
    this.currentPhase = phase;
    this.listener?.({ kind: 'phase', phase, step });
  }

  serverProgress(side: Side): ProgressCallback | null {
    const listener = this.listener;
    return listener === null ? null : (message, transient) => listener({ kind: 'server', side, message, transient });
  }

  /** Stops the progress timer (final transfer events go out) and returns the counts so far. */
  stop(): StatsReport | null {
    this.ticker?.stop();
    return this.report();
  }

  /** The counts so far, counting on. */
  report(): StatsReport | null {
    return this.recorder?.report() ?? null;
  }
}
