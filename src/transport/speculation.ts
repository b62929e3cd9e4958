/**
 * A request sent before its caller knows it will want the answer (ConnectOptions.speculate): it
 * runs under a signal of its own, tied to the caller's, so that dropping it stops it whatever
 * stage it is at; its outcome, answer or error, waits until it is taken or dropped.
 */
import { linkedAbort, type LinkedAbort } from '../abort.js';
import type { PktLineReader } from '../wire/pktline.js';
import type { SpeculatedRequest } from './transport.js';

export class Speculation implements SpeculatedRequest {
  /** Its own signal, following the caller's until dropped (a fleet's must not gather listeners). */
  private readonly abort: LinkedAbort;
  private readonly outcome: Promise<PktLineReader | null>;
  private settled = false;

  /** `send` makes the request under the signal it is given; null means the guess is void. */
  constructor(send: (signal: AbortSignal) => Promise<PktLineReader | null>, signal: AbortSignal | undefined) {
    this.abort = linkedAbort(signal);
    this.outcome = send(this.abort.signal);
    // Held until taken: an error before then is not an unhandled one.
    this.outcome.catch(() => undefined);
  }

  take(): Promise<PktLineReader | null> {
    if (this.settled) return Promise.resolve(null);
    this.settled = true;
    return this.outcome;
  }

  drop(): void {
    this.abort.release();
    if (this.settled) return;
    this.settled = true;
    this.abort.abort(new Error('speculated request dropped'));
    this.outcome.then(
      (reader) => reader?.close().catch(() => undefined),
      () => undefined,
    );
  }
}
