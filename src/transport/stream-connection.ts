/**
 * A GitConnection over one duplex byte channel: a child process's stdin/stdout (ssh, local
 * git, remote helpers) or a TCP socket (git://). The server's advertisement and every response
 * arrive on the same input stream, so there is one PktLineReader for the connection's lifetime;
 * `request` writes the body to the output and hands back that same reader, which continues where
 * the protocol code stopped reading. Every byte is counted into the phase of the request that
 * caused it.
 */
import { noteStreamedBytes } from '../observe/gc-pacer.js';
import type { Readable, Writable } from 'node:stream';
import { abortError, GitSyncError, ProtocolError, ResponseTooLargeError, TimeoutError, onSide } from '../errors.js';
import { FLUSH_PKT, PktLineReader } from '../wire/pktline.js';
import type { PhaseName, PhaseStats } from '../observe/stats.js';
import type { RunObserver } from '../observe/observer.js';
import type { Side } from '../types.js';
import { IdleClock } from './idle-clock.js';
import { DEFAULT_MAX_REF_LISTING_BYTES, isListingPhase, refListingTooLarge, type GitConnection, type RequestBody, type RequestOptions } from './transport.js';
import { monotonicMillis } from '../builtins.js';

/** The two directions of a conversation with a server, and a way to end it. */
export interface ByteChannel {
  /** What the server says. */
  readonly input: Readable;
  /** What we say. */
  readonly output: Writable;
  /**
   * Settles once the peer is completely gone (process exited and reaped, socket closed): null
   * after a clean end, otherwise the error that explains the failure (with the peer's own words).
   */
  readonly finished: Promise<GitSyncError | null>;
  /** Stops the peer now (kills the process group, destroys the socket). Idempotent. */
  terminate(): void;
}

export interface Framing {
  /**
   * `stateless-connect` framing (gitremote-helpers): each response ends with a response-end
   * packet after its flush. The protocol code reads up to the flush; the rest is skipped here.
   */
  responseEnd: boolean;
  /**
   * Written before the output is ended on `close()`: a flush tells upload-pack and receive-pack
   * that no (further) request follows. Null for channels where a flush would be a request.
   */
  farewell: Buffer | null;
}

export interface StreamConnectionOptions {
  displayUrl: string;
  /** The phase the connection's advertisement is counted in. */
  phase: PhaseName;
  /** Where the bytes this transport moves are counted. */
  observer?: RunObserver;
  signal?: AbortSignal;
  /** See `Framing`; default: no response-end packets, a flush as farewell. */
  framing?: Partial<Framing>;
  /** The error when the peer ends its output cleanly without ever having said a word. */
  silentEnd?: () => GitSyncError;
  /** How long `close()` and the end of input wait for the peer to exit before terminating it. */
  exitGraceMillis?: number;
  /** Which end of the run the peer is: named in errors. */
  side?: Side;
  /**
   * While git-sync waits on the peer (for its next packet or line, or for it to take our bytes),
   * this long without its progress fails the connection with an idle timeout (IdleClock: bytes
   * that complete nothing are not progress). Absent: no limit.
   */
  idleMillis?: number;
  /**
   * The most bytes a ref listing (the advertisement, an `ls-refs` answer) may take; past it the
   * connection fails with RESPONSE_TOO_LARGE. Default DEFAULT_MAX_REF_LISTING_BYTES.
   */
  maxRefListingBytes?: number;
}

/** The longest handshake line (a remote helper's capability or reply) git-sync reads. */
export const MAX_HANDSHAKE_LINE = 8192;

/**
 * Packets a stateless-connect response may hold after the part the protocol reads (its flush)
 * and before its response-end: none in git's helpers; a few are tolerated, not an endless stream.
 */
const MAX_PACKETS_BEFORE_RESPONSE_END = 64;

/** Thrown inside the body writer when the peer stopped reading; the reader reports why. */
const PEER_GONE = Symbol('peer gone');

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}

