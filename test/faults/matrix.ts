/**
 * The fault matrix (docs/testing.md, "Fault matrix"): generated cases, each one fault at one phase
 * of one run, through the fault carriers of test/helpers (fault-proxy.ts for HTTP, fault-streams.ts
 * for local paths, git://, ssh and remote helpers), against real git servers.
 *
 * Every case checks the promise a run makes whatever the network or a server does (runCase):
 * - it ends, within a bound (a hang guard, not a timing assertion), and the fault fired;
 * - with the expected outcome: a typed GitSyncError (never an untyped one, which the CLI reports
 *   as INTERNAL) with the code the fault leaves on that carrier, exit code 1, naming the phase's
 *   side and run phase; or, where git-sync copes, success;
 * - the target's refs are unchanged when the fault came before anything reached it, else changed
 *   exactly as the result (the error's `result`) says it applied, temporary refs included;
 * - `git fsck` of the target is clean;
 * - no connection or process of the run is left behind;
 * - a rerun without the fault succeeds and converges: the target's refs equal the source's, no
 *   `refs/gitsync/` temporary ref is left, fsck is clean, nothing is left behind.
 *
 * Scenarios: `ff`, a target three commits behind on `main` while the source also has a new
 * branch `dev`, so a run lists both sides, asks one ancestry question (fetch 1), relays one pack
 * (fetch 2) and pushes once; `batched`, a target four large commits behind with a body limit that
 * fits two, so the relay goes in checkpoints: fetch 1 is the ancestry question, fetch 2 reads the
 * commits to place checkpoints, fetch 3 is a first try of all four that does not fit and is
 * aborted (its push may or may not have gone out by then), fetch 4 and a push land batch 1, fetch
 * 5 and the next push batch 2, then a push cuts over and one deletes the checkpoint ref.
 */
import assert from 'node:assert/strict';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { appendFileSync } from 'node:fs';
import { GitSyncError, sync, type ProgressEvent, type RunPhase, type SyncOptions, type SyncResult } from '../../src/index.js';
import { EXIT_FAILURE, exitCodeFor } from '../../src/cli/exit-codes.js';
import type { ErrorCode } from '../../src/errors.js';
import { describeFault, type Direction, type FaultEngine, type Fault, type Point, type Rule, type Selector } from '../helpers/fault-engine.js';
import { createRepo, pseudoRandomBytes } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, type RefMap } from '../helpers/git.js';
import { processesMatching, waitUntilEmpty } from '../helpers/processes.js';

export type Protocol = 'v1' | 'v2';
export type Side = 'source' | 'target';
export type ScenarioName = 'ff' | 'proof' | 'batched';
/** How git-sync reaches the repositories: smart HTTP, or one of the stream transports. */
export type CarrierName = 'http' | 'local' | 'git' | 'ssh' | 'helper';

/** Configured on every repository (and on the HTTP server): ancestry over `filter`, v1 batching. */
export const SOURCE_CONFIG = { 'uploadpack.allowReachableSHA1InWant': true } as const;
/**
 * Sources that offer filters: commits-only fetches (`filter tree:0`), thin relays with the filter
 * that leaves nothing out, and a sync's fast-forwards proven by the relay's own pack
 * (docs/architecture.md, "One fetch for an incremental sync"). The `ff` source does not, so its run
 * still asks the ancestry question with a fetch of its own before the relay.
 */
export const FILTER_CONFIG = { ...SOURCE_CONFIG, 'uploadpack.allowFilter': true } as const;

export interface Scenario {
  name: ScenarioName;
  options: Partial<SyncOptions>;
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  ff: { name: 'ff', options: {} },
  proof: { name: 'proof', options: {} },
  batched: { name: 'batched', options: { targetMaxPackBytes: 50_000 } },
};

export interface Phase {
  name: string;
  side: Side;
  scenario: ScenarioName;
  /** The exchange it is (the engine counts per repository, service and phase). */
  select: Omit<Selector, 'repo'>;
  /** What the carrier's exchange has: a request body (not an HTTP GET, not an advertisement). */
  hasRequest: boolean;
  kind: 'discovery' | 'fetch' | 'push';
  /** What the run is doing then: the `phase` its error names (GitSyncError.phase). */
  runPhase: RunPhase;
  /** Nothing has reached the target yet: a failure here leaves every target ref as it was. */
  beforeTarget: boolean;
  /** Over protocol v2 only (ls-refs). */
  v2Only?: boolean;
}

/** A push's first command moving a checkpoint ref from a commit (not creating it): batch 2 on. */
const BATCH_2_PUSH = /^(?!0{40} )[0-9a-f]{40} [0-9a-f]{40} refs\/gitsync\//;

