/**
 * Fast-forwards proven by the relay's own pack (docs/architecture.md, "One fetch for an
 * incremental sync"). A sync that moves branches forward needs to know each target tip is an
 * ancestor of its new source tip. Instead of a commits-only fetch before the relay, the run may
 * plan as if every such question were answered "ancestor" and let the relay's pack prove it:
 * that pack holds every commit from the source tips down to what the target has (its tips are the
 * haves), and git writes most commits before any tree or blob. The commits are read from a copy of
 * the stream as it passes (the commit extractor, which stops as soon as the answer cannot change);
 * a walk from each source tip must meet the target tip as a parent. The relay releases the pack's last bytes only
 * once every question is proven; otherwise it aborts, the target sees a truncated pack and
 * applies nothing, and the run plans again the ordinary way.
 */
import { GitSyncError, onSide } from '../errors.js';
import { ancestryFromGraph, type CommitGraph } from '../pack/commit-graph.js';
import { extractLeadingCommits } from '../pack/commit-extractor.js';
import type { ObjectFormat } from '../pack/pack-reader.js';
import type { AncestryQuestion } from '../plan/index.js';

/**
 * The relay's pack did not prove a fast-forward it was planned on (a branch diverged, or the
 * proof needs commits the pack leaves out). Nothing was applied: the run plans again with the
 * source asked.
 */
export class AncestryUnprovenError extends GitSyncError {
  constructor(
    readonly refs: readonly string[],
    why: string,
    options?: { cause?: unknown },
  ) {
    super('ABORTED', `the relay's pack did not prove ${refs.join(', ')} a fast-forward (${why})`, options);
  }
}

/**
 * A copy of a stream for one reader that runs beside it: `push` waits until the reader took the
 * chunk (so at most one chunk is held), and returns at once after the reader stopped.
 */
class ChunkTee implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private stopped = false;
  private wakeReader: (() => void) | null = null;
  private wakeWriter: (() => void) | null = null;

  async push(chunk: Buffer): Promise<void> {
    if (this.stopped) return;
    this.queue.push(chunk);
    this.wake();
    while (this.queue.length > 0 && !this.stopped) await new Promise<void>((resolve) => (this.wakeWriter = resolve));
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }

  private release(): void {
    const wake = this.wakeWriter;
    this.wakeWriter = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk !== undefined) {
          this.release();
          yield chunk;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      this.stopped = true;
      this.queue.length = 0;
      this.release();
    }
  }

  /** The relay failed or the reader is done: let a waiting writer go, end a waiting reader. */
  stop(): void {
    this.stopped = true;
    this.ended = true;
    this.queue.length = 0;
    this.release();
    this.wake();
  }
}

export interface AncestryProof {
  /** Feeds the next chunk of the pack; waits while the commits are being read. */
  write(chunk: Buffer): Promise<void>;
  /** The pack ended. */
  end(): void;
  /** Settles once the commits are read: resolves when every question is proven. */
  readonly proven: Promise<void>;
  /** The relay failed: stop reading. */
  destroy(): void;
}

export function proveFromPack(
  questions: readonly AncestryQuestion[],
  haves: readonly string[],
  options: { objectFormat: ObjectFormat; signal: AbortSignal },
): AncestryProof {
  const tee = new ChunkTee();
  const onlyHave = haves.length === 1;
  const isProven = (graph: CommitGraph, question: AncestryQuestion): boolean => ancestryFromGraph(graph, question.targetHash, question.sourceHash, onlyHave) === 'ancestor';
  const proven = (async (): Promise<void> => {
    let graph: CommitGraph;
    try {
      // Asked when trees or blobs begin after a run of commits: stop once every question is
      // proven, or once the commits read cover the range (each new tip is there and each parent
      // outside them is a have), when no later commit can change the answer. Otherwise read
      // on: git writes most commits first, but commits stored as deltas may come after trees.
      const tips = questions.map((question) => question.sourceHash);
      const haveSet = new Set<string>(haves);
      const settled = (sofar: CommitGraph): boolean => questions.every((question) => isProven(sofar, question)) || sofar.coversFetch(tips, haveSet);
      ({ graph } = await extractLeadingCommits(tee, settled, { signal: options.signal, objectFormat: options.objectFormat }));
    } catch (error) {
      // A pack whose commits cannot be read (PACK_FORMAT, a cut stream) fails the relay as it is:
      // a broken pack from the source, not a question to ask the source instead.
      throw onSide(error, 'source');
    } finally {
      tee.stop();
    }
    const unproven = questions.filter((question) => !isProven(graph, question));
    if (unproven.length > 0) {
      throw new AncestryUnprovenError(
        unproven.map((question) => question.targetRef),
        'no walk from the new tip through the pack\'s commits meets the target\'s tip',
      );
    }
  })();
  // Observed by the relay when it needs the answer; never an unhandled rejection before that.
  proven.catch(() => undefined);
  return {
    write: (chunk) => tee.push(chunk),
    end: () => tee.end(),
    proven,
    destroy: () => tee.stop(),
  };
}
