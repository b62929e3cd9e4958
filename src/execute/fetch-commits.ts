/**
 * The commits between a source's wants and a set of haves, as a compact graph: the one fetch
 * behind ancestry answers (api/ancestry.ts) and checkpoint placement (execute/batched.ts).
 * With `filter tree:0` when the source offers it, the pack holds only commits; without, the
 * ordinary pack is read as far as its commits (docs/architecture.md, "Ancestry without
 * materializing"), and its size is known when it had to be read to its end.
 */
import { extractLeadingCommits } from '../pack/commit-extractor.js';
import type { CommitGraph } from '../pack/commit-graph.js';
import type { UploadPackSession } from '../protocol/upload-pack-session.js';
import { onSide } from '../errors.js';
import type { RunObserver } from '../observe/observer.js';
import type { Oid } from '../types.js';

export interface CommitsFetch {
  graph: CommitGraph;
  /** Bytes of the ordinary pack the graph came from when it was read to its end; else null. */
  ordinaryPackBytes: number | null;
}

export async function fetchCommits(
  source: UploadPackSession,
  wants: readonly Oid[],
  haves: readonly Oid[],
  options: { signal?: AbortSignal; observer?: RunObserver } = {},
): Promise<CommitsFetch> {
  try {
    return await fetchAndExtract(source, wants, haves, options);
  } catch (error) {
    throw onSide(error, 'source');
  }
}

async function fetchAndExtract(
  source: UploadPackSession,
  wants: readonly Oid[],
  haves: readonly Oid[],
  options: { signal?: AbortSignal; observer?: RunObserver } = {},
): Promise<CommitsFetch> {
  const filtered = source.supportsFilter;
  const response = await source.fetch({ wants, haves, filter: filtered ? 'tree:0' : null, onProgress: options.observer?.serverProgress('source') ?? undefined, signal: options.signal });
  const haveSet = new Set<string>(haves);
  const extracted = await extractLeadingCommits(response.pack, (sofar) => sofar.coversFetch(wants, haveSet), {
    signal: options.signal,
    objectFormat: source.discovery.capabilities.objectFormat(),
  });
  return { graph: extracted.graph, ordinaryPackBytes: !filtered && extracted.summary !== null ? extracted.summary.bytes : null };
}