export const PHASES: readonly Phase[] = [
  { name: 'source discovery', side: 'source', scenario: 'ff', kind: 'discovery', runPhase: 'discover', beforeTarget: true, hasRequest: false, select: { service: 'git-upload-pack', phase: 'advertisement', index: 1 } },
  { name: 'source ls-refs', side: 'source', scenario: 'ff', kind: 'discovery', runPhase: 'discover', beforeTarget: true, hasRequest: true, v2Only: true, select: { phase: 'ls-refs', index: 1 } },
  { name: 'target discovery', side: 'target', scenario: 'ff', kind: 'discovery', runPhase: 'discover', beforeTarget: true, hasRequest: false, select: { service: 'git-receive-pack', phase: 'advertisement', index: 1 } },
  { name: 'ancestry fetch', side: 'source', scenario: 'ff', kind: 'fetch', runPhase: 'ancestry', beforeTarget: true, hasRequest: true, select: { phase: 'fetch', index: 1 } },
  { name: 'relay fetch', side: 'source', scenario: 'ff', kind: 'fetch', runPhase: 'push', beforeTarget: true, hasRequest: true, select: { phase: 'fetch', index: 2 } },
  { name: 'push', side: 'target', scenario: 'ff', kind: 'push', runPhase: 'push', beforeTarget: false, hasRequest: true, select: { phase: 'push', index: 1 } },
  // The same run against a source with filters: no ancestry fetch; the relay's pack proves the
  // fast-forward (fetch 1) before its last bytes reach the target.
  { name: 'proving relay fetch', side: 'source', scenario: 'proof', kind: 'fetch', runPhase: 'push', beforeTarget: true, hasRequest: true, select: { phase: 'fetch', index: 1 } },
  { name: 'checkpoint fetch', side: 'source', scenario: 'batched', kind: 'fetch', runPhase: 'checkpoints', beforeTarget: true, hasRequest: true, select: { phase: 'fetch', index: 2 } },
  // Fetch 1 asks the ancestry question, 2 places the checkpoints, 3 is batch 1 (a probe of an
  // eighth of the commits: one), 4 batch 2.
  { name: 'batch fetch', side: 'source', scenario: 'batched', kind: 'fetch', runPhase: 'push', beforeTarget: false, hasRequest: true, select: { phase: 'fetch', index: 4 } },
  // Batch 2's push: the first that moves the checkpoint ref from where batch 1 left it. (How many
  // pushes came before it depends on how soon the first try was found not to fit.)
  { name: 'batch push', side: 'target', scenario: 'batched', kind: 'push', runPhase: 'push', beforeTarget: false, hasRequest: true, select: { phase: 'push', firstLine: BATCH_2_PUSH } },
];

export type Expect =
  /**
   * A typed error with one of these codes, naming the phase's side and run phase; a `refusal`
   * (TARGET_REJECTED: the target said no) names neither, as docs/json.md has it ("null when no
   * side failed").
   */
  | { outcome: 'error'; codes: readonly ErrorCode[]; refusal?: boolean }
  /** The run copes (a push refused for its size becomes batches; a retry succeeds). */
  | { outcome: 'success' }
  /**
   * The target may or may not have taken the push when the fault hit: success, or one of these
   * codes; either way the result must say what the target holds (the retry set's push faults).
   */
  | { outcome: 'truthful'; codes: readonly ErrorCode[] };

/** Where a fault acts: the phase, the carrier, the source's protocol. */
export interface Where {
  phase: Phase;
  carrier: CarrierName;
  protocol: Protocol;
}

export interface FaultDef {
  /** Short, stable: part of the case name. */
  name: string;
  /** `http`: only the HTTP proxy can do it; `stream`: only the stream carriers; `any`: both. */
  carriers: 'http' | 'stream' | 'any';
  /**
   * `connection`: how a connection ends or stalls, which each carrier surfaces in its own way;
   * `content`: bytes that are wrong, which reach the same parser through any byte pipe (run on
   * every carrier but ssh, a pipe exactly like the local one); `http`: what an HTTP server or
   * gateway answers.
   */
  layer: 'connection' | 'content' | 'http';
  /**
   * What it does does not depend on the protocol spoken (an HTTP status, a stall: the transport
   * sees it first): run under one source protocol only (generateCases' `anyProtocolUnder`).
   */
  anyProtocol?: boolean;
  direction: Direction;
  applies(phase: Phase, carrier: CarrierName): boolean;
  fault(phase: Phase): Fault;
  expect(where: Where): Expect;
}

/** Somewhere inside the phase's response (or request): a pack byte for packs, else after one pkt-line. */
export function middle(phase: Phase, direction: Direction): Point {
  if (phase.kind === 'fetch' && direction === 'response') return { packBytes: 100 };
  if (phase.kind === 'push' && direction === 'request') return { packBytes: 100 };
  // A push's answer is its report, in one band-1 packet: inside it (after the packet, the
  // report is whole and only the closing flush is missing).
  if (phase.kind === 'push') return { bytes: 10 };
  return { packets: 1 };
}

