/**
 * The idle timeout of one conversation (docs/usage.md, "Timeouts and retries"): how long
 * git-sync has waited on the peer (for its next packet, or for it to take our bytes) since the
 * peer last made progress. Progress is what `touch` is told: a whole pkt-line received (the
 * reader's `onPacket`), a handshake line, bytes the peer took. Bytes that arrive without
 * completing anything are not progress, so a server that trickles a byte now and then is as
 * stalled as one that sends nothing (docs/security.md, "Bounded memory and time").
 *
 * Only time spent waiting counts: the quiet while git-sync itself is busy, or while a request
 * body waits for its next bytes from the other side of a relay (`hold`), is not the peer's.
 */
import { monotonicMillis } from '../builtins.js';

export class IdleClock {
  /** Time waited since the last progress, in waits that have ended. */
  private waited = 0;
  /** Waits open now (a reader and a blocked writer may wait at once). */
  private waiting = 0;
  /** When the open waits began, or the last progress during them, whichever is later. */
  private since = 0;
  private holds = 0;

  /** The peer made progress: the quiet starts over. */
  touch(): void {
    this.waited = 0;
    this.since = monotonicMillis();
  }

  /** Time waited on the peer since its last progress, holds aside. */
  private quiet(): number {
    if (this.holds > 0) return 0;
    return this.waited + (this.waiting > 0 ? monotonicMillis() - this.since : 0);
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
   * Starts waiting on the peer: `onIdle` runs once the time waited since its last progress
   * reaches `idleMillis` (waits before this one count too, when no progress came between).
   * Returns the function that ends the wait.
   */
  watch(idleMillis: number, onIdle: () => void): () => void {
    if (this.waiting++ === 0) this.since = monotonicMillis();
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const arm = (millis: number): void => {
      timer = setTimeout(() => {
        const quiet = this.quiet();
        if (quiet >= idleMillis) onIdle();
        else arm(this.holds > 0 ? idleMillis : idleMillis - quiet);
      }, Math.max(1, millis));
    };
    arm(idleMillis - this.quiet());
    return () => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      if (--this.waiting === 0) this.waited += monotonicMillis() - this.since;
    };
  }
}
