/**
 * The fault engine: bytes in, bytes out, rules. It knows git's wire format well enough to say
 * which request a stream carries and to break it on purpose, and it is shared by every carrier:
 * the HTTP proxy in front of `git http-backend` (fault-proxy.ts), and the stream carriers (a
 * `git` / ssh wrapper that pipes the real upload-pack or receive-pack through the engine, and a
 * TCP proxy in front of `git daemon`: fault-streams.ts).
 *
 * A carrier opens one `Conversation` per connection (per HTTP request), and runs both directions
 * through it: `pipeRequest` (client to server) and `pipeResponse` (server to client). The
 * conversation splits the bytes into pkt-lines, classifies each request as it starts (the
 * advertisement, v2 `command=ls-refs`, `command=fetch` or a v1 `want`, a push's commands) and
 * counts exchanges per repository, service and phase, so that a rule can say "the second fetch
 * of `c7-source`" (the relay fetch after the ancestry fetch) or "the first push to `c7-target`".
 *
 *   const engine = new FaultEngine();
 *   const armed = engine.arm([
 *     { select: { repo: 'c7-source', phase: 'fetch', index: 2 }, direction: 'response', fault: { kind: 'flip', packOffset: 100 } },
 *   ]);
 *   ... run git-sync through a carrier ...
 *   armed.disarm();
 *   armed.fired   // the exchanges a fault was applied to
 *
 * A fault acts at a `Point` of one direction of one exchange: `{bytes: n}` (after n bytes of that
 * direction), `{packets: k}` (before its (k+1)th pkt-line), `{packBytes: n}` (once n bytes of pack
 * data passed: sideband band-1 payload of a fetch response, the raw pack of a push request). What
 * it does there is the carrier's `Sink`: close the connection (FIN, or for a process its end with
 * a failing exit), reset it (RST, or SIGKILL), end the response cleanly, or keep it open and
 * silent (stall).
 */
import type { AddressInfo, Server } from 'node:net';

export type Service = 'git-upload-pack' | 'git-receive-pack';
/** What an exchange carries: the advertisement, a v2 ls-refs, a fetch (v1 or v2), a push. */
export type ExchangePhase = 'advertisement' | 'ls-refs' | 'fetch' | 'push';
export type Direction = 'request' | 'response';
export type Carrier = 'http' | 'stream';

/** Where in one direction of an exchange a fault acts. */
export type Point =
  /** After exactly n bytes of this direction (0: before the first byte). */
  | { bytes: number }
  /** Before the pkt-line numbered k (0-based): after k complete pkt-lines. */
  | { packets: number }
  /** Once n bytes of pack data have passed (band-1 payload of a fetch response, a push's pack). */
  | { packBytes: number };

export type Fault =
  /** The connection ends here: FIN (HTTP, git://) or, for a process, EOF and a failing exit. */
  | { kind: 'close'; at: Point }
  /** The connection is reset: RST (HTTP, git://) or the process is killed (SIGKILL). */
  | { kind: 'reset'; at: Point }
  /** Nothing more is forwarded for `millis` (for ever when absent); the connection stays open. */
  | { kind: 'stall'; at: Point; millis?: number }
  /** The response ends cleanly here (a complete HTTP body; EOF and exit 0 for a process). */
  | { kind: 'truncate'; at: Point }
  /** One byte of pack data is flipped (xor 0xff): framing stays valid, the pack checksum breaks. */
  | { kind: 'flip'; packOffset: number }
  /** An `ERR <message>` pkt-line is sent here, then the server ends as a failing server does. */
  | { kind: 'err'; at: Point; message?: string }
  /** A malformed pkt-line length (`00zz`) is sent here, then the server ends. */
  | { kind: 'bad-length'; at: Point }
  /** A push's report-status is cut after `reportBytes` bytes of it, then the connection closes. */
  | { kind: 'cut-report'; reportBytes: number }
  /** A push's report-status says `xx <ref>` where git wrote `ok <ref>` (same length, garbled). */
  | { kind: 'garble-report' }
  // HTTP only (fault-proxy.ts): what a host or a gateway in front of it answers instead.
  /** The connection is dropped before any response. */
  | { kind: 'hang-up' }
  /** This status instead of git's answer; the server is never asked. */
  | { kind: 'status'; status: number; retryAfter?: number; body?: string }
  /** The request goes to git and completes there (a push lands), then the client gets this status. */
  | { kind: 'status-after-upstream'; status: number }
  /**
   * The status is sent after `afterRequestBytes` bytes of the request body, while the client is
   * still sending, and the connection closed a moment later (nginx over its body limit).
   */
  | { kind: 'early-status'; status: number; afterRequestBytes: number };