const error = (...codes: ErrorCode[]): Expect => ({ outcome: 'error', codes });
const any = (): boolean => true;
const isPush = (phase: Phase): boolean => phase.kind === 'push';
const isFetch = (phase: Phase): boolean => phase.kind === 'fetch';
const hasRequest = (phase: Phase): boolean => phase.hasRequest;

/**
 * How a connection that ends early reads to git-sync, per carrier (docs/testing.md, "Fault
 * matrix"): `start` and `middle` of a response, the `request` cut or `reset` on its way, a
 * `reset` of the response, the push `report` cut.
 *
 * - http: the body is incomplete or the connection is refused mid-exchange: NETWORK.
 * - local, helper: the server program (or the helper) exits failing, with git's own words
 *   (`fatal: the remote end hung up unexpectedly`) or killed: REMOTE_ERROR.
 * - ssh: a dropped connection is ssh's exit 255, NETWORK; a killed ssh (the `reset` of a
 *   process carrier) REMOTE_ERROR.
 * - git://: a FIN is a clean end of stream: git-sync finds the answer cut (PKT_LINE; a push
 *   report's framing errors are PROTOCOL; a server that closes before saying anything is
 *   NETWORK, "closed the connection without a word"); an RST is ECONNRESET (NETWORK), unless it
 *   reaches the client before what was sent just before it was read, which Linux then reads
 *   as a plain end of stream (PKT_LINE).
 */
function ends(how: 'start' | 'middle' | 'reset' | 'request' | 'request-reset' | 'report') {
  return ({ phase, carrier }: Where): Expect => {
    switch (carrier) {
      case 'http':
        return error('NETWORK');
      case 'local':
      case 'helper':
        return error('REMOTE_ERROR');
      case 'ssh':
        return error(how === 'reset' || how === 'request-reset' ? 'REMOTE_ERROR' : 'NETWORK');
      case 'git':
        if (how === 'request-reset') return error('NETWORK');
        if (isPush(phase)) return how === 'reset' ? error('PROTOCOL', 'NETWORK') : error('PROTOCOL');
        if (how === 'start' && phase.kind === 'discovery' && !phase.hasRequest) return error('NETWORK');
        return how === 'reset' ? error('PKT_LINE', 'NETWORK') : error('PKT_LINE');
    }
  };
}

/**
 * A response that ends cleanly too soon (a complete HTTP body; a program that exits 0): the
 * parser finds it cut (PKT_LINE), a push report's framing PROTOCOL. Under a remote helper's
 * stateless-connect (v2) the channel stays open after a request's answer, so an answer cut
 * inside a pkt-line is waited for until the idle timeout, and one cut between pkt-lines meets
 * the helper's response-end packet (PROTOCOL); the v2 advertisement has none after it.
 */
function truncated({ phase, carrier, protocol }: Where): Expect {
  if (isPush(phase)) return error('PROTOCOL');
  if (carrier === 'helper' && protocol === 'v2' && phase.side === 'source') {
    return phase.select.phase === 'ls-refs' ? error('PROTOCOL') : error('TIMEOUT_IDLE');
  }
  return error('PKT_LINE');
}

/** A status instead of git's answer. */
function status(code: number, expect: (where: Where) => Expect, retryAfter?: number): FaultDef {
  return {
    name: `HTTP ${code}${retryAfter === undefined ? '' : ' Retry-After'}`,
    carriers: 'http',
    layer: 'http',
    anyProtocol: true,
    direction: 'response',
    applies: any,
    fault: () => ({ kind: 'status', status: code, retryAfter }),
    expect,
  };
}

/** 408, 413 and 504 to a push are a body refusal: git-sync answers with batches (docs/usage.md). */
const refusal = ({ phase }: Where): Expect => (isPush(phase) ? { outcome: 'success' } : error('HTTP_STATUS'));
/** Waiting on a server that went silent: for an HTTP answer not begun, the header timeout. */
const silent = (beforeHeaders: boolean) => ({ carrier }: Where): Expect => error(beforeHeaders && carrier === 'http' ? 'TIMEOUT_HEADERS' : 'TIMEOUT_IDLE');

