/**
 * The idle timeout of one conversation (docs/usage.md, "Timeouts and retries"): the last moment
 * a byte moved either way, and a watch kept only while git-sync waits on the peer (for its next
 * bytes, or for it to take ours). A transfer that moves in either direction never times out, so
 * a slow push whose report is awaited while the pack streams is not cut off, and the silence
 * while git-sync itself holds a chunk (a relay waiting on the other side) is not counted.
 */
export class IdleClock {
  private last = performance.now();
  private holds = 0;

  /** Bytes moved. */
  touch(): void {
    this.last = performance.now();
  }

  /**
   * The conversation waits on git-sync, not on the peer, until the returned function is called
   * (a request body whose next bytes come from the other side of a relay): no watch fires
   * meanwhile, and the quiet is counted from the release.
   */
  hold(): () => void {
    this.holds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      this.touch();
    };
  }

  /**
   * Starts waiting: `onIdle` runs once `idleMillis` pass with no `touch` (counted from now or the
   * last touch, whichever is later). Returns the function that stops the watch when the wait ends.
   */
  watch(idleMillis: number, onIdle: () => void): () => void {
    this.touch();
    let timer: NodeJS.Timeout | undefined;
    const arm = (millis: number): void => {
      timer = setTimeout(() => {
        const quiet = this.holds > 0 ? 0 : performance.now() - this.last;
        if (quiet >= idleMillis) onIdle();
        else arm(idleMillis - quiet);
      }, millis);
    };
    arm(idleMillis);
    return () => clearTimeout(timer);
  }
}