export class StreamConnection implements GitConnection {
  readonly advertisement: PktLineReader;
  readonly stateless = false;
  private readonly channel: ByteChannel;
  private readonly options: StreamConnectionOptions;
  private readonly exitGraceMillis: number;
  private framing: Framing;
  private phase: PhaseStats | undefined;
  /** The bound on what the current response may still bring, when it is a ref listing. */
  private listingLimit: number | null;
  private listingBytes = 0;
  /** Bytes read from the channel but not yet handed on (left over from a handshake line). */
  private carry: Buffer | null = null;
  private inputEnded = false;
  private received = 0;
  /** The first abort or request-body failure; everything after it fails with this error. */
  private fault: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly blockedWriters = new Set<() => void>();
  private writing: Promise<void> = Promise.resolve();
  private writeInFlight = false;
  private awaitingResponseEnd = false;
  private closing: Promise<void> | null = null;
  private exited = false;
  private readonly watchedSignals = new Map<AbortSignal, () => void>();
  private readonly onReadable = (): void => this.notify();
  private readonly activity = new IdleClock();

  constructor(channel: ByteChannel, options: StreamConnectionOptions) {
    this.channel = channel;
    this.options = options;
    this.exitGraceMillis = options.exitGraceMillis ?? 5_000;
    this.framing = { responseEnd: false, farewell: FLUSH_PKT, ...options.framing };
    this.phase = options.observer?.counters(options.phase) ?? undefined;
    if (this.phase) this.phase.requests += 1;
    this.listingLimit = this.limitFor(options.phase);
    const { input, output } = channel;
    input.on('readable', this.onReadable);
    const ended = (): void => {
      this.inputEnded = true;
      this.notify();
    };
    input.on('end', ended);
    input.on('close', ended);
    // Input errors (a reset socket) end the stream; `finished` says what happened.
    input.on('error', ended);
    // Writing to a peer that has gone away fails with EPIPE; the reader reports the cause.
    output.on('error', () => this.wakeWriters());
    void channel.finished.then(() => {
      this.exited = true;
      this.notify();
      this.wakeWriters();
    });
    this.watch(options.signal);
    // The server's progress is a whole packet, not a byte (IdleClock).
    this.advertisement = new PktLineReader(this.source(), { onPacket: () => this.activity.touch() });
  }

  /** Changes the framing once a handshake has chosen it (a remote helper's connect mode). */
  setFraming(framing: Framing): void {
    this.framing = framing;
  }

  /** Writes raw bytes outside any request (a remote helper's text handshake). */
  async send(bytes: Buffer): Promise<void> {
    await this.write(bytes, this.phase).catch((error: unknown) => {
      if (error !== PEER_GONE) throw error;
    });
  }