export const FAULTS: readonly FaultDef[] = [
  // How connections end.
  { name: 'hang-up', carriers: 'http', layer: 'http', anyProtocol: true, direction: 'response', applies: any, fault: () => ({ kind: 'hang-up' }), expect: () => error('NETWORK') },
  // Over HTTP a close before any answer is the hang-up, but where the server did the work first (a push).
  { name: 'close at start', carriers: 'any', layer: 'connection', direction: 'response', applies: (p, carrier) => carrier !== 'http' || isPush(p), fault: () => ({ kind: 'close', at: { bytes: 0 } }), expect: ends('start') },
  { name: 'close mid-response', carriers: 'any', layer: 'connection', direction: 'response', applies: any, fault: (p) => ({ kind: 'close', at: middle(p, 'response') }), expect: ends('middle') },
  { name: 'reset mid-response', carriers: 'any', layer: 'connection', direction: 'response', applies: any, fault: (p) => ({ kind: 'reset', at: middle(p, 'response') }), expect: ends('reset') },
  // After the report's band-1 packet the push's answer is whole but for its flush: so before it.
  { name: 'truncated response', carriers: 'any', layer: 'connection', direction: 'response', applies: any, fault: (p) => ({ kind: 'truncate', at: isPush(p) ? { packets: 0 } : middle(p, 'response') }), expect: truncated },
  { name: 'request closed', carriers: 'any', layer: 'connection', direction: 'request', applies: hasRequest, fault: (p) => ({ kind: 'close', at: middle(p, 'request') }), expect: ends('request') },
  { name: 'request reset', carriers: 'any', layer: 'connection', direction: 'request', applies: hasRequest, fault: (p) => ({ kind: 'reset', at: middle(p, 'request') }), expect: ends('request-reset') },
  { name: 'report-status cut', carriers: 'any', layer: 'connection', direction: 'response', applies: isPush, fault: () => ({ kind: 'cut-report', reportBytes: 14 }), expect: ends('report') },
  // Stalls: the connection stays open and says nothing; the idle timeout ends the run.
  // Before the answer's headers: to a fetch request this is the stall mid-request; to a push, the
  // server has taken it.
  { name: 'stall before the answer', carriers: 'http', layer: 'connection', anyProtocol: true, direction: 'response', applies: (p) => !p.hasRequest || isPush(p), fault: () => ({ kind: 'stall', at: { bytes: 0 } }), expect: silent(true) },
  { name: 'stall mid-response', carriers: 'any', layer: 'connection', anyProtocol: true, direction: 'response', applies: any, fault: (p) => ({ kind: 'stall', at: middle(p, 'response') }), expect: silent(false) },
  { name: 'stall mid-request', carriers: 'any', layer: 'connection', anyProtocol: true, direction: 'request', applies: hasRequest, fault: (p) => ({ kind: 'stall', at: middle(p, 'request') }), expect: silent(true) },
  // Wrong bytes.
  { name: 'flipped pack byte', carriers: 'any', layer: 'content', direction: 'response', applies: isFetch, fault: () => ({ kind: 'flip', packOffset: 100 }), expect: () => error('PACK_FORMAT') },
  { name: 'ERR packet', carriers: 'any', layer: 'content', direction: 'response', applies: any, fault: () => ({ kind: 'err', at: { packets: 0 }, message: 'fault injected' }), expect: () => error('REMOTE_ERROR') },
  // A push report's framing errors are PROTOCOL (report-status.ts reads it as one message).
  { name: 'malformed pkt-line length', carriers: 'any', layer: 'content', direction: 'response', applies: any, fault: () => ({ kind: 'bad-length', at: { packets: 1 } }), expect: ({ phase }) => error(isPush(phase) ? 'PROTOCOL' : 'PKT_LINE') },
  { name: 'report-status garbled', carriers: 'any', layer: 'content', direction: 'response', applies: isPush, fault: () => ({ kind: 'garble-report' }), expect: () => error('PROTOCOL') },
  {
    name: 'pushed pack byte flipped',
    carriers: 'any',
    layer: 'content',
    direction: 'request',
    applies: isPush,
    fault: () => ({ kind: 'flip', packOffset: 100 }),
    // The target cannot unpack it and says so; git daemon's receive-pack exits with pack bytes
    // unread, and the RST that follows can take the report with it (NETWORK), or part of it (a
    // report cut inside a pkt-line: PROTOCOL).
    expect: ({ carrier }) => ({ outcome: 'error', codes: carrier === 'git' ? ['TARGET_REJECTED', 'NETWORK', 'PROTOCOL'] : ['TARGET_REJECTED'], refusal: true }),
  },
  // What an HTTP server or a gateway answers instead.
  status(500, () => error('HTTP_STATUS')),
  status(502, () => error('HTTP_STATUS')),
  status(503, () => error('HTTP_STATUS'), 1),
  status(504, refusal),
  status(401, () => error('HTTP_AUTH')),
  status(403, () => error('HTTP_AUTH')),
  status(408, refusal),
  {
    name: 'HTTP 413',
    carriers: 'http',
    layer: 'http',
    anyProtocol: true,
    direction: 'response',
    applies: any,
    // To a push, as nginx sends it: while the body is still streaming, then a hang-up.
    fault: (p) => (isPush(p) ? { kind: 'early-status', status: 413, afterRequestBytes: 2000 } : { kind: 'status', status: 413 }),
    expect: refusal,
  },
  {
    name: 'HTTP 502 after the push landed',
    carriers: 'http',
    layer: 'http',
    anyProtocol: true,
    direction: 'response',
    applies: isPush,
    fault: () => ({ kind: 'status-after-upstream', status: 502 }),
    expect: () => error('HTTP_STATUS'),
  },
];

export interface FaultCase {
  name: string;
  carrier: CarrierName;
  protocol: Protocol;
  phase: Phase;
  fault: FaultDef;
}

