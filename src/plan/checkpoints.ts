/**
 * Where a batched relay cuts history (docs/architecture.md, "Batched relay"), and the temporary
 * refs that hold each checkpoint on the target. Pure: decided from the compact commit graph of
 * what the target lacks (any graph with this shape: `pack/commit-graph.ts` has it) and the plans.
 *
 * - `first-parent`: along each branch's first-parent chain; a merge brings its side branch in
 *   the same batch;
 * - `topo`: every commit in a deterministic topological order (parents first, first parents
 *   explored first), so side branches are split too. A cut then may have several tips, each
 *   held by a temporary ref.
 *
 * The branches' cut points, branch after branch in push order, form one sequence; a batch is a
 * consecutive range of it, so the tail of one branch and a few small branches after it share one
 * push.
 */
import type { Ref } from '../types.js';
import type { PushPlan } from './plan-types.js';
import { BOOTSTRAP_TEMP_PREFIX } from './ref-kind.js';

/** How checkpoints are placed along history (`--bootstrap-strategy`). */
export type CheckpointPlacement = 'first-parent' | 'topo';

/** What placing checkpoints needs of a commit graph: indices, ids and parent indices (-1: outside). */
export interface CommitDag {
  readonly size: number;
  indexOf(hex: string): number;
  idOf(index: number): string;
  parentIndicesOf(index: number): number[];
}

/** The temporary ref that holds a branch's latest checkpoint. */
export function primaryTempRef(branch: string): string {
  return `${BOOTSTRAP_TEMP_PREFIX}heads/${branch.replace(/^refs\/heads\//, '')}`;
}

/** The temporary ref that holds an extra tip of a `topo` checkpoint. */
export function extraTempRef(branch: string, batch: number, n: number): string {
  return `${BOOTSTRAP_TEMP_PREFIX}tips/${branch.replace(/^refs\/heads\//, '')}/${batch}-${n}`;
}

/**
 * True when the target holds `refs/gitsync/bootstrap/*` checkpoints: a rerun resumes that
 * bootstrap, so target refs already equal to the source are its own finished work, not a refusal.
 */
export function hasBootstrapCheckpoints(targetRefs: readonly Ref[]): boolean {
  return targetRefs.some((ref) => ref.name.startsWith(BOOTSTRAP_TEMP_PREFIX));
}

/**
 * The branch a checkpoint ref holds history for: `refs/gitsync/bootstrap/heads/<branch>` and
 * `refs/gitsync/bootstrap/tips/<branch>/<batch>-<n>` name `refs/heads/<branch>`; null for any
 * other name.
 */
export function checkpointBranch(name: string): string | null {
  if (!name.startsWith(BOOTSTRAP_TEMP_PREFIX)) return null;
  const rest = name.slice(BOOTSTRAP_TEMP_PREFIX.length);
  if (rest.startsWith('heads/') && rest.length > 'heads/'.length) return `refs/heads/${rest.slice('heads/'.length)}`;
  const tips = /^tips\/(.+)\/\d+-\d+$/.exec(rest);
  return tips === null ? null : `refs/heads/${tips[1]}`;
}

/** Checkpoint refs on the target that hold history for a branch `manages` says the run manages. */
export function checkpointsOfManagedBranches(targetRefs: readonly Ref[], manages: (branch: string) => boolean): Ref[] {
  return targetRefs.filter((ref) => {
    const branch = checkpointBranch(ref.name);
    return branch !== null && manages(branch);
  });
}

/** Commits of the graph reachable from `start` that are not covered yet, marked covered. */
function cover(graph: CommitDag, covered: Uint8Array, start: number): void {
  if (start < 0 || covered[start]) return;
  const stack = [start];
  covered[start] = 1;
  while (stack.length > 0) {
    for (const parent of graph.parentIndicesOf(stack.pop()!)) {
      if (parent >= 0 && !covered[parent]) {
        covered[parent] = 1;
        stack.push(parent);
      }
    }
  }
}

