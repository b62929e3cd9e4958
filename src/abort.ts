/**
 * A signal of one's own that follows another until released. Node 20's `AbortSignal.any` keeps
 * every signal it makes for as long as one of its sources lives: a fleet passes one shutdown
 * signal to every run for days, and 100,000 calls kept 100,000 signals (docs/architecture.md,
 * "Memory model"). This one stops following its parent when released.
 */
export interface LinkedAbort {
  /** Fires when the parent does (with its reason) or on `abort`. */
  readonly signal: AbortSignal;
  abort(reason: unknown): void;
  /** Stops following the parent; the signal fires no more from it. Idempotent. */
  release(): void;
}

export function linkedAbort(parent: AbortSignal | undefined): LinkedAbort {
  const controller = new AbortController();
  let release = (): void => undefined;
  if (parent?.aborted) controller.abort(parent.reason);
  else if (parent !== undefined) {
    const follow = (): void => controller.abort(parent.reason);
    parent.addEventListener('abort', follow, { once: true });
    release = () => parent.removeEventListener('abort', follow);
  }
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    release: () => release(),
  };
}