export interface GenerateOptions {
  /** Source protocols to run the source-side phases under. */
  protocols: readonly Protocol[];
  /** Protocols to run the target-side phases under (receive-pack has one: once is enough). */
  targetProtocols: readonly Protocol[];
  /** The one protocol `anyProtocol` faults run under (default v2). */
  anyProtocolUnder?: Protocol;
  /** Content faults too (default true); `source`: at source-side phases only. */
  content?: boolean | 'source';
  filter?: (c: FaultCase) => boolean;
}

/**
 * Every fault at every phase it applies to, for each protocol. The protocol is the source's
 * (`--protocol`; receive-pack has one): target-side phases run under `targetProtocols` only.
 */
export function generateCases(carrier: CarrierName, options: GenerateOptions): FaultCase[] {
  const streamCarrier = carrier !== 'http';
  const cases: FaultCase[] = [];
  for (const protocol of options.protocols) {
    for (const phase of PHASES) {
      if (phase.v2Only && protocol !== 'v2') continue;
      if (phase.side === 'target' && !options.targetProtocols.includes(protocol)) continue;
      for (const fault of FAULTS) {
        if (fault.carriers === (streamCarrier ? 'http' : 'stream')) continue;
        if (fault.anyProtocol === true && protocol !== (options.anyProtocolUnder ?? 'v2')) continue;
        if (fault.layer === 'content' && (options.content === false || (options.content === 'source' && phase.side !== 'source'))) continue;
        if (!fault.applies(phase, carrier)) continue;
        const c: FaultCase = { name: `${carrier} ${protocol} | ${phase.name} | ${fault.name}`, carrier, protocol, phase, fault };
        if (options.filter === undefined || options.filter(c)) cases.push(c);
      }
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Running a case

export interface MatrixEnv {
  carrier: CarrierName;
  engine: FaultEngine;
  /** Where repositories live (the servers serve this directory). */
  root: string;
  /** How git-sync reaches a repository of `root` through the fault carrier. */
  url(repo: string): string;
  /**
   * How it reaches the side that is not faulted, when not through the carrier (ssh: a local
   * path, so that a case pays for one side's ssh sessions only).
   */
  plainUrl?(repo: string): string;
  /**
   * The carrier's idle timeout when `IDLE_TIMEOUT_MILLIS` is too short for it
   * (`SLOW_START_IDLE_TIMEOUT_MILLIS` for ssh and the remote helper: a connection's start says
   * nothing on the pipe, so it counts as silence to the idle timer).
   */
  idleTimeoutMillis?: number;
  /** Connections or conversations of these repositories still open. */
  openConnections(repos: readonly string[]): number;
  /**
   * Resolves once the servers and carriers are done with these repositories (every request or
   * conversation over, every process reaped); other cases may be running meanwhile.
   */
  idle(repos: readonly string[]): Promise<void>;
}

/** Template repositories each case copies: `<scenario>-source`, `<scenario>-target`. */
export async function buildTemplates(root: string): Promise<void> {
  const ff = await createRepo({ parentDir: root, name: 'tpl-ff-source', config: SOURCE_CONFIG });
  for (let i = 0; i < 6; i++) await ff.commit('main', { files: { [`main-${i}.bin`]: pseudoRandomBytes(3000, `main${i}`) } });
  await ff.commit('dev', { parents: ['main~2'], files: { 'dev.bin': pseudoRandomBytes(3000, 'dev') } });
  await ff.commit('dev', { files: { 'dev-2.txt': 'dev\n' } });
  const ffTarget = await createRepo({ parentDir: root, name: 'tpl-ff-target', config: SOURCE_CONFIG });
  await git(['push', '--quiet', ffTarget.path, 'main~3:refs/heads/main'], { cwd: ff.path });

  const batched = await createRepo({ parentDir: root, name: 'tpl-batched-source', config: FILTER_CONFIG });
  await batched.commit('main', { files: { 'base.txt': 'base\n' } });
  for (let i = 0; i < 4; i++) await batched.commit('main', { files: { [`big-${i}.bin`]: pseudoRandomBytes(12_000, `big${i}`) } });
  const batchedTarget = await createRepo({ parentDir: root, name: 'tpl-batched-target', config: SOURCE_CONFIG });
  await git(['push', '--quiet', batchedTarget.path, 'main~4:refs/heads/main'], { cwd: batched.path });
  // Each case copies them: one pack each, no sample hooks, so a copy is a few files.
  for (const repo of [ff, ffTarget, batched, batchedTarget]) {
    await git(['repack', '-adq'], { cwd: repo.path });
    await rm(join(repo.path, 'hooks'), { recursive: true, force: true });
  }
  // The proof scenario: the ff repositories, the source offering filters.
  await cp(ff.path, join(root, 'tpl-proof-source.git'), { recursive: true });
  await cp(ffTarget.path, join(root, 'tpl-proof-target.git'), { recursive: true });
  await git(['config', 'uploadpack.allowFilter', 'true'], { cwd: join(root, 'tpl-proof-source.git') });
}

let nextCase = 1;

/** The refs of a scenario's templates (each case's copies start with them; a source never changes). */
const templateRefs = new Map<string, Promise<RefMap>>();

export function scenarioRefs(root: string, scenario: ScenarioName, side: Side): Promise<RefMap> {
  const key = `${root}\0${scenario}\0${side}`;
  let refs = templateRefs.get(key);
  if (refs === undefined) {
    refs = forEachRef(join(root, `tpl-${scenario}-${side}.git`));
    templateRefs.set(key, refs);
  }
  return refs;
}

/** Copies a scenario's templates to fresh repositories for one run: `c<n>-source`, `c<n>-target`. */
export async function copyScenario(root: string, scenario: ScenarioName): Promise<{ source: string; target: string; sourcePath: string; targetPath: string }> {
  const id = nextCase++;
  const source = `c${id}-source`;
  const target = `c${id}-target`;
  const sourcePath = join(root, `${source}.git`);
  const targetPath = join(root, `${target}.git`);
  await Promise.all([
    cp(join(root, `tpl-${scenario}-source.git`), sourcePath, { recursive: true }),
    cp(join(root, `tpl-${scenario}-target.git`), targetPath, { recursive: true }),
  ]);
  return { source, target, sourcePath, targetPath };
}

/** Longest a faulted run may take before the case fails as a hang (not a timing assertion). */
export const RUN_BOUND_MILLIS = 30_000;

export interface CaseReport {
  name: string;
  outcome: 'success' | 'error';
  code: string | null;
  message: string | null;
  /** The error's `side`, `phase` and `transient`. */
  side: string | null;
  phase: string | null;
  transient: boolean | null;
  /** Retries the run made (its `retry n/N` decisions). */
  retries: number;
  /** The faulted run, start to end. */
  millis: number;
  /** The whole case: copies, the faulted run, checks, the rerun and its checks. */
  caseMillis: number;
}

/** Every case's outcome, for the summary (and GITSYNC_FAULT_REPORT). */
export const reports: CaseReport[] = [];

type Outcome = { result: SyncResult; error: null } | { result: SyncResult | null; error: unknown };

async function runBounded(options: SyncOptions): Promise<Outcome & { millis: number; retries: number }> {
  const controller = new AbortController();
  const started = performance.now();
  let retries = 0;
  const onProgress = (event: ProgressEvent): void => {
    if (event.kind === 'decision' && /^retry \d/.test(event.message)) retries += 1;
  };
  const running: Promise<Outcome> = sync({ ...options, onProgress, signal: controller.signal }).then(
    (result) => ({ result, error: null }),
    (error: unknown) => ({ result: error instanceof GitSyncError ? (error.result as SyncResult | null) : null, error }),
  );
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), RUN_BOUND_MILLIS);
  });
  const first = await Promise.race([running, bound]);
  clearTimeout(timer);
  if (first === 'hang') {
    controller.abort();
    await running;
    assert.fail(`the run did not end within ${RUN_BOUND_MILLIS} ms`);
  }
  return { ...first, millis: performance.now() - started, retries };
}

