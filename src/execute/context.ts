/**
 * What execution works with, built once per run (api/sync.ts) and handed to every step: both
 * sessions, the limits that bound each request, cancellation, and the run's observer. Each step
 * adds only what is its own (a request's commands and wants, a batch's budget).
 */
import type { RunObserver } from '../observe/observer.js';
import type { SharedFetchMember } from './pack-tee.js';
import type { ReceivePackSession } from '../protocol/receive-pack-session.js';
import type { UploadPackSession } from '../protocol/upload-pack-session.js';

export interface RelayContext {
  readonly source: UploadPackSession;
  readonly target: ReceivePackSession;
  /** No relayed pack may be larger (`maxPackBytes`); null for no limit. */
  readonly maxPackBytes: number | null;
  /** Ref commands per receive-pack request (`targetMaxRefUpdates`). */
  readonly maxRefUpdates: number;
  readonly signal: AbortSignal | undefined;
  readonly observer: RunObserver;
  /**
   * Where a relay's pack comes from when it is not asked of the source directly: one fetch
   * shared by a group of targets (execute/pack-tee.ts, `SharedFetch`).
   */
  readonly sharedFetch?: SharedFetchMember;
}