/** The cut points of one branch, oldest first, over commits not covered yet. */
export function cutPoints(graph: CommitDag, covered: Uint8Array, tip: number, placement: CheckpointPlacement): number[] {
  if (placement === 'first-parent') {
    const chain: number[] = [];
    for (let at = tip; at >= 0 && !covered[at]; at = graph.parentIndicesOf(at)[0] ?? -1) chain.push(at);
    return chain.reverse();
  }
  // Iterative depth-first post-order: a commit comes after all its (uncovered) parents.
  const order: number[] = [];
  const state = new Uint8Array(graph.size); // 0 new, 1 on stack, 2 done
  const stack: { at: number; next: number }[] = [{ at: tip, next: 0 }];
  state[tip] = 1;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const parents = graph.parentIndicesOf(frame.at);
    if (frame.next < parents.length) {
      const parent = parents[frame.next++]!;
      if (parent >= 0 && !covered[parent] && state[parent] === 0) {
        state[parent] = 1;
        stack.push({ at: parent, next: 0 });
      }
    } else {
      state[frame.at] = 2;
      order.push(frame.at);
      stack.pop();
    }
  }
  return order;
}

/** The tips of the ancestor-closed prefix `cuts[0..end]`: commits with no child inside it. */
function prefixTips(graph: CommitDag, cuts: readonly number[], end: number): number[] {
  const tips = new Set<number>();
  for (let i = 0; i <= end; i++) {
    for (const parent of graph.parentIndicesOf(cuts[i]!)) tips.delete(parent);
    tips.add(cuts[i]!);
  }
  // The cut itself first: it is what the primary temporary ref holds.
  return [cuts[end]!, ...[...tips].filter((tip) => tip !== cuts[end])];
}

/** One branch's share of the checkpoint sequence: its commits the target lacks, oldest first. */
export interface Segment {
  plan: PushPlan;
  tempRef: string;
  cuts: number[];
}

/**
 * The branches' cut points, branch after branch in push order, each branch over the commits no
 * earlier branch brings. Batches are consecutive ranges of this sequence.
 */
export function checkpointSegments(graph: CommitDag, branches: readonly (PushPlan & { sourceHash: string })[], placement: CheckpointPlacement): Segment[] {
  const covered = new Uint8Array(graph.size);
  const segments: Segment[] = [];
  for (const plan of branches) {
    const tip = graph.indexOf(plan.sourceHash);
    if (tip < 0 || covered[tip]) continue;
    const cuts = cutPoints(graph, covered, tip, placement);
    cover(graph, covered, tip);
    segments.push({ plan, tempRef: primaryTempRef(plan.targetRef), cuts });
  }
  return segments;
}

/** A batch's part in one segment: commits `first..last` (segment positions) and the tips to push. */
export interface BatchPart {
  segment: Segment;
  first: number;
  last: number;
  tips: number[];
}

/** The parts of the sequence range `from..end` (positions in the whole sequence). */
export function batchParts(graph: CommitDag, segments: readonly Segment[], from: number, end: number, placement: CheckpointPlacement): BatchPart[] {
  const parts: BatchPart[] = [];
  let start = 0;
  for (const segment of segments) {
    const stop = start + segment.cuts.length - 1;
    if (start <= end && stop >= from) {
      const first = Math.max(from, start) - start;
      const last = Math.min(end, stop) - start;
      const tips = placement === 'topo' ? prefixTips(graph, segment.cuts, last) : [segment.cuts[last]!];
      parts.push({ segment, first, last, tips });
    }
    start = stop + 1;
  }
  return parts;
}

/** The ref commands of a batch: each part's tips onto its temporary refs, from their values so far. */
export function batchCommands(
  graph: CommitDag,
  parts: readonly BatchPart[],
  batch: number,
  tempValues: ReadonlyMap<string, string>,
): { ref: string; oldHash: string | null; newHash: string }[] {
  return parts.flatMap((part) =>
    part.tips.map((index, n) => {
      const ref = n === 0 ? part.segment.tempRef : extraTempRef(part.segment.plan.targetRef, batch, n);
      return { ref, oldHash: tempValues.get(ref) ?? null, newHash: graph.idOf(index) };
    }),
  );
}