/**
 * How long a matrix run waits on a silent server: a stall fault outlasts it (the engine's stalls
 * are for ever), so each stall case ends in about this long.
 */
export const IDLE_TIMEOUT_MILLIS = 2_000;

/**
 * The idle timeout of carriers whose connections start slowly and silently (ssh: the fault
 * wrapper's node, then the key exchange; the remote helper: two Node programs before the first
 * byte): under load their start passed 2 s and failed clean runs. Their stall cases pay this
 * longer wait instead.
 */
export const SLOW_START_IDLE_TIMEOUT_MILLIS = 4_000;

/**
 * The run's options: no credential helper, no retries (one fault, one failure: the retry set
 * arms its own), a short idle timeout, the scenario's options, the case's protocol.
 */
export function runOptions(
  env: MatrixEnv,
  repos: { source: string; target: string },
  protocol: Protocol,
  scenario: ScenarioName,
  extra: Partial<SyncOptions> = {},
  faulted: Side | null = null,
): SyncOptions {
  const url = (side: Side): string => (faulted !== null && side !== faulted && env.plainUrl !== undefined ? env.plainUrl(repos[side]) : env.url(repos[side]));
  return {
    source: { url: url('source'), credentialHelper: null },
    target: { url: url('target'), credentialHelper: null },
    protocol,
    retries: 0,
    idleTimeoutMillis: env.idleTimeoutMillis ?? IDLE_TIMEOUT_MILLIS,
    ...SCENARIOS[scenario].options,
    ...extra,
  };
}

/**
 * The target holds what the result says: every ref that moved was applied as planned (a
 * checkpoint ref is listed in `tempRefs`), every ref the result calls applied holds its planned
 * value, every one it calls not applied holds its old one.
 */
