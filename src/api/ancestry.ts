/**
 * Answers the planner's ancestry questions with commits-only fetches (docs/architecture.md, "Ancestry
 * without materializing"). One shared request first: every source tip wanted, every questioned target
 * tip as a have. Questions that pack cannot settle get one request per target tip, with that tip
 * as the only have, which always settles them. Without `filter` support the ordinary pack is read
 * up to its first tree or blob, once its commits are all in (they come first), and only its
 * commits are kept.
 */
import type { CommitGraph } from '../pack/commit-graph.js';
import { ancestryFromGraph } from '../pack/commit-graph.js';
import { fetchCommits } from '../execute/fetch-commits.js';
import { ancestryKey, type AncestryAnswer, type AncestryQuestion } from '../plan/index.js';
import type { RunObserver } from '../observe/observer.js';
import type { UploadPackSession } from '../protocol/upload-pack-session.js';
import type { Oid } from '../types.js';

export interface AncestryOptions {
  signal?: AbortSignal;
  /** Told about each request (why it was made); gets the source's progress lines. */
  observer?: RunObserver;
}

export interface AncestryResult {
  answers: Map<string, AncestryAnswer>;
  /** Fetch requests made to answer the questions. */
  requests: number;
  /** Commits parsed across those requests. */
  commits: number;
}

async function commitsBetween(session: UploadPackSession, wants: readonly Oid[], haves: readonly Oid[], options: AncestryOptions): Promise<CommitGraph> {
  return (await fetchCommits(session, wants, haves, { signal: options.signal, observer: options.observer })).graph;
}

export async function answerAncestry(session: UploadPackSession, questions: readonly AncestryQuestion[], options: AncestryOptions = {}): Promise<AncestryResult> {
  const answers = new Map<string, AncestryAnswer>();
  const result: AncestryResult = { answers, requests: 0, commits: 0 };
  if (questions.length === 0) return result;

  const wants = [...new Set(questions.map((q) => q.sourceHash))];
  const haves = [...new Set(questions.map((q) => q.targetHash))];
  const how = session.supportsFilter ? 'commits only (filter tree:0)' : 'the ordinary pack read as far as its commits (the source offers no filter)';
  options.observer?.decision(`ancestry: ${questions.length} question(s), one fetch of ${wants.length} want(s) and ${haves.length} have(s), ${how}`);
  const shared = await commitsBetween(session, wants, haves, options);
  result.requests += 1;
  result.commits += shared.size;

  const unsettled = new Map<Oid, AncestryQuestion[]>();
  for (const question of questions) {
    const answer = ancestryFromGraph(shared, question.targetHash, question.sourceHash, haves.length === 1);
    if (answer === 'ambiguous') {
      const group = unsettled.get(question.targetHash) ?? [];
      group.push(question);
      unsettled.set(question.targetHash, group);
    } else {
      answers.set(ancestryKey(question.targetHash, question.sourceHash), answer);
    }
  }

  for (const [targetHash, group] of unsettled) {
    const groupWants = [...new Set(group.map((q) => q.sourceHash))];
    options.observer?.decision(`ancestry: ${group.map((q) => q.targetRef).join(', ')} left ambiguous by the shared fetch; asking again with ${targetHash.slice(0, 8)} as the only have`);
    const graph = await commitsBetween(session, groupWants, [targetHash], options);
    result.requests += 1;
    result.commits += graph.size;
    for (const question of group) {
      const answer = ancestryFromGraph(graph, question.targetHash, question.sourceHash, true);
      answers.set(ancestryKey(question.targetHash, question.sourceHash), answer === 'ancestor' ? 'ancestor' : 'not-ancestor');
    }
  }
  return result;
}
