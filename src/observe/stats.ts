/**
 * Transfer statistics, counted where the bytes really pass (transports wrap every request and
 * response body), grouped by phase as docs/json.md names them.
 */

import type { Side } from '../types.js';

export type { Side };
export type PhaseName =
  | 'source info-refs'
  | 'source ls-refs'
  | 'source fetch'
  | 'target info-refs'
  | 'target push';

export interface PhaseStats {
  requests: number;
  requestBytes: number;
  responseBytes: number;
  wants: number;
  haves: number;
  commands: number;
  elapsedMillis: number;
}

export interface SideStats {
  requests: number;
  bytesSent: number;
  bytesReceived: number;
  elapsedMillis: number;
  /** (sent + received) per second of time spent in this side's requests; 0 when unmeasured. */
  bytesPerSecond: number;
}

export interface StatsReport {
  phases: Record<string, PhaseStats>;
  source: SideStats;
  target: SideStats;
}

function emptyPhase(): PhaseStats {
  return { requests: 0, requestBytes: 0, responseBytes: 0, wants: 0, haves: 0, commands: 0, elapsedMillis: 0 };
}

export class StatsRecorder {
  private readonly phases = new Map<string, PhaseStats>();

  phase(name: PhaseName): PhaseStats {
    let phase = this.phases.get(name);
    if (phase === undefined) {
      phase = emptyPhase();
      this.phases.set(name, phase);
    }
    return phase;
  }

  /** Bytes sent to and received from one side so far; cheap enough to poll for progress. */
  bytes(side: Side): { bytesSent: number; bytesReceived: number } {
    let bytesSent = 0;
    let bytesReceived = 0;
    for (const [name, phase] of this.phases) {
      if (!name.startsWith(`${side} `)) continue;
      bytesSent += phase.requestBytes;
      bytesReceived += phase.responseBytes;
    }
    return { bytesSent, bytesReceived };
  }

  report(): StatsReport {
    const phases: Record<string, PhaseStats> = {};
    for (const [name, phase] of this.phases) phases[name] = { ...phase, elapsedMillis: Math.round(phase.elapsedMillis) };
    return { phases, source: this.side('source'), target: this.side('target') };
  }

  private side(side: Side): SideStats {
    const out: SideStats = { requests: 0, bytesSent: 0, bytesReceived: 0, elapsedMillis: 0, bytesPerSecond: 0 };
    for (const [name, phase] of this.phases) {
      if (!name.startsWith(`${side} `)) continue;
      out.requests += phase.requests;
      out.bytesSent += phase.requestBytes;
      out.bytesReceived += phase.responseBytes;
      out.elapsedMillis += phase.elapsedMillis;
    }
    out.elapsedMillis = Math.round(out.elapsedMillis);
    if (out.elapsedMillis > 0) out.bytesPerSecond = Math.round(((out.bytesSent + out.bytesReceived) * 1000) / out.elapsedMillis);
    return out;
  }
}
