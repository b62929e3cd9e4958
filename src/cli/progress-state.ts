/**
 * What the progress display shows, folded from the library's progress events: bytes and a recent
 * rate per side, the phase and its step (push request or batch `i/N`), and each server's latest
 * progress line. Pure: the drawing lives in progress.ts.
 */
import type { PhaseStep, ProgressEvent, RunPhase } from '../observe/progress.js';
import type { Side } from '../observe/stats.js';
import { formatBytes } from '../observe/units.js';

/** The recent rate is measured over this much of the latest byte counts. */
const RATE_WINDOW_MILLIS = 3000;

interface Sample {
  millis: number;
  bytes: number;
}

interface SideState {
  /** The bytes that flow through git-sync: received from the source, sent to the target. */
  bytes: number;
  samples: Sample[];
  /** The latest progress line of this side's server. */
  server: string | null;
  /** True once the run reported this side's final totals. */
  final: boolean;
  elapsedMillis: number;
}

export interface EndpointLabels {
  source: string;
  /** Null for commands without a target (fetch, probe with one argument). */
  target: string | null;
}

const PHASE_WORDS: Record<RunPhase, string> = {
  discover: 'listing refs',
  ancestry: 'checking ancestry',
  checkpoints: 'placing checkpoints',
  fetch: 'fetching',
  push: 'pushing',
};

export class ProgressState {
  private readonly sides: Record<Side, SideState> = { source: emptySide(), target: emptySide() };
  private phase: RunPhase | null = null;
  private batch: PhaseStep | null = null;
  private request: PhaseStep | null = null;
  /** True once any bytes were reported: a run that failed before moving any gets no summary. */
  moved = false;

  constructor(readonly labels: EndpointLabels) {}

  /** Folds one event in; returns true when the live display changed. */
  apply(event: ProgressEvent): boolean {
    switch (event.kind) {
      case 'transfer': {
        const side = this.sides[event.side];
        side.bytes = event.side === 'source' ? event.bytesReceived : event.bytesSent;
        side.elapsedMillis = event.elapsedMillis;
        side.final = event.final;
        side.samples.push({ millis: event.elapsedMillis, bytes: side.bytes });
        while (side.samples.length > 2 && side.samples[1].millis <= event.elapsedMillis - RATE_WINDOW_MILLIS) side.samples.shift();
        this.moved = true;
        return true;
      }
      case 'phase':
        // A batch keeps showing while its requests count up; anything else starts afresh.
        if (event.step?.unit === 'request' && event.phase === this.phase) {
          this.request = event.step;
        } else {
          this.batch = event.step?.unit === 'batch' ? event.step : null;
          this.request = event.step?.unit === 'request' ? event.step : null;
        }
        this.phase = event.phase;
        return true;
      case 'server':
        this.sides[event.side].server = event.message;
        return true;
      case 'decision':
        return false;
    }
  }

  /** Forgets a side's server line (it was printed for good above the live display). */
  clearServerLine(side: Side): void {
    this.sides[side].server = null;
  }

  /** Bytes per second over the last few seconds. */
  rate(side: Side): number {
    const { samples } = this.sides[side];
    if (samples.length === 0) return 0;
    const last = samples[samples.length - 1];
    const first = samples.length > 1 ? samples[0] : { millis: 0, bytes: 0 };
    const span = last.millis - first.millis;
    return span > 0 ? ((last.bytes - first.bytes) * 1000) / span : 0;
  }

  /** `github.com -> 12.3 MiB @ 4.1 MiB/s . 12.1 MiB @ 4.0 MiB/s -> mirror.example.com . pushing batch 2/5 . 0:42` (arrows and dots as U+2192, U+00B7) */
  statusLine(elapsedMillis: number): string {
    const parts = [`${this.labels.source} → ${this.amount('source', false)}`];
    if (this.labels.target !== null) parts.push(`${this.amount('target', false)} → ${this.labels.target}`);
    const doing = this.doing();
    if (doing !== null) parts.push(doing);
    parts.push(formatDuration(elapsedMillis));
    return parts.join(' · ');
  }

  /** The closing line: total bytes per side at the run's average rate. */
  summaryLine(elapsedMillis: number, failed: boolean): string {
    const parts = [`${this.labels.source} → ${this.amount('source', true)}`];
    if (this.labels.target !== null && this.sides.target.bytes > 0) parts.push(`${this.amount('target', true)} → ${this.labels.target}`);
    return `${failed ? 'failed after' : 'done in'} ${formatDuration(elapsedMillis)}: ${parts.join(' · ')}`;
  }

  /** The latest server lines, one per side that has one. */
  serverLines(): { side: Side; message: string }[] {
    return (['source', 'target'] as const).flatMap((side) => {
      const message = this.sides[side].server;
      return message === null ? [] : [{ side, message }];
    });
  }

  private amount(side: Side, average: boolean): string {
    const state = this.sides[side];
    const rate = average ? (state.elapsedMillis > 0 ? (state.bytes * 1000) / state.elapsedMillis : 0) : this.rate(side);
    return `${formatBytes(state.bytes)} @ ${formatBytes(Math.round(rate))}/s${average ? ' avg' : ''}`;
  }

  private doing(): string | null {
    if (this.phase === null) return null;
    const steps = [this.batch, this.request].filter((step): step is PhaseStep => step !== null);
    return [PHASE_WORDS[this.phase], ...steps.map((step) => `${step.unit} ${step.index}/${step.total ?? '?'}`)].join(' ');
  }
}

function emptySide(): SideState {
  return { bytes: 0, samples: [], server: null, final: false, elapsedMillis: 0 };
}

export { formatBytes };

/** `0:07`, `12:34`, `1:02:03`. */
export function formatDuration(millis: number): string {
  const total = Math.floor(millis / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/**
 * A short name for an endpoint, safe to print: the host (and port) of a URL or scp-like address,
 * the last path segment of a local path. Credentials never appear.
 */
export function endpointLabel(location: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    try {
      const url = new URL(location);
      if (url.protocol !== 'file:' && url.host !== '') return url.host;
      return lastSegment(decodeURIComponent(url.pathname));
    } catch {
      return lastSegment(location);
    }
  }
  const scp = /^(?:[^@/]+@)?([^:/]{2,}):/.exec(location);
  if (scp !== null) return scp[1];
  return lastSegment(location);
}

function lastSegment(path: string): string {
  const parts = path.split(/[\\/]/).filter((part) => part.length > 0);
  return parts.length > 0 ? parts[parts.length - 1] : path;
}