/** Faults a proxy answers with itself instead of forwarding: HTTP only. */
export const HTTP_ANSWER_FAULTS: ReadonlySet<Fault['kind']> = new Set(['hang-up', 'status', 'status-after-upstream', 'early-status']);

/** Which exchanges a rule applies to; every given field must match. */
export interface Selector {
  /** Repository name: the last path segment without `.git` (`c7-source`). */
  repo?: string;
  service?: Service;
  phase?: ExchangePhase;
  /** 1-based: the Nth exchange of this repository, service and phase since the engine started. */
  index?: number;
  carrier?: Carrier;
  /**
   * The request's first pkt-line (without its newline) matches: a push's first command, say,
   * where the number of pushes before it is not fixed (a batched relay's first try may be
   * aborted before its request goes out).
   */
  firstLine?: RegExp;
}

export interface Rule {
  select: Selector;
  direction: Direction;
  fault: Fault;
  /** How many exchanges it applies to (default 1: a one-shot fault). */
  times?: number;
}

/** One request and its response, as the engine saw it. */
export interface Exchange {
  readonly id: number;
  readonly carrier: Carrier;
  readonly repo: string;
  readonly service: Service;
  readonly phase: ExchangePhase;
  readonly index: number;
  /** The protocol the client asked for (`Git-Protocol` / `GIT_PROTOCOL` / the daemon request). */
  readonly protocol: 'v0' | 'v2';
  /** The request's first pkt-line, without its newline ('' for an advertisement). */
  readonly firstLine: string;
  requestBytes: number;
  responseBytes: number;
  /** Faults applied to it, described (`response: flip pack byte 100`). */
  readonly faults: string[];
}

/** What a carrier does with the bytes of one direction. */
export interface Sink {
  /** Forward bytes; resolves when the carrier can take more (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** This direction ends cleanly (HTTP: the body is complete; process: stdin EOF / exit 0). */
  end(): void;
  /** The server ends as a failing server does after saying why (HTTP: body complete; process: exit 128). */
  fail(): void;
  /** The connection drops (FIN mid-response; a process ends with a failing exit). */
  close(): void;
  /** The connection is reset (RST; a process is killed). */
  reset(): void;
  /** Settles when the peer has gone away (the stall of a fault waits for it). */
  readonly gone: Promise<void>;
}

export function describePoint(point: Point): string {
  if ('bytes' in point) return `byte ${point.bytes}`;
  if ('packets' in point) return `pkt-line ${point.packets}`;
  return `pack byte ${point.packBytes}`;
}

export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'close':
    case 'reset':
    case 'truncate':
    case 'bad-length':
      return `${fault.kind} at ${describePoint(fault.at)}`;
    case 'stall':
      return `stall at ${describePoint(fault.at)}${fault.millis === undefined ? '' : ` for ${fault.millis} ms`}`;
    case 'err':
      return `ERR at ${describePoint(fault.at)}`;
    case 'flip':
      return `flip pack byte ${fault.packOffset}`;
    case 'cut-report':
      return `cut report-status after ${fault.reportBytes} bytes`;
    case 'garble-report':
      return 'garble report-status';
    case 'hang-up':
      return 'hang up';
    case 'status':
      return `HTTP ${fault.status}${fault.retryAfter === undefined ? '' : ` (Retry-After: ${fault.retryAfter})`}`;
    case 'status-after-upstream':
      return `HTTP ${fault.status} after the server answered`;
    case 'early-status':
      return `early HTTP ${fault.status} after ${fault.afterRequestBytes} request bytes`;
  }
}