  /**
   * Reads one `\n`-terminated line of text (a remote helper's handshake), keeping any bytes
   * after it for the protocol. Null when the peer ended its output first. A line longer than
   * MAX_HANDSHAKE_LINE fails with RESPONSE_TOO_LARGE (docs/security.md, "Bounded memory and time").
   */
  async readLine(): Promise<string | null> {
    const parts: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = await this.nextChunk();
      if (chunk === null) {
        await this.endOfInput();
        return null;
      }
      const newline = chunk.indexOf(0x0a);
      const end = newline < 0 ? chunk.length : newline;
      length += end;
      if (length > MAX_HANDSHAKE_LINE) {
        const error = new ResponseTooLargeError('helper-line', MAX_HANDSHAKE_LINE, 'bytes', `${this.options.displayUrl}: handshake line longer than ${MAX_HANDSHAKE_LINE} bytes; stopped reading it`);
        throw this.options.side === undefined ? error : onSide(error, this.options.side);
      }
      parts.push(chunk.subarray(0, end));
      if (newline >= 0) {
        if (newline + 1 < chunk.length) this.carry = chunk.subarray(newline + 1);
        // A whole line is the handshake's progress (the idle clock's: see IdleClock).
        this.activity.touch();
        return Buffer.concat(parts, length).toString('utf8');
      }
    }
  }

  async request(body: RequestBody, options: RequestOptions): Promise<PktLineReader> {
    this.watch(options.signal);
    if (this.fault) throw this.fault;
    if (this.closing) throw new ProtocolError(`${this.options.displayUrl}: request on a closed connection`);
    await this.writing;
    if (this.awaitingResponseEnd) await this.skipToResponseEnd();
    this.phase = this.options.observer?.counters(options.phase) ?? undefined;
    if (this.phase) this.phase.requests += 1;
    this.listingLimit = this.limitFor(options.phase);
    this.listingBytes = 0;
    this.awaitingResponseEnd = this.framing.responseEnd;
    // The body is written while the caller reads: a server may answer (ACKs, progress) before
    // it has read the whole request, and must never block on a full pipe while we block on ours.
    this.writeInFlight = true;
    const phase = this.phase;
    this.writing = this.writeBody(body, phase)
      .catch((error: unknown) => {
        if (error !== PEER_GONE) this.setFault(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.writeInFlight = false;
      });
    return this.advertisement;
  }

  private limitFor(phase: PhaseName): number | null {
    return isListingPhase(phase) ? (this.options.maxRefListingBytes ?? DEFAULT_MAX_REF_LISTING_BYTES) : null;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const { input, output } = this.channel;
    if (this.fault || this.writeInFlight) {
      this.channel.terminate();
    } else if (!this.exited && !output.destroyed && !output.writableEnded) {
      const farewell = this.framing.farewell;
      if (farewell !== null) {
        if (this.phase) this.phase.requestBytes += farewell.length;
        output.write(farewell);
      }
      output.end();
    }
    // Unread output is discarded so the peer never blocks on a full pipe while exiting.
    input.off('readable', this.onReadable);
    input.resume();
    this.inputEnded = true;
    this.notify();
    if ((await Promise.race([this.channel.finished, delay(this.exitGraceMillis)])) === 'timeout') {
      this.channel.terminate();
      await this.channel.finished;
    }
    // The peer is gone; release our ends even if something it started still holds its pipes.
    input.destroy();
    output.destroy();
    for (const [signal, listener] of this.watchedSignals) signal.removeEventListener('abort', listener);
    this.watchedSignals.clear();
  }

  private watch(signal: AbortSignal | undefined): void {
    if (signal === undefined || this.watchedSignals.has(signal)) return;
    const listener = (): void => this.setFault(abortError(signal, this.options.displayUrl));
    this.watchedSignals.set(signal, listener);
    if (signal.aborted) listener();
    else signal.addEventListener('abort', listener, { once: true });
  }

  private setFault(error: Error): void {
    if (this.fault) return;
    this.fault = error;
    this.channel.terminate();
    this.notify();
    this.wakeWriters();
  }

  /** While waiting on the peer: fails the connection once it made no progress for the idle timeout. */
  private watchIdle(what: 'stopped sending (no whole packet or line came)' | 'stopped reading'): () => void {
    const idle = this.options.idleMillis;
    if (idle === undefined) return () => undefined;
    const where = this.options.displayUrl;
    const peer = this.options.side === undefined ? 'the server' : `the ${this.options.side} server`;
    return this.activity.watch(idle, () => {
      const error = new TimeoutError('idle', where, idle, `${where}: no progress either way for ${idle} ms; ${peer} ${what}`);
      if (this.options.side !== undefined) error.side = this.options.side;
      this.setFault(error);
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private wakeWriters(): void {
    for (const listener of [...this.blockedWriters]) listener();
  }

  /** The next chunk from the peer (counted), or null at the end of its output or after a fault. */
  private async nextChunk(): Promise<Buffer | null> {
    if (this.carry !== null) {
      const chunk = this.carry;
      this.carry = null;
      return chunk;
    }
    for (;;) {
      if (this.fault) return null;
      const chunk = this.channel.input.read() as Buffer | null;
      if (chunk !== null) {
        if (this.phase) this.phase.responseBytes += chunk.length;
        this.received += chunk.length;
        if (this.listingLimit !== null && (this.listingBytes += chunk.length) > this.listingLimit) {
          this.setFault(refListingTooLarge(this.options.displayUrl, this.options.side, this.listingLimit));
          return null;
        }
        noteStreamedBytes(chunk.length);
        return chunk;
      }
      // A peer that is gone says nothing more, even if something else still holds its pipe.
      if (this.inputEnded || this.exited) return null;
      const stop = this.watchIdle('stopped sending (no whole packet or line came)');
      try {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      } finally {
        stop();
      }
    }
  }

  /** The connection's byte stream as the PktLineReader sees it: counted, faults surfaced. */
  private async *source(): AsyncGenerator<Buffer> {
    for (;;) {
      const started = monotonicMillis();
      const chunk = await this.nextChunk();
      const phase = this.phase;
      if (phase) phase.elapsedMillis += monotonicMillis() - started;
      if (chunk === null) break;
      yield chunk;
    }
    await this.endOfInput();
  }

  /**
   * The peer ended its output: waits for its exit status, which tells a clean end (v1 after the
   * pack) from a failure (ssh refused, no such repository), and throws the failure.
   */
  private async endOfInput(): Promise<void> {
    if (this.fault) throw this.fault;
    const outcome = await Promise.race([this.channel.finished, delay(this.exitGraceMillis)]);
    if (this.fault) throw this.fault;
    if (outcome !== 'timeout' && outcome !== null) throw this.options.side === undefined ? outcome : onSide(outcome, this.options.side);
    if (this.received === 0 && this.options.silentEnd) throw this.options.silentEnd();
  }

  /** Skips the rest of a stateless-connect response through its response-end packet. */
  private async skipToResponseEnd(): Promise<void> {
    for (let skipped = 0; ; skipped++) {
      const packet = await this.advertisement.read();
      if (packet === null) throw new ProtocolError(`${this.options.displayUrl}: connection ended before the response-end packet`);
      if (packet.type === 'response-end') break;
      if (skipped === MAX_PACKETS_BEFORE_RESPONSE_END) {
        throw new ProtocolError(`${this.options.displayUrl}: more than ${MAX_PACKETS_BEFORE_RESPONSE_END} packets after a response's end, and no response-end packet`);
      }
    }
    this.awaitingResponseEnd = false;
  }

  private async writeBody(body: RequestBody, phase: PhaseStats | undefined): Promise<void> {
    if (Buffer.isBuffer(body)) {
      await this.write(body, phase);
      return;
    }
    // While the body's next bytes are awaited (a relay's pack, coming from the other side), the
    // peer waits on git-sync: its silence is not counted, so a stalled source is the source's
    // idle timeout, never this peer's.
    let release = this.activity.hold();
    try {
      for await (const chunk of body) {
        release();
        await this.write(toBuffer(chunk), phase);
        release = this.activity.hold();
      }
    } finally {
      release();
    }
  }

  /** Writes one chunk, waiting while the peer's pipe or socket buffer is full (backpressure). */
  private async write(chunk: Buffer, phase: PhaseStats | undefined): Promise<void> {
    if (this.fault) throw this.fault;
    const output = this.channel.output;
    if (this.exited || output.destroyed || output.writableEnded) throw PEER_GONE;
    const started = monotonicMillis();
    if (phase) phase.requestBytes += chunk.length;
    this.activity.touch();
    if (!output.write(chunk)) {
      const stop = this.watchIdle('stopped reading');
      await new Promise<void>((resolve) => {
        const done = (): void => {
          output.off('drain', done);
          output.off('close', done);
          this.blockedWriters.delete(done);
          resolve();
        };
        output.on('drain', done);
        output.on('close', done);
        this.blockedWriters.add(done);
      }).finally(stop);
      this.activity.touch();
      if (this.fault) throw this.fault;
      if (output.destroyed) throw PEER_GONE;
    }
    if (phase) phase.elapsedMillis += monotonicMillis() - started;
  }
}
