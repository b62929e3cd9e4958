/**
 * Feeds the commits of a streaming pack into a CommitGraphBuilder, whatever else the pack holds
 * (a `filter tree:0` pack is commits only; an ordinary pack also carries trees and blobs, which
 * are inflated and dropped by the reader without being kept). Commits stored as deltas are
 * rebuilt against their base commit, which may lie anywhere earlier in the stream: every commit
 * is kept, as the pack stored it, in a DeltaBaseStore (memory, then a temporary file) until the
 * read ends (docs/architecture.md, "Commits stored as deltas").
 */
import { PackFormatError } from '../errors.js';
import { noteStreamedBytes } from '../observe/gc-pacer.js';
import { CommitGraphBuilder, commitId, type CommitGraph } from './commit-graph.js';
import { applyDelta } from './delta.js';
import { DeltaBaseStore, type DeltaBaseStoreOptions } from './delta-base-store.js';
import { GrowableFloat64 } from './growable-array.js';
import { OidIndex } from './oid-index.js';
import { MAX_COMMIT_BYTES, hashLength } from './pack-format.js';
import { PackReader, type PackReaderOptions, type PackSummary } from './pack-reader.js';

export interface ExtractOptions extends Omit<PackReaderOptions, 'wantData' | 'onData' | 'refBaseType'> {
  /** Where and how much of the commits are kept in memory before they go to a temporary file. */
  store?: DeltaBaseStoreOptions;
  /**
   * Asked with the commits read so far when the first tree or blob of the pack begins, and again
   * at the first tree or blob after each later run of commits (a few times at most); true ends
   * the read there, the rest of the pack unread. git writes most or all of a pack's commits
   * before its trees and blobs, but not always all of them (docs/architecture.md, "Ancestry
   * without materializing"): the caller confirms the commits cover what it fetched
   * (`CommitGraph.coversFetch`) before saying true. Otherwise, or without `enough`, the pack is
   * read to its end.
   */
  enough?: (graph: CommitGraph) => boolean;
}

/**
 * Commit id -> pack offset, for REF_DELTA bases (named by id). git sends OFS_DELTAs to clients
 * that ask for `ofs-delta`, as git-sync does, so this is built only when a pack holds a
 * REF_DELTA, from the commits stored so far, and kept up to date from then on.
 */
class CommitOffsets {
  private readonly ids: OidIndex;
  private readonly offsets = new GrowableFloat64(1024);
  constructor(idLength: number) {
    this.ids = new OidIndex(idLength);
  }

  add(id: Buffer, offset: number): void {
    this.ids.set(id, this.offsets.length);
    this.offsets.push(offset);
  }

  offsetOf(id: Buffer): number | undefined {
    const row = this.ids.get(id);
    return row < 0 ? undefined : this.offsets.array[row];
  }
}

/**
 * A PackReader wired to collect every commit (plain or deltified) into `builder`, keeping them
 * in `store` as delta bases; `onOtherObject` hears of each tree or blob that follows new commits
 * (the first tree or blob of the pack, and the first after each later run of commits).
 */
