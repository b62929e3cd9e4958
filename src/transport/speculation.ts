/**
 * A request sent before its caller knows it will want the answer (ConnectOptions.speculate): it
 * runs under a signal of its own, tied to the caller's, so that dropping it stops it whatever
 * stage it is at; its outcome, answer or error, waits until it is taken or dropped.
 */
import type { PktLineReader } from '../wire/pktline.js';
import type { SpeculatedRequest } from './transport.js';

export class Speculation implements SpeculatedRequest {
  private readonly controller = new AbortController();
  private readonly outcome: Promise<PktLineReader | null>;
  private settled = false;
  /** Stops following the caller's signal (a long-lived one, a fleet's, must not gather listeners). */
  private readonly unlink: () => void;

  /** `send` makes the request under the signal it is given; null means the guess is void. */
  constructor(send: (signal: AbortSignal) => Promise<PktLineReader | null>, signal: AbortSignal | undefined) {
    if (signal === undefined) this.unlink = () => undefined;
    else if (signal.aborted) {
      this.controller.abort(signal.reason);
      this.unlink = () => undefined;
    } else {
      const follow = (): void => this.controller.abort(signal.reason);
      signal.addEventListener('abort', follow, { once: true });
      this.unlink = () => signal.removeEventListener('abort', follow);
    }
    this.outcome = send(this.controller.signal);
    // Held until taken: an error before then is not an unhandled one.
    this.outcome.catch(() => undefined);
  }

  take(): Promise<PktLineReader | null> {
    if (this.settled) return Promise.resolve(null);
    this.settled = true;
    return this.outcome;
  }

  drop(): void {
    this.unlink();
    if (this.settled) return;
    this.settled = true;
    this.controller.abort();
    this.outcome.then(
      (reader) => reader?.close().catch(() => undefined),
      () => undefined,
    );
  }
}
