/**
 * How many checkpoints go into each push of a batched relay (docs/architecture.md, "Batched
 * relay"). Pure arithmetic over evidence, no I/O:
 *
 * - the **budget** of a push is the target's body limit less room for the command section and
 *   HTTP framing;
 * - the first range is an eighth of the sequence (PROBE_SHARE), a probe whose bytes size the next
 *   one, unless the graph came from an ordinary pack read to its end: its bytes per checkpoint
 *   then size the first range. Trying the whole sequence first, as this did before, streams the
 *   better part of a budget before a projection can stop it, once or several times, whenever the
 *   history does not fit (measured on the bench's 128 MiB history under a 67 MiB limit: 14 of 48
 *   seconds went to three such tries); a probe that turns out too small costs one more batch;
 * - a pack that fit gives the bytes per checkpoint the next range is sized from, aimed at 90% of
 *   the budget (checkpoints differ in size; a range that still crosses the budget is stopped
 *   there and split), so a batch holds as many checkpoints as fit and small ranges grow again;
 * - a range that did not fit is split: in proportion to a projection of its size when there is
 *   one, halved when the pack only crossed the budget or the target refused it; a size the
 *   target named in its refusal becomes the limit.
 */

/** Room for the command section and HTTP framing in each push body. */
export const REQUEST_HEADROOM_BYTES = 16 * 1024;
/** Ranges sized from measured bytes per checkpoint aim at this share of the budget. */
export const FILL_SHARE = 0.9;
/** With no evidence yet, the first range is this share of the checkpoints (at least one). */
export const PROBE_SHARE = 1 / 8;

/** A size the server named in its refusal ("max 104857600 bytes", "limit is 100MB"), if any. */
export function limitNamedIn(text: string): number | null {
  const match = /(\d+(?:\.\d+)?)\s*(bytes|b|kb|kib|mb|mib|gb|gib)\b/i.exec(text);
  if (!match) return null;
  const units: Record<string, number> = { bytes: 1, b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
  const value = Math.floor(Number(match[1]) * units[match[2]!.toLowerCase()]!);
  return value > 0 ? value : null;
}

/** Why a range did not fit. */
export type Misfit =
  | { kind: 'crossed'; sentBytes: number }
  | { kind: 'projected'; sentBytes: number; projectedBytes: number }
  | { kind: 'refused'; status: number; namedLimit: number | null };

export class BatchSizer {
  private limitBytes: number;
  private bytesPerCut: number | null = null;
  private stepCuts: number;
  /** A batch has landed since the last misfit: the range is sized from evidence, not guessed. */
  private measured = false;

  /**
   * `totalCuts`: checkpoints in the whole sequence; `graphPackBytes`: bytes of the ordinary pack
   * the graph was read from, when it was read to its end (it is one batch of everything).
   */
  constructor(limitBytes: number, private readonly totalCuts: number, graphPackBytes: number | null = null) {
    this.limitBytes = limitBytes;
    this.stepCuts = Math.max(1, Math.ceil(totalCuts * PROBE_SHARE));
    if (graphPackBytes !== null && totalCuts > 0) {
      if (graphPackBytes > this.budget) {
        this.bytesPerCut = Math.max(1, graphPackBytes / totalCuts);
        this.stepCuts = this.fitting();
      } else {
        // The whole sequence was one pack under the budget: one push.
        this.stepCuts = totalCuts;
      }
    }
  }

  get limit(): number {
    return this.limitBytes;
  }

  /** Pack bytes one push may carry: the limit less room for the request. */
  get budget(): number {
    return Math.max(1, this.limitBytes - REQUEST_HEADROOM_BYTES);
  }

  /** True while the range is a guess: the relay should project the pack's size early. */
  get guessing(): boolean {
    return !this.measured;
  }

  /** Checkpoints per push the evidence says fit. */
  get step(): number {
    return this.stepCuts;
  }

  /** The last position (inclusive) of the next range, after `done` positions are across. */
  nextEnd(done: number): number {
    return Math.min(done + this.stepCuts, this.totalCuts - 1);
  }

  /** Pushes expected in all: those landed plus the rest at the measured rate (0: no estimate yet). */
  planned(landed: number, done: number): number {
    if (this.bytesPerCut === null) return 0;
    return landed + Math.ceil((this.totalCuts - 1 - done) / this.fitting());
  }

  /** A range of `span` checkpoints landed in `bytes`: the next range is sized from it. */
  fitted(span: number, bytes: number): number {
    this.bytesPerCut = Math.max(1, bytes / span);
    this.measured = true;
    this.stepCuts = this.fitting();
    return this.stepCuts;
  }

  /**
   * Where the range after `done` would end if a range of `span` checkpoints lands in `bytes`,
   * without changing anything: what a batched relay fetches ahead while the target indexes.
   */
  endAfterFit(span: number, bytes: number, done: number): number {
    const ahead = new BatchSizer(this.limitBytes, this.totalCuts);
    ahead.bytesPerCut = this.bytesPerCut;
    ahead.stepCuts = this.stepCuts;
    ahead.measured = this.measured;
    ahead.fitted(span, bytes);
    return ahead.nextEnd(done);
  }

  /**
   * A range of `span` checkpoints did not fit. Returns the next step, or null when a single
   * checkpoint does not fit (it cannot be split).
   */
  misfit(span: number, why: Misfit): number | null {
    if (why.kind === 'refused' && why.namedLimit !== null && why.namedLimit < this.limitBytes) this.limitBytes = why.namedLimit;
    if (span <= 1) return null;
    const shrink = why.kind === 'projected' ? Math.max(1, Math.floor((span * this.budget * FILL_SHARE) / why.projectedBytes)) : Math.floor(span / 2);
    this.stepCuts = Math.max(1, Math.min(Math.floor(span / 2), shrink));
    this.measured = false;
    return this.stepCuts;
  }

  private fitting(): number {
    return Math.max(1, Math.floor((this.budget * FILL_SHARE) / this.bytesPerCut!));
  }
}