interface ArmedRule extends Rule {
  left: number;
  owner: Armed;
}

/** Repositories whose conversations the stream carriers intercept: named ones, or all. */
export type ArmedRepos = 'all' | ReadonlySet<string>;

/** A set of rules in force until `disarm()`; `fired` lists where they applied. */
export class Armed {
  readonly fired: Exchange[] = [];
  private active = true;
  constructor(
    private readonly engine: FaultEngine,
    /** The repositories its rules name, or 'all'. */
    readonly repos: ArmedRepos,
  ) {}
  get armed(): boolean {
    return this.active;
  }
  disarm(): void {
    if (!this.active) return;
    this.active = false;
    this.engine.release(this);
  }
}

/** The faults one exchange gets, decided when it starts. */
export interface ExchangeStart {
  exchange: Exchange;
  request: Fault | null;
  response: Fault | null;
}

export class FaultEngine {
  /** Every exchange since the engine started (or `clearLog`), in order. */
  readonly log: Exchange[] = [];
  private rules: ArmedRule[] = [];
  private readonly counters = new Map<string, number>();
  private nextId = 1;
  private armedSets: Armed[] = [];
  private readonly listeners = new Set<(armed: ArmedRepos) => void>();
  private readonly stalls = new Set<() => void>();

  /** Puts rules in force (alongside any already armed). An empty list just records. */
  arm(rules: readonly Rule[]): Armed {
    const armed = new Armed(this, rules.length === 0 || rules.some((rule) => rule.select.repo === undefined) ? 'all' : new Set(rules.map((rule) => rule.select.repo!)));
    for (const rule of rules) this.rules.push({ ...rule, left: rule.times ?? 1, owner: armed });
    this.armedSets.push(armed);
    this.announce();
    return armed;
  }

  /** True while some rule set is armed (stream carriers only intercept then). */
  get armed(): boolean {
    return this.armedSets.length > 0;
  }

  /**
   * The repositories some armed rule names ('all' when a set records everything or has a rule for
   * any repository): the stream carriers intercept only conversations with those.
   */
  get armedRepos(): ArmedRepos {
    if (this.armedSets.some((set) => set.repos === 'all')) return 'all';
    const repos = new Set<string>();
    for (const set of this.armedSets) for (const repo of set.repos as Set<string>) repos.add(repo);
    return repos;
  }

  /** Told whenever the armed repositories change (a set armed or released). */
  onArmedChange(listener: (armed: ArmedRepos) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private announce(): void {
    const repos = this.armedRepos;
    for (const listener of this.listeners) listener(repos);
  }

  /** @internal (Armed.disarm) */
  release(armed: Armed): void {
    this.rules = this.rules.filter((rule) => rule.owner !== armed);
    this.armedSets = this.armedSets.filter((set) => set !== armed);
    this.announce();
  }

  /** Forgets every exchange seen so far: the log, and the counts behind `index`. */
  clearLog(): void {
    this.log.length = 0;
    this.counters.clear();
  }

  /** Exchanges of one repository, in order. */
  exchangesOf(repo: string): Exchange[] {
    return this.log.filter((exchange) => exchange.repo === repo);
  }

  /** Ends every stall now (a carrier shutting down must not wait for them). */
  releaseStalls(): void {
    for (const release of [...this.stalls]) release();
  }

  /** @internal (Conversation) Counts, logs and picks the faults of an exchange that starts. */
  begin(info: { carrier: Carrier; repo: string; service: Service; phase: ExchangePhase; protocol: 'v0' | 'v2'; firstLine: string }): ExchangeStart {
    const key = `${info.repo}\0${info.service}\0${info.phase}`;
    const index = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, index);
    const exchange: Exchange = { id: this.nextId++, ...info, index, requestBytes: 0, responseBytes: 0, faults: [] };
    this.log.push(exchange);
    const pick = (direction: Direction): Fault | null => {
      const rule = this.rules.find((r) => r.direction === direction && r.left > 0 && matches(r.select, exchange));
      if (rule === undefined) return null;
      rule.left -= 1;
      exchange.faults.push(`${direction}: ${describeFault(rule.fault)}`);
      if (!rule.owner.fired.includes(exchange)) rule.owner.fired.push(exchange);
      return rule.fault;
    };
    return { exchange, request: pick('request'), response: pick('response') };
  }