export function checkTargetAgainstResult(before: RefMap, after: RefMap, result: SyncResult | null): string[] {
  const problems: string[] = [];
  const plans = result?.plans ?? [];
  const names = new Set([...before.keys(), ...after.keys()]);
  for (const name of names) {
    const old = before.get(name) ?? null;
    const now = after.get(name) ?? null;
    if (old === now) continue;
    if (name.startsWith('refs/gitsync/')) {
      if (now !== null && !(result?.tempRefs ?? []).includes(name)) problems.push(`${name} was created (${now}) but is not in the result's tempRefs`);
      continue;
    }
    const plan = plans.find((p) => p.targetRef === name);
    if (plan === undefined) {
      problems.push(`${name} moved ${old} -> ${now} with no plan for it`);
      continue;
    }
    const wanted = plan.action === 'delete' ? null : plan.sourceHash;
    if (now !== wanted) problems.push(`${name} moved ${old} -> ${now}, neither its old value nor the planned ${wanted}`);
    else if (plan.applied !== true) problems.push(`${name} moved to its planned value but the result says applied=${plan.applied}`);
  }
  for (const plan of plans) {
    if (plan.action !== 'create' && plan.action !== 'update' && plan.action !== 'delete') continue;
    const now = after.get(plan.targetRef) ?? null;
    if (plan.applied === true && now !== (plan.action === 'delete' ? null : plan.sourceHash)) problems.push(`${plan.targetRef}: the result says applied, the target holds ${now}`);
    if (plan.applied === false && now !== (before.get(plan.targetRef) ?? null)) problems.push(`${plan.targetRef}: the result says not applied, the target moved to ${now}`);
  }
  if (result !== null) {
    const pushed = plans.filter((p) => (p.action === 'create' || p.action === 'update') && p.applied === true).length;
    if (result.pushed !== pushed) problems.push(`pushed=${result.pushed} but ${pushed} create/update plan(s) applied`);
  }
  return problems;
}

/** How long the carriers may take to let go of a case's repositories once its run has ended. */
const IDLE_BOUND_MILLIS = 15_000;

