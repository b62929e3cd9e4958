/**
 * Feeds the commits of a streaming pack into a CommitGraphBuilder, whatever else the pack holds
 * (a `filter tree:0` pack is commits only; an ordinary pack also carries trees and blobs, which
 * are inflated and dropped by the reader without being kept). Commits stored as deltas are
 * rebuilt against their base commit, kept in a bounded cache of recent commit bodies.
 */
import { PackFormatError } from '../errors.js';
import { CommitGraphBuilder, commitId } from './commit-graph.js';
import { applyDelta } from './delta.js';
import { PackReader, type PackReaderOptions, type PackSummary } from './pack-reader.js';

/** Bytes of commit bodies kept for delta bases; deltas reach back a short window in practice. */
const DEFAULT_COMMIT_CACHE_BYTES = 32 * 1024 * 1024;

class CommitBodyCache {
  private readonly byOffset = new Map<number, Buffer>();
  private readonly byId = new Map<string, number>();
  private bytes = 0;
  constructor(private readonly limit: number) {}

  put(offset: number, id: Buffer, body: Buffer): void {
    this.byOffset.set(offset, body);
    this.byId.set(id.toString('hex'), offset);
    this.bytes += body.length;
    // Maps iterate in insertion order: evict the oldest bodies first.
    for (const [oldOffset, oldBody] of this.byOffset) {
      if (this.bytes <= this.limit) break;
      this.byOffset.delete(oldOffset);
      this.bytes -= oldBody.length;
    }
  }

  atOffset(offset: number): Buffer | undefined {
    return this.byOffset.get(offset);
  }

  withId(id: string): Buffer | undefined {
    const offset = this.byId.get(id);
    return offset === undefined ? undefined : this.byOffset.get(offset);
  }
}

/** A PackReader wired to collect every commit (plain or deltified) into `builder`. */
export function commitExtractingReader(
  builder: CommitGraphBuilder,
  options: Omit<PackReaderOptions, 'wantData' | 'onData'> & { cacheBytes?: number } = {},
): PackReader {
  const cache = new CommitBodyCache(options.cacheBytes ?? DEFAULT_COMMIT_CACHE_BYTES);
  const add = (offset: number, body: Buffer): void => {
    const id = commitId(body);
    builder.addCommit(body, id);
    cache.put(offset, id, body);
  };
  return new PackReader({
    ...options,
    wantData: (type, entry) => type === 'commit' || ((type === 'ofs-delta' || type === 'ref-delta') && entry.objectType === 'commit'),
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
}

/** Reads a whole pack stream and returns the commit graph it carries with the pack summary. */
export async function extractCommits(
  source: AsyncIterable<Uint8Array>,
  options: Omit<PackReaderOptions, 'wantData' | 'onData'> = {},
): Promise<{ graph: ReturnType<CommitGraphBuilder['build']>; summary: PackSummary }> {
  const builder = new CommitGraphBuilder();
  const reader = commitExtractingReader(builder, options);
  for await (const chunk of source) await reader.write(chunk);
  const summary = await reader.end();
  return { graph: builder.build(), summary };
}