  /** @internal Waits `millis` (for ever when undefined) or until `gone` or `releaseStalls()`. */
  async stall(millis: number | undefined, gone: Promise<void>): Promise<'released' | 'gone'> {
    let release!: () => void;
    const released = new Promise<'released'>((resolve) => {
      release = () => resolve('released');
    });
    this.stalls.add(release);
    let timer: NodeJS.Timeout | undefined;
    if (millis !== undefined) timer = setTimeout(release, millis);
    try {
      return await Promise.race([released, gone.then(() => 'gone' as const)]);
    } finally {
      clearTimeout(timer);
      this.stalls.delete(release);
    }
  }
}

function matches(select: Selector, exchange: Exchange): boolean {
  return (
    (select.repo === undefined || select.repo === exchange.repo) &&
    (select.service === undefined || select.service === exchange.service) &&
    (select.phase === undefined || select.phase === exchange.phase) &&
    (select.index === undefined || select.index === exchange.index) &&
    (select.carrier === undefined || select.carrier === exchange.carrier) &&
    (select.firstLine === undefined || select.firstLine.test(exchange.firstLine))
  );
}

/**
 * What a stream delivers, read as it arrives into memory and handed on when asked, with `first`
 * in front. A carrier reads its client this way: a stalled direction stops taking the bytes, not
 * reading them, so the client's going away (its end, its close) is seen at once and the stall
 * lets go; read only as forwarded, a paused stream would never tell.
 */
export function readEagerly(stream: NodeJS.ReadableStream & { on(event: 'close', listener: () => void): unknown }, first: Buffer = Buffer.alloc(0)): AsyncGenerator<Buffer> {
  const queue: Buffer[] = first.length > 0 ? [first] : [];
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const waiting = wake;
    wake = null;
    waiting?.();
  };
  stream.on('data', (chunk: Buffer | string) => {
    queue.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    notify();
  });
  const end = (): void => {
    ended = true;
    notify();
  };
  stream.once('end', end);
  stream.on('close', end);
  stream.resume();
  return (async function* input(): AsyncGenerator<Buffer> {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  })();
}

/** `git-upload-pack` for any of the names a carrier sees (`upload-pack`, `git-upload-pack`). */
export function serviceNamed(name: string): Service | null {
  const bare = name.replace(/^git-/, '');
  return bare === 'upload-pack' ? 'git-upload-pack' : bare === 'receive-pack' ? 'git-receive-pack' : null;
}

/** `c7-source` from `/srv/c7-source.git`, `c7-source.git/`, `/c7-source`. */
export function repoNamed(path: string): string {
  const segments = path.split('/').filter((segment) => segment !== '');
  return (segments[segments.length - 1] ?? '').replace(/\.git$/, '');
}

// ---------------------------------------------------------------------------------------------
// pkt-line framing, for carrying: every unit is forwarded exactly as it came.

export type UnitType = 'data' | 'flush' | 'delim' | 'response-end' | 'raw' | 'partial';

export interface Unit {
  type: UnitType;
  bytes: Buffer;
}

export function pkt(text: string | Buffer): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, '0'), 'ascii'), payload]);
}

const HEX4 = /^[0-9a-f]{4}$/i;

/**
 * Splits a byte stream into pkt-lines, or passes it on raw once told (a push's pack) or once
 * something that is no pkt-line arrives (`PACK` of a pack sent without sideband, garbage).
 */