/** Waits for the carriers to be done with the case's repositories; one that is not is a problem, not a hang. */
async function settle(env: MatrixEnv, repos: { source: string; target: string }, after: string, problems: string[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'stuck'>((resolve) => {
    timer = setTimeout(() => resolve('stuck'), IDLE_BOUND_MILLIS);
  });
  const outcome = await Promise.race([env.idle([repos.source, repos.target]).then(() => 'idle' as const), bound]);
  clearTimeout(timer);
  if (outcome === 'stuck') problems.push(`after ${after}, a carrier still held the case's repositories ${IDLE_BOUND_MILLIS} ms on (${env.openConnections([repos.source, repos.target])} connection(s) open)`);
}

async function leftovers(env: MatrixEnv, repos: { source: string; target: string; sourcePath: string; targetPath: string }): Promise<string[]> {
  const problems: string[] = [];
  const open = await waitUntilEmpty(async () => (env.openConnections([repos.source, repos.target]) > 0 ? [1] : []));
  if (open.length > 0) problems.push(`${env.openConnections([repos.source, repos.target])} connection(s) of the run still open`);
  const processes = await waitUntilEmpty(async () => processesMatching([repos.sourcePath, repos.targetPath]));
  for (const p of processes) problems.push(`process left: ${p.pid} ${p.commandLine}`);
  return problems;
}

export interface CaseOptions {
  /** Rules to arm instead of the case's one fault. */
  rules?: (repos: { source: string; target: string }) => Rule[];
  expect?: Expect;
  extra?: Partial<SyncOptions>;
  /** A run that succeeds must have retried (the retry set: the fault made the first attempt fail). */
  retriedOnSuccess?: boolean;
}

/** Runs one case and checks the promise; throws an assertion error listing what broke. */
export async function runCase(env: MatrixEnv, c: FaultCase, caseOptions: CaseOptions = {}): Promise<CaseReport> {
  const started = performance.now();
  const repos = await copyScenario(env.root, c.phase.scenario);
  const [before, source] = await Promise.all([scenarioRefs(env.root, c.phase.scenario, 'target'), scenarioRefs(env.root, c.phase.scenario, 'source')]);
  const fault = c.fault.fault(c.phase);
  const rules: Rule[] = caseOptions.rules?.(repos) ?? [{ select: { ...c.phase.select, repo: repos[c.phase.side] }, direction: c.fault.direction, fault }];
  const expect = caseOptions.expect ?? c.fault.expect(c);
  const options = runOptions(env, repos, c.protocol, c.phase.scenario, caseOptions.extra, c.phase.side);
  const armed = env.engine.arm(rules);
  let run: Awaited<ReturnType<typeof runBounded>>;
  try {
    run = await runBounded(options);
  } finally {
    armed.disarm();
  }
  const problems: string[] = [];
  await settle(env, repos, 'the faulted run', problems);
  const where = `${describeFault(fault)} on ${c.phase.side} ${c.phase.name}`;
  if (armed.fired.length === 0) problems.push(`the fault never fired (${where}): the phase has no such exchange`);
  const err = run.error;
  const typed = err instanceof GitSyncError ? err : null;
  const report: CaseReport = {
    name: c.name,
    outcome: err === null ? 'success' : 'error',
    code: typed !== null ? typed.code : err === null ? null : 'INTERNAL',
    message: err instanceof Error ? err.message : err === null ? null : String(err),
    side: typed?.side ?? null,
    phase: typed?.phase ?? null,
    transient: typed?.transient ?? null,
    retries: run.retries,
    millis: Math.round(run.millis),
    caseMillis: 0,
  };
  if (err !== null && typed === null) problems.push(`untyped error (INTERNAL, exit 1 by accident): ${err instanceof Error ? err.stack : String(err)}`);
  if (expect.outcome === 'success' && err !== null) problems.push(`expected success, got ${report.code}: ${report.message}`);
  if (expect.outcome === 'error' && err === null) problems.push(`expected an error (${expect.codes.join('/')}), the run succeeded`);
  if (expect.outcome !== 'success' && typed !== null) {
    if (!expect.codes.includes(typed.code)) problems.push(`expected ${expect.codes.join('/')}, got ${typed.code}: ${typed.message}`);
    if (exitCodeFor(typed) !== EXIT_FAILURE) problems.push(`exit code ${exitCodeFor(typed)}, not 1`);
    // The error says where: the side whose server or data failed, and what the run was doing
    // (a refusal by the target names neither: docs/json.md).
    const refused = expect.outcome === 'error' && expect.refusal === true && typed.code === 'TARGET_REJECTED';
    const side = refused ? null : c.phase.side;
    const phase = refused ? null : c.phase.runPhase;
    if (typed.side !== side) problems.push(`the error names side ${typed.side}, not ${side}`);
    if (typed.phase !== phase) problems.push(`the error names phase ${typed.phase}, not ${phase}`);
  }
  if (caseOptions.retriedOnSuccess === true && err === null && run.retries === 0) problems.push('the run succeeded without a retry, though the fault hit its first attempt');
  const after = await forEachRef(repos.targetPath);
  if (c.phase.beforeTarget && expect.outcome === 'error' && !sameRefs(after, before)) {
    problems.push(`the fault came before anything reached the target, yet the target changed: ${JSON.stringify([...after])}`);
  }
  problems.push(...checkTargetAgainstResult(before, after, run.result));
  if (err === null) {
    if (!sameRefs(after, source)) problems.push(`succeeded but the target is not the source: ${JSON.stringify([...after])}`);
  }
  // A target the run did not change got nothing (receive-pack quarantines what it does not
  // apply): the fsck after the rerun covers it.
  if (!sameRefs(after, before)) await fsck(repos.targetPath).catch((error: unknown) => problems.push(`fsck after the fault: ${String(error)}`));
  problems.push(...(await leftovers(env, repos)));

  // The next run, without the fault, converges.
  const rerun = await runBounded(options);
  await settle(env, repos, 'the rerun', problems);
  if (rerun.error !== null) problems.push(`the rerun failed: ${rerun.error instanceof Error ? rerun.error.message : String(rerun.error)}`);
  const target = await forEachRef(repos.targetPath);
  if (!sameRefs(target, source)) problems.push(`after the rerun the target is not the source: ${JSON.stringify([...target])}`);
  await fsck(repos.targetPath).catch((error: unknown) => problems.push(`fsck after the rerun: ${String(error)}`));
  problems.push(...(await leftovers(env, repos)));

  report.caseMillis = Math.round(performance.now() - started);
  reports.push(report);
  const file = process.env['GITSYNC_FAULT_REPORT'];
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ ...report, problems })}\n`);
  assert.deepEqual(problems, [], `${c.name}: ${report.outcome}${report.code === null ? '' : ` ${report.code} [${report.side}, ${report.phase}]: ${report.message}`}`);
  return report;
}

function sameRefs(a: RefMap, b: RefMap): boolean {
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}

/** One line for the end of a matrix file: cases, outcomes, the longest run. */
export function summarize(label: string, only: (report: CaseReport) => boolean = () => true): string {
  const mine = reports.filter(only);
  const longest = (key: 'millis' | 'caseMillis'): CaseReport | null => mine.reduce<CaseReport | null>((a, b) => (a === null || b[key] > a[key] ? b : a), null);
  const run = longest('millis');
  const whole = longest('caseMillis');
  const codes = new Map<string, number>();
  for (const r of mine) codes.set(r.code ?? 'success', (codes.get(r.code ?? 'success') ?? 0) + 1);
  return (
    `${label}: ${mine.length} case(s); ${[...codes].map(([code, n]) => `${code} ${n}`).join(', ')}; ` +
    `longest faulted run ${run?.millis ?? 0} ms (${run?.name ?? '-'}); longest case ${whole?.caseMillis ?? 0} ms (${whole?.name ?? '-'})`
  );
}