function commitExtractingReader(builder: CommitGraphBuilder, store: DeltaBaseStore, options: ExtractOptions, onOtherObject: () => void): PackReader {
  const format = options.objectFormat ?? 'sha1';
  let byId: CommitOffsets | undefined;
  const commitOffsets = (): CommitOffsets => {
    if (byId === undefined) {
      const index = new CommitOffsets(hashLength(format));
      let k = 0;
      store.forEachOffset((offset) => index.add(builder.idAt(k++), offset));
      byId = index;
    }
    return byId;
  };
  const keep = (offset: number, body: Buffer): void => {
    noteStreamedBytes(body.length);
    const id = commitId(body, format);
    builder.addCommit(body, id);
    byId?.add(id, offset);
  };
  let reserved = false;
  /** Commits were added since the last tree or blob. */
  let commitsSinceOther = true;
  const reader: PackReader = new PackReader({
    ...options,
    refBaseType: (baseId) => (commitOffsets().offsetOf(baseId) !== undefined ? 'commit' : undefined),
    wantData: (type, entry) => {
      if (!reserved) {
        reserved = true;
        builder.reserve(reader.declaredObjects ?? 0);
      }
      const objectType = type === 'ofs-delta' || type === 'ref-delta' ? entry.objectType : type;
      if (objectType === 'tree' || objectType === 'blob') {
        if (commitsSinceOther) onOtherObject();
        commitsSinceOther = false;
      } else if (objectType === 'commit' || objectType === undefined) {
        commitsSinceOther = true;
      }
      if (objectType !== 'commit') return false;
      // A commit is held whole (a delta: its instructions, then the commit they make), so its
      // declared size is checked before any of it is inflated (pack-format.ts, MAX_COMMIT_BYTES).
      if (entry.size > MAX_COMMIT_BYTES) {
        const what = type === 'commit' ? 'commit' : 'commit delta';
        throw new PackFormatError(`${what} at offset ${entry.offset} declares ${entry.size} bytes, more than the ${MAX_COMMIT_BYTES} git-sync reads`);
      }
      return true;
    },
    onData: (object, data, compressed) => {
      if (object.type === 'commit') {
        store.addObject(object.offset, data, compressed);
        keep(object.offset, data);
        return;
      }
      const baseOffset = object.baseOffset ?? commitOffsets().offsetOf(Buffer.from(object.baseId!, 'hex'));
      const base = baseOffset === undefined ? undefined : store.contentAt(baseOffset);
      if (baseOffset === undefined || base === undefined) {
        throw new PackFormatError(`commit delta at offset ${object.offset} names a base that is not a commit earlier in the pack`);
      }
      let body: Buffer;
      try {
        body = applyDelta(base, data);
      } catch (error) {
        if (!(error instanceof PackFormatError)) throw error;
        throw new PackFormatError(`commit delta at offset ${object.offset} does not apply to its base at offset ${baseOffset}: ${error.message}`, { cause: error });
      }
      store.addDelta(object.offset, baseOffset, data, compressed, body);
      keep(object.offset, body);
    },
  });
  return reader;
}

/**
 * How often `enough` is asked at most. Each ask builds the graph of the commits so far (linear
 * in the commits); git writes a pack's commits in one to a few runs, so a handful of asks finds
 * their end, and a pack that alternates commits with other objects cannot make the asks cost
 * more than a few graphs.
 */
const MAX_ASKS = 6;

/** Reads a whole pack stream and returns the commit graph it carries with the pack summary. */
export async function extractCommits(
  source: AsyncIterable<Uint8Array>,
  options: Omit<ExtractOptions, 'enough'> = {},
): Promise<{ graph: CommitGraph; summary: PackSummary }> {
  const { graph, summary } = await readCommits(source, options);
  return { graph, summary: summary! };
}

/**
 * Like `extractCommits`, but asks `enough` when trees or blobs begin (see
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
  const store = new DeltaBaseStore(options.store);
  try {
    return await readInto(source, store, options);
  } finally {
    store.close();
  }
}

async function readInto(source: AsyncIterable<Uint8Array>, store: DeltaBaseStore, options: ExtractOptions): Promise<{ graph: CommitGraph; summary: PackSummary | null }> {
  const builder = new CommitGraphBuilder(options.objectFormat ?? 'sha1');
  const read = await readPack(source, builder, store, options);
  if ('early' in read) return { graph: read.early, summary: null };
  // The stored commits and the reader's tables are no longer needed: release them before the
  // graph's arrays are made (the reader is out of scope now; closing the store lets a pacing
  // host collect both at once).
  store.close();
  return { graph: builder.build(), summary: read.summary };
}

/** Reads the pack into `builder`: to its end (the summary), or until `enough` says so (that graph). */
async function readPack(
  source: AsyncIterable<Uint8Array>,
  builder: CommitGraphBuilder,
  store: DeltaBaseStore,
  options: ExtractOptions,
): Promise<{ summary: PackSummary } | { early: CommitGraph }> {
  let othersBegun = false;
  let asks = 0;
  const reader = commitExtractingReader(builder, store, options, () => (othersBegun = true));
  const chunks = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      await reader.write(next.value);
      if (othersBegun && options.enough !== undefined && asks < MAX_ASKS) {
        othersBegun = false;
        asks += 1;
        const graph = builder.build();
        if (options.enough(graph)) {
          store.close();
          reader.destroy();
          await chunks.return?.();
          return { early: graph };
        }
      }
    }
  } catch (error) {
    // As `for await` would: a failed read releases the stream (the response, its connection).
    reader.destroy(error instanceof Error ? error : undefined);
    await chunks.return?.().catch(() => undefined);
    throw error;
  }
  return { summary: await reader.end() };
}