export class Framer {
  private buffer: Buffer = Buffer.alloc(0);
  raw = false;

  push(chunk: Buffer): Unit[] {
    if (this.raw) return chunk.length === 0 ? [] : [{ type: 'raw', bytes: chunk }];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    return this.drain();
  }

  /** Switches to raw from the next byte on; what is buffered comes out as raw. */
  switchToRaw(): Unit[] {
    this.raw = true;
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest.length === 0 ? [] : [{ type: 'raw', bytes: rest }];
  }

  /** Whatever is left when the input ends (a packet cut short). */
  end(): Unit[] {
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest.length === 0 ? [] : [{ type: 'partial', bytes: rest }];
  }

  private drain(): Unit[] {
    const units: Unit[] = [];
    while (!this.raw && this.buffer.length >= 4) {
      const header = this.buffer.subarray(0, 4).toString('latin1');
      if (!HEX4.test(header)) {
        units.push(...this.switchToRaw());
        break;
      }
      const length = parseInt(header, 16);
      if (length <= 2) {
        units.push({ type: length === 0 ? 'flush' : length === 1 ? 'delim' : 'response-end', bytes: this.buffer.subarray(0, 4) });
        this.buffer = this.buffer.subarray(4);
        continue;
      }
      if (length === 3) {
        units.push(...this.switchToRaw());
        break;
      }
      if (this.buffer.length < length) break;
      units.push({ type: 'data', bytes: this.buffer.subarray(0, length) });
      this.buffer = this.buffer.subarray(length);
    }
    return units;
  }
}

/** The text of a data unit (payload without the trailing newline). */
function unitText(unit: Unit): string {
  if (unit.type !== 'data') return '';
  return unit.bytes.subarray(4).toString('latin1').replace(/\n$/, '');
}

// ---------------------------------------------------------------------------------------------
// One direction of one exchange: counts what passed and applies the fault.

/** Where the pack data (or report data) of a unit starts, and how long it is; null if none. */
interface Span {
  start: number;
  length: number;
}

class DirectionState {
  bytes = 0;
  packets = 0;
  packBytes = 0;
  reportBytes = 0;
  spent = false;

  constructor(
    readonly exchange: Exchange,
    readonly direction: Direction,
    readonly fault: Fault | null,
  ) {}

  /** Band-1 payload of a fetch response, or the raw pack of a push request. */
  packSpan(unit: Unit): Span | null {
    if (this.direction === 'response' && this.exchange.phase === 'fetch') {
      if (unit.type === 'data' && unit.bytes.length > 5 && unit.bytes[4] === 1) return { start: 5, length: unit.bytes.length - 5 };
      if (unit.type === 'raw') return { start: 0, length: unit.bytes.length };
    }
    if (this.direction === 'request' && this.exchange.phase === 'push' && unit.type === 'raw') return { start: 0, length: unit.bytes.length };
    return null;
  }

  /** A push response's report-status: band-1 payload with sideband, else whole pkt-lines. */
  reportSpan(unit: Unit): Span | null {
    if (this.direction !== 'response' || this.exchange.phase !== 'push' || unit.type !== 'data') return null;
    const band = unit.bytes[4];
    if (band === 1) return { start: 5, length: unit.bytes.length - 5 };
    if (band === 2 || band === 3) return null;
    return { start: 0, length: unit.bytes.length };
  }

  /** How many bytes of `unit` pass before `point` is reached, or null when it is not in it. */
  cutIn(point: Point, unit: Unit): number | null {
    if ('bytes' in point) {
      const offset = point.bytes - this.bytes;
      return offset >= 0 && offset < unit.bytes.length ? offset : null;
    }
    if ('packets' in point) return this.packets === point.packets ? 0 : null;
    const span = this.packSpan(unit);
    if (span === null) return null;
    const offset = point.packBytes - this.packBytes;
    return offset >= 0 && offset < span.length ? span.start + offset : null;
  }

