/**
 * Feeds the commits of a streaming pack into a CommitGraphBuilder, whatever else the pack holds
 * (a `filter tree:0` pack is commits only; an ordinary pack also carries trees and blobs, which
 * are inflated and dropped by the reader without being kept). Commits stored as deltas are
 * rebuilt against their base commit, kept in a bounded cache of recent commit bodies.
 */
import { PackFormatError } from '../errors.js';
import { CommitGraphBuilder, commitId, type CommitGraph } from './commit-graph.js';
import { applyDelta } from './delta.js';
import { PackReader, type PackReaderOptions, type PackSummary } from './pack-reader.js';

/**
 * Bytes of recent commit bodies kept as possible delta bases. pack-objects looks for delta bases
 * in a small window of similar objects, so a commit's base is a recent commit in practice.
 */
const DEFAULT_COMMIT_CACHE_BYTES = 1024 * 1024;

/** A first-in, first-out cache of commit bodies by pack offset (and id, for REF_DELTA bases). */
class CommitBodyCache {
  private readonly byOffset = new Map<number, { id: string; body: Buffer }>();
  private readonly byId = new Map<string, number>();
  /** Insertion order, consumed from `head`: eviction is O(1). */
  private readonly queue: number[] = [];
  private head = 0;
  private bytes = 0;
  constructor(private readonly limit: number) {}

  put(offset: number, id: Buffer, body: Buffer): void {
    const hex = id.toString('hex');
    this.byOffset.set(offset, { id: hex, body });
    this.byId.set(hex, offset);
    this.queue.push(offset);
    this.bytes += body.length;
    while (this.bytes > this.limit && this.head < this.queue.length) {
      const oldest = this.queue[this.head++]!;
      const entry = this.byOffset.get(oldest);
      if (entry === undefined) continue;
      this.byOffset.delete(oldest);
      if (this.byId.get(entry.id) === oldest) this.byId.delete(entry.id);
      this.bytes -= entry.body.length;
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  atOffset(offset: number): Buffer | undefined {
    return this.byOffset.get(offset)?.body;
  }

  withId(id: string): Buffer | undefined {
    const offset = this.byId.get(id);
    return offset === undefined ? undefined : this.byOffset.get(offset)?.body;
  }
}

export interface ExtractOptions extends Omit<PackReaderOptions, 'wantData' | 'onData'> {
  cacheBytes?: number;
  /**
   * Asked once, when the first tree or blob of the pack begins, with the commits read so far;
   * true ends the read there, the rest of the pack unread. git and JGit write all of a pack's
   * commits (and tags) before its first tree or blob, so an ordinary pack's commits are then all
   * in: the caller confirms it (`CommitGraph.coversFetch`) before saying true. Otherwise, or
   * without `enough`, the pack is read to its end.
   */
  enough?: (graph: CommitGraph) => boolean;
}

/**
 * A PackReader wired to collect every commit (plain or deltified) into `builder`;
 * `onOtherObject` hears of the first entry that is a tree or a blob.
 */
export function commitExtractingReader(builder: CommitGraphBuilder, options: ExtractOptions = {}, onOtherObject?: () => void): PackReader {
  const cache = new CommitBodyCache(options.cacheBytes ?? DEFAULT_COMMIT_CACHE_BYTES);
  const add = (offset: number, body: Buffer): void => {
    const id = commitId(body, options.objectFormat ?? 'sha1');
    builder.addCommit(body, id);
    cache.put(offset, id, body);
  };
  let reserved = false;
  let othersSeen = false;
  const reader: PackReader = new PackReader({
    ...options,
    wantData: (type, entry) => {
      if (!reserved) {
        reserved = true;
        builder.reserve(reader.declaredObjects ?? 0);
      }
      const objectType = type === 'ofs-delta' || type === 'ref-delta' ? entry.objectType : type;
      if (!othersSeen && (objectType === 'tree' || objectType === 'blob')) {
        othersSeen = true;
        onOtherObject?.();
      }
      return objectType === 'commit';
    },
    onData: (object, data) => {
      if (object.type === 'commit') {
        add(object.offset, data);
        return;
      }
      const base = object.baseOffset !== undefined ? cache.atOffset(object.baseOffset) : object.baseId !== undefined ? cache.withId(object.baseId) : undefined;
      if (base === undefined) {
        throw new PackFormatError(
          `commit delta at offset ${object.offset} refers to a base commit no longer in memory; the pack's deltas reach further back than the ${Math.round((options.cacheBytes ?? DEFAULT_COMMIT_CACHE_BYTES) / 1048576)} MiB commit cache`,
        );
      }
      add(object.offset, applyDelta(base, data));
    },
  });
  return reader;
}

/** Reads a whole pack stream and returns the commit graph it carries with the pack summary. */
export async function extractCommits(
  source: AsyncIterable<Uint8Array>,
  options: Omit<ExtractOptions, 'enough'> = {},
): Promise<{ graph: CommitGraph; summary: PackSummary }> {
  const { graph, summary } = await readCommits(source, options);
  return { graph, summary: summary! };
}

/**
 * Like `extractCommits`, but asks `enough` when the first tree or blob begins (see
 * `ExtractOptions.enough`); the summary is null when the read ended there (the stream is closed).
 */
export function extractLeadingCommits(
  source: AsyncIterable<Uint8Array>,
  enough: (graph: CommitGraph) => boolean,
  options: Omit<ExtractOptions, 'enough'> = {},
): Promise<{ graph: CommitGraph; summary: PackSummary | null }> {
  return readCommits(source, { ...options, enough });
}

async function readCommits(source: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<{ graph: CommitGraph; summary: PackSummary | null }> {
  const builder = new CommitGraphBuilder(options.objectFormat ?? 'sha1');
  let othersBegun = false;
  const reader = commitExtractingReader(builder, options, () => (othersBegun = true));
  const chunks = source[Symbol.asyncIterator]();
  let asked = options.enough === undefined;
  try {
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      await reader.write(next.value);
      if (othersBegun && !asked) {
        asked = true;
        const graph = builder.build();
        if (options.enough!(graph)) {
          reader.destroy();
          await chunks.return?.();
          return { graph, summary: null };
        }
      }
    }
  } catch (error) {
    // As `for await` would: a failed read releases the stream (the response, its connection).
    reader.destroy(error instanceof Error ? error : undefined);
    await chunks.return?.().catch(() => undefined);
    throw error;
  }
  const summary = await reader.end();
  return { graph: builder.build(), summary };
}