  count(unit: Unit, forwarded: Buffer): void {
    this.bytes += forwarded.length;
    if (unit.type !== 'raw' && unit.type !== 'partial') this.packets += 1;
    const pack = this.packSpan(unit);
    if (pack !== null) this.packBytes += pack.length;
    const report = this.reportSpan(unit);
    if (report !== null) this.reportBytes += report.length;
    if (this.direction === 'request') this.exchange.requestBytes += forwarded.length;
    else this.exchange.responseBytes += forwarded.length;
  }
}

const GARBLE_FROM = Buffer.from('ok refs/');
const GARBLE_TO = Buffer.from('xx refs/');

/**
 * Forwards one unit under the state's fault. Returns false once the direction is over (the
 * fault ended or broke the connection): the caller stops reading.
 */
async function forward(engine: FaultEngine, state: DirectionState, unit: Unit, sink: Sink): Promise<boolean> {
  const fault = state.fault;
  const pass = async (bytes: Buffer): Promise<void> => {
    if (bytes.length > 0) await sink.write(bytes);
    state.count(unit, bytes);
  };
  if (fault === null || state.spent || HTTP_ANSWER_FAULTS.has(fault.kind)) {
    await pass(unit.bytes);
    return true;
  }
  switch (fault.kind) {
    case 'close':
    case 'reset':
    case 'truncate':
    case 'stall':
    case 'err':
    case 'bad-length': {
      const cut = state.cutIn(fault.at, unit);
      if (cut === null) {
        await pass(unit.bytes);
        return true;
      }
      state.spent = true;
      if (cut > 0) await sink.write(unit.bytes.subarray(0, cut));
      if (fault.kind === 'stall') {
        if ((await engine.stall(fault.millis, sink.gone)) === 'gone') return false;
        if (cut < unit.bytes.length) await sink.write(unit.bytes.subarray(cut));
        state.count(unit, unit.bytes);
        return true;
      }
      if (fault.kind === 'close') sink.close();
      else if (fault.kind === 'reset') sink.reset();
      else if (fault.kind === 'truncate') sink.end();
      else {
        await sink.write(fault.kind === 'err' ? pkt(`ERR ${fault.message ?? 'fault injected by the test harness'}\n`) : Buffer.from('00zzbad length\n'));
        sink.fail();
      }
      return false;
    }
    case 'flip': {
      const span = state.packSpan(unit);
      const offset = fault.packOffset - state.packBytes;
      if (span !== null && offset >= 0 && offset < span.length) {
        const copy = Buffer.from(unit.bytes);
        copy[span.start + offset] = copy[span.start + offset]! ^ 0xff;
        state.spent = true;
        await pass(copy);
        return true;
      }
      await pass(unit.bytes);
      return true;
    }
    case 'cut-report': {
      const span = state.reportSpan(unit);
      const offset = fault.reportBytes - state.reportBytes;
      if (span === null || offset < 0 || offset >= span.length) {
        await pass(unit.bytes);
        return true;
      }
      state.spent = true;
      // With sideband the cut part goes out as a shorter band-1 packet, framed as git would.
      const cut = span.start === 5 ? pkt(unit.bytes.subarray(4, 5 + offset)) : unit.bytes.subarray(0, offset);
      if (cut.length > 0) await sink.write(cut);
      sink.close();
      return false;
    }
    case 'garble-report': {
      const span = state.reportSpan(unit);
      const at = span === null ? -1 : unit.bytes.indexOf(GARBLE_FROM, span.start);
      if (at === -1) {
        await pass(unit.bytes);
        return true;
      }
      const copy = Buffer.from(unit.bytes);
      GARBLE_TO.copy(copy, at);
      state.spent = true;
      await pass(copy);
      return true;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// A conversation: one connection (stream carriers) or one HTTP request.

export interface ConversationInfo {
  carrier: Carrier;
  repo: string;
  service: Service;
  protocol: 'v0' | 'v2';
  /** The server speaks first (an advertisement): false for a stateless request (HTTP POST, `--stateless-rpc`). */
  advertisement: boolean;
  /** Told of every exchange as it starts, before any of its bytes is forwarded. */
  onExchange?: (start: ExchangeStart) => void;
}

export class Conversation {
  readonly exchanges: Exchange[] = [];
  /** The exchange the server is answering (the latest request, or the advertisement). */
  private current: DirectionState | null = null;

  constructor(
    private readonly engine: FaultEngine,
    readonly info: ConversationInfo,
  ) {
    if (info.advertisement) this.current = this.begin('advertisement', '').response;
  }

  private begin(phase: ExchangePhase, firstLine: string): { request: DirectionState; response: DirectionState } {
    const { carrier, repo, service, protocol } = this.info;
    const start = this.engine.begin({ carrier, repo, service, phase, protocol, firstLine });
    this.exchanges.push(start.exchange);
    this.info.onExchange?.(start);
    return { request: new DirectionState(start.exchange, 'request', start.request), response: new DirectionState(start.exchange, 'response', start.response) };
  }

  /** The phase a request starting with this pkt-line is, or null (a farewell flush, garbage). */
  private classify(first: Unit): ExchangePhase | null {
    if (first.type !== 'data') return null;
    if (this.info.service === 'git-receive-pack') return 'push';
    const text = unitText(first);
    if (text === 'command=ls-refs') return 'ls-refs';
    if (text === 'command=fetch' || text.startsWith('want ')) return 'fetch';
    return null;
  }

  /** Client to server. Resolves when the input ends or a fault ended the direction. */
  async pipeRequest(input: AsyncIterable<Buffer>, sink: Sink): Promise<void> {
    const framer = new Framer();
    let state: DirectionState | null = null;
    let sawCommandFlush = false;
    const handle = async (unit: Unit): Promise<boolean> => {
      if (state === null && unit.type !== 'raw' && unit.type !== 'partial') {
        const phase = this.classify(unit);
        if (phase !== null) {
          const started = this.begin(phase, unitText(unit));
          state = started.request;
          this.current = started.response;
          sawCommandFlush = false;
        }
      }
      if (state === null) {
        await sink.write(unit.bytes);
        return true;
      }
      const going = await forward(this.engine, state, unit, sink);
      // Where this request ends, so the next pkt-line starts the next one.
      const phase = state.exchange.phase;
      if (phase === 'push' && unit.type === 'flush' && !sawCommandFlush) {
        sawCommandFlush = true;
        // After the commands comes the pack, raw, to the end of the request.
        for (const rest of framer.switchToRaw()) if (!(await forward(this.engine, state, rest, sink))) return false;
      } else if (phase !== 'push') {
        // v2 requests end with a flush; a v1 fetch with `done` (its flush after the wants is inside).
        const v1Fetch = this.info.protocol === 'v0' && phase === 'fetch';
        if (v1Fetch ? unitText(unit) === 'done' : unit.type === 'flush') state = null;
      }
      return going;
    };
    for await (const chunk of input) {
      for (const unit of framer.push(chunk)) if (!(await handle(unit))) return;
    }
    for (const unit of framer.end()) if (!(await handle(unit))) return;
    sink.end();
  }

  /** Server to client. Resolves when the input ends or a fault ended the direction. */
  async pipeResponse(input: AsyncIterable<Buffer>, sink: Sink): Promise<void> {
    const framer = new Framer();
    const handle = async (unit: Unit): Promise<boolean> => {
      const state = this.current;
      if (state === null) {
        await sink.write(unit.bytes);
        return true;
      }
      return forward(this.engine, state, unit, sink);
    };
    for await (const chunk of input) {
      for (const unit of framer.push(chunk)) if (!(await handle(unit))) return;
    }
    for (const unit of framer.end()) if (!(await handle(unit))) return;
    sink.end();
  }
}

/** Resolves when `stream` can take more (or is gone): the carriers' backpressure. */
export function waitDrain(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Starts `server` on an ephemeral loopback port; resolves with the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
