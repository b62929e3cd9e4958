/**
 * The fault matrix (docs/testing.md, "Fault matrix"): generated cases, each one fault at one phase
 * of one run, through the fault carriers of test/helpers (fault-proxy.ts for HTTP, fault-streams.ts
 * for local paths, git://, ssh and remote helpers), against real git servers.
 *
 * Every case checks the promise a run makes whatever the network or a server does:
 * - it ends, within a bound (a hang guard, not a timing assertion);
 * - with success or a typed GitSyncError (never an untyped one, which the CLI reports as
 *   INTERNAL), whose code is one the fault can explain, and which names the side;
 * - the target's refs are unchanged, or changed exactly as the result (the error's `result`)
 *   says it applied, temporary refs included;
 * - `git fsck` of the target is clean;
 * - no connection or process of the run is left behind;
 * - a rerun without the fault succeeds and converges: the target's refs equal the source's, no
 *   `refs/gitsync/` temporary ref is left, fsck is clean.
 *
 * Scenarios: `ff`, a target three commits behind on `main` while the source also has a new
 * branch `dev`, so a run lists both sides, asks one ancestry question (fetch 1), relays one pack
 * (fetch 2) and pushes once; `batched`, a target four large commits behind with a body limit that
 * fits two, so the relay goes in checkpoints: fetch 3 and push 1 are a first try that does not fit
 * and is aborted, fetch 4 and push 2 land batch 1, fetch 5 and push 3 batch 2, push 4 is the
 * cutover and push 5 deletes the checkpoint ref.
 */
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { appendFileSync } from 'node:fs';
import { GitSyncError, sync, type SyncOptions, type SyncResult } from '../../src/index.js';
import type { ErrorCode } from '../../src/errors.js';
import { describeFault, type Direction, type FaultEngine, type Fault, type Point, type Rule, type Selector } from '../helpers/fault-engine.js';
import { createRepo, pseudoRandomBytes } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, type RefMap } from '../helpers/git.js';
import { processesMatching, waitUntilEmpty } from '../helpers/processes.js';

export type Protocol = 'v1' | 'v2';
export type Side = 'source' | 'target';
export type ScenarioName = 'ff' | 'batched';
/** How git-sync reaches the repositories: smart HTTP, or one of the stream transports. */
export type CarrierName = 'http' | 'local' | 'git' | 'ssh' | 'helper';

/** Configured on every repository (and on the HTTP server): ancestry over `filter`, v1 batching. */
export const SOURCE_CONFIG = { 'uploadpack.allowFilter': true, 'uploadpack.allowReachableSHA1InWant': true } as const;

export interface Scenario {
  name: ScenarioName;
  options: Partial<SyncOptions>;
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  ff: { name: 'ff', options: {} },
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
  /** Over protocol v2 only (ls-refs). */
  v2Only?: boolean;
}

export const PHASES: readonly Phase[] = [
  { name: 'source discovery', side: 'source', scenario: 'ff', kind: 'discovery', hasRequest: false, select: { service: 'git-upload-pack', phase: 'advertisement', index: 1 } },
  { name: 'source ls-refs', side: 'source', scenario: 'ff', kind: 'discovery', hasRequest: true, v2Only: true, select: { phase: 'ls-refs', index: 1 } },
  { name: 'target discovery', side: 'target', scenario: 'ff', kind: 'discovery', hasRequest: false, select: { service: 'git-receive-pack', phase: 'advertisement', index: 1 } },
  { name: 'ancestry fetch', side: 'source', scenario: 'ff', kind: 'fetch', hasRequest: true, select: { phase: 'fetch', index: 1 } },
  { name: 'relay fetch', side: 'source', scenario: 'ff', kind: 'fetch', hasRequest: true, select: { phase: 'fetch', index: 2 } },
  { name: 'push', side: 'target', scenario: 'ff', kind: 'push', hasRequest: true, select: { phase: 'push', index: 1 } },
  { name: 'batch fetch', side: 'source', scenario: 'batched', kind: 'fetch', hasRequest: true, select: { phase: 'fetch', index: 5 } },
  { name: 'batch push', side: 'target', scenario: 'batched', kind: 'push', hasRequest: true, select: { phase: 'push', index: 3 } },
];

export type Expect =
  /** A typed error with one of these codes. */
  | { outcome: 'error'; codes: readonly ErrorCode[] }
  /** The run copes (a push refused for its size becomes batches). */
  | { outcome: 'success' };

export interface FaultDef {
  /** Short, stable: part of the case name. */
  name: string;
  /** `http`: only the HTTP proxy can do it; `stream`: only the stream carriers; `any`: both. */
  carriers: 'http' | 'stream' | 'any';
  direction: Direction;
  applies(phase: Phase): boolean;
  fault(phase: Phase): Fault;
  expect(phase: Phase, carrier: CarrierName): Expect;
}

/** Somewhere inside the phase's response (or request): a pack byte for packs, else after one pkt-line. */
function middle(phase: Phase, direction: Direction): Point {
  if (phase.kind === 'fetch' && direction === 'response') return { packBytes: 100 };
  if (phase.kind === 'push' && direction === 'request') return { packBytes: 100 };
  return { packets: 1 };
}

const error = (...codes: ErrorCode[]): Expect => ({ outcome: 'error', codes });
const any = (): boolean => true;
const isPush = (phase: Phase): boolean => phase.kind === 'push';
const isFetch = (phase: Phase): boolean => phase.kind === 'fetch';
/** A connection that breaks: the transport says so, or what arrived does not parse. */
const BROKEN: ErrorCode[] = ['NETWORK', 'PKT_LINE', 'PROTOCOL', 'PACK_FORMAT', 'REMOTE_ERROR'];

function status(status: number, expect: (phase: Phase) => Expect, retryAfter?: number): FaultDef {
  return {
    name: `HTTP ${status}${retryAfter === undefined ? '' : ' Retry-After'}`,
    carriers: 'http',
    direction: 'response',
    applies: any,
    fault: () => ({ kind: 'status', status, retryAfter }),
    expect,
  };
}

/** 408, 413 and 504 to a push are a body refusal: git-sync answers with batches (docs/usage.md). */
const refusal = (phase: Phase): Expect => (isPush(phase) ? { outcome: 'success' } : error('HTTP_STATUS'));

export const FAULTS: readonly FaultDef[] = [
  { name: 'hang-up', carriers: 'http', direction: 'response', applies: any, fault: () => ({ kind: 'hang-up' }), expect: () => error('NETWORK') },
  { name: 'close at start', carriers: 'any', direction: 'response', applies: any, fault: () => ({ kind: 'close', at: { bytes: 0 } }), expect: () => error(...BROKEN) },
  { name: 'close mid-response', carriers: 'any', direction: 'response', applies: any, fault: (p) => ({ kind: 'close', at: middle(p, 'response') }), expect: () => error(...BROKEN) },
  { name: 'reset mid-response', carriers: 'any', direction: 'response', applies: any, fault: (p) => ({ kind: 'reset', at: middle(p, 'response') }), expect: () => error(...BROKEN) },
  { name: 'truncated response', carriers: 'any', direction: 'response', applies: any, fault: (p) => ({ kind: 'truncate', at: middle(p, 'response') }), expect: () => error(...BROKEN) },
  { name: 'flipped pack byte', carriers: 'any', direction: 'response', applies: isFetch, fault: () => ({ kind: 'flip', packOffset: 100 }), expect: () => error('PACK_FORMAT') },
  { name: 'ERR packet', carriers: 'any', direction: 'response', applies: any, fault: () => ({ kind: 'err', at: { packets: 0 }, message: 'fault injected' }), expect: () => error('REMOTE_ERROR') },
  { name: 'malformed pkt-line length', carriers: 'any', direction: 'response', applies: any, fault: () => ({ kind: 'bad-length', at: { packets: 1 } }), expect: () => error('PKT_LINE') },
  { name: 'report-status cut', carriers: 'any', direction: 'response', applies: isPush, fault: () => ({ kind: 'cut-report', reportBytes: 14 }), expect: () => error(...BROKEN) },
  { name: 'report-status garbled', carriers: 'any', direction: 'response', applies: isPush, fault: () => ({ kind: 'garble-report' }), expect: () => error('PROTOCOL') },
  { name: 'request closed', carriers: 'any', direction: 'request', applies: (p) => p.hasRequest, fault: (p) => ({ kind: 'close', at: middle(p, 'request') }), expect: () => error(...BROKEN) },
  { name: 'request reset', carriers: 'any', direction: 'request', applies: (p) => p.hasRequest, fault: (p) => ({ kind: 'reset', at: middle(p, 'request') }), expect: () => error(...BROKEN) },
  { name: 'pushed pack byte flipped', carriers: 'any', direction: 'request', applies: isPush, fault: () => ({ kind: 'flip', packOffset: 100 }), expect: () => error('TARGET_REJECTED') },
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
    direction: 'response',
    applies: any,
    // To a push, as nginx sends it: while the body is still streaming, then a hang-up.
    fault: (p) => (isPush(p) ? { kind: 'early-status', status: 413, afterRequestBytes: 2000 } : { kind: 'status', status: 413 }),
    expect: refusal,
  },
  {
    name: 'HTTP 502 after the push landed',
    carriers: 'http',
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

/**
 * Every fault at every phase it applies to, for each protocol. The protocol is the source's
 * (`--protocol`; receive-pack has one): target-side phases run under `targetProtocols` only.
 */
export function generateCases(carrier: CarrierName, options: { protocols: readonly Protocol[]; targetProtocols?: readonly Protocol[]; filter?: (c: FaultCase) => boolean }): FaultCase[] {
  const streamCarrier = carrier !== 'http';
  const cases: FaultCase[] = [];
  for (const protocol of options.protocols) {
    for (const phase of PHASES) {
      if (phase.v2Only && protocol !== 'v2') continue;
      if (phase.side === 'target' && !(options.targetProtocols ?? options.protocols).includes(protocol)) continue;
      for (const fault of FAULTS) {
        if (fault.carriers === (streamCarrier ? 'http' : 'stream')) continue;
        if (!fault.applies(phase)) continue;
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
  /** Connections or conversations of these repositories still open. */
  openConnections(repos: readonly string[]): number;
  /** Resolves once the servers and carriers are idle (every request over, every process reaped). */
  idle(): Promise<void>;
}

/** Template repositories each case copies: `<scenario>-source`, `<scenario>-target`. */
export async function buildTemplates(root: string): Promise<void> {
  const ff = await createRepo({ parentDir: root, name: 'tpl-ff-source', config: SOURCE_CONFIG });
  for (let i = 0; i < 6; i++) await ff.commit('main', { files: { [`main-${i}.bin`]: pseudoRandomBytes(3000, `main${i}`) } });
  await ff.commit('dev', { parents: ['main~2'], files: { 'dev.bin': pseudoRandomBytes(3000, 'dev') } });
  await ff.commit('dev', { files: { 'dev-2.txt': 'dev\n' } });
  const ffTarget = await createRepo({ parentDir: root, name: 'tpl-ff-target', config: SOURCE_CONFIG });
  await git(['push', '--quiet', ffTarget.path, 'main~3:refs/heads/main'], { cwd: ff.path });

  const batched = await createRepo({ parentDir: root, name: 'tpl-batched-source', config: SOURCE_CONFIG });
  await batched.commit('main', { files: { 'base.txt': 'base\n' } });
  for (let i = 0; i < 4; i++) await batched.commit('main', { files: { [`big-${i}.bin`]: pseudoRandomBytes(12_000, `big${i}`) } });
  const batchedTarget = await createRepo({ parentDir: root, name: 'tpl-batched-target', config: SOURCE_CONFIG });
  await git(['push', '--quiet', batchedTarget.path, 'main~4:refs/heads/main'], { cwd: batched.path });
}

let nextCase = 1;

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
  millis: number;
  sideNamed: boolean;
}

/** Every case's outcome, for the summary (and GITSYNC_FAULT_REPORT). */
export const reports: CaseReport[] = [];

type Outcome = { result: SyncResult; error: null } | { result: SyncResult | null; error: unknown };

async function runBounded(options: SyncOptions): Promise<Outcome & { millis: number }> {
  const controller = new AbortController();
  const started = performance.now();
  const running: Promise<Outcome> = sync({ ...options, signal: controller.signal }).then(
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
  return { ...first, millis: performance.now() - started };
}

/** The run's options: no credential helper, the scenario's options, the case's protocol. */
export function runOptions(env: MatrixEnv, repos: { source: string; target: string }, protocol: Protocol, scenario: ScenarioName, extra: Partial<SyncOptions> = {}): SyncOptions {
  return {
    source: { url: env.url(repos.source), credentialHelper: null },
    target: { url: env.url(repos.target), credentialHelper: null },
    protocol,
    ...SCENARIOS[scenario].options,
    ...extra,
  };
}

/** The error names the side: its `side` field when it has one, else its message names the repository. */
export function namesSide(error: unknown, side: Side, repos: { source: string; target: string }): boolean {
  if (!(error instanceof GitSyncError)) return false;
  const field = (error as GitSyncError & { side?: unknown }).side;
  if (typeof field === 'string') return field === side;
  return error.message.includes(repos[side]) && !error.message.includes(repos[side === 'source' ? 'target' : 'source']);
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

async function leftovers(env: MatrixEnv, repos: { source: string; target: string; sourcePath: string; targetPath: string }): Promise<string[]> {
  const problems: string[] = [];
  const open = await waitUntilEmpty(async () => (env.openConnections([repos.source, repos.target]) > 0 ? [1] : []));
  if (open.length > 0) problems.push(`${env.openConnections([repos.source, repos.target])} connection(s) of the run still open`);
  const processes = await waitUntilEmpty(async () => [...(await processesMatching(repos.sourcePath)), ...(await processesMatching(repos.targetPath))]);
  for (const p of processes) problems.push(`process left: ${p.pid} ${p.commandLine}`);
  return problems;
}

export interface CaseOptions {
  /** Rules to arm instead of the case's one fault (the retry set arms a fault several times). */
  rules?: (repos: { source: string; target: string }) => Rule[];
  expect?: Expect;
  extra?: Partial<SyncOptions>;
}

/** Runs one case and checks the promise; throws an assertion error listing what broke. */
export async function runCase(env: MatrixEnv, c: FaultCase, caseOptions: CaseOptions = {}): Promise<CaseReport> {
  const repos = await copyScenario(env.root, c.phase.scenario);
  const before = await forEachRef(repos.targetPath);
  const fault = c.fault.fault(c.phase);
  const rules: Rule[] = caseOptions.rules?.(repos) ?? [{ select: { ...c.phase.select, repo: repos[c.phase.side] }, direction: c.fault.direction, fault }];
  const expect = caseOptions.expect ?? c.fault.expect(c.phase, c.carrier);
  const options = runOptions(env, repos, c.protocol, c.phase.scenario, caseOptions.extra);
  const armed = env.engine.arm(rules);
  let run: Awaited<ReturnType<typeof runBounded>>;
  try {
    run = await runBounded(options);
  } finally {
    armed.disarm();
  }
  await env.idle();
  const problems: string[] = [];
  const where = `${describeFault(fault)} on ${c.phase.side} ${c.phase.name}`;
  if (armed.fired.length === 0) problems.push(`the fault never fired (${where}): the phase has no such exchange`);
  const err = run.error;
  const report: CaseReport = {
    name: c.name,
    outcome: err === null ? 'success' : 'error',
    code: err instanceof GitSyncError ? err.code : err === null ? null : 'INTERNAL',
    message: err instanceof Error ? err.message : err === null ? null : String(err),
    millis: Math.round(run.millis),
    sideNamed: err === null || namesSide(err, c.phase.side, repos),
  };
  if (err !== null && !(err instanceof GitSyncError)) problems.push(`untyped error (INTERNAL): ${err instanceof Error ? err.stack : String(err)}`);
  if (expect.outcome === 'success' && err !== null) problems.push(`expected success, got ${report.code}: ${report.message}`);
  if (expect.outcome === 'error') {
    if (err === null) problems.push(`expected an error (${expect.codes.join('/')}), the run succeeded`);
    else if (err instanceof GitSyncError && !expect.codes.includes(err.code)) problems.push(`expected ${expect.codes.join('/')}, got ${err.code}: ${err.message}`);
  }
  const after = await forEachRef(repos.targetPath);
  problems.push(...checkTargetAgainstResult(before, after, run.result));
  if (err === null) {
    const source = await forEachRef(repos.sourcePath);
    if (JSON.stringify([...after]) !== JSON.stringify([...source])) problems.push(`succeeded but the target is not the source: ${JSON.stringify([...after])}`);
  }
  await fsck(repos.targetPath).catch((error: unknown) => problems.push(`fsck after the fault: ${String(error)}`));
  problems.push(...(await leftovers(env, repos)));

  // The next run, without the fault, converges.
  const rerun = await runBounded(options);
  await env.idle();
  if (rerun.error !== null) problems.push(`the rerun failed: ${rerun.error instanceof Error ? rerun.error.message : String(rerun.error)}`);
  const [target, source] = await Promise.all([forEachRef(repos.targetPath), forEachRef(repos.sourcePath)]);
  if (JSON.stringify([...target]) !== JSON.stringify([...source])) problems.push(`after the rerun the target is not the source: ${JSON.stringify([...target])}`);
  await fsck(repos.targetPath).catch((error: unknown) => problems.push(`fsck after the rerun: ${String(error)}`));
  problems.push(...(await leftovers(env, repos)));

  reports.push(report);
  const file = process.env['GITSYNC_FAULT_REPORT'];
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ ...report, problems })}\n`);
  assert.deepEqual(problems, [], `${c.name}: ${report.outcome}${report.code === null ? '' : ` ${report.code}: ${report.message}`}`);
  return report;
}

/** One line for the end of a matrix file: cases, outcomes, the longest run. */
export function summarize(label: string): string {
  const longest = reports.reduce<CaseReport | null>((a, b) => (a === null || b.millis > a.millis ? b : a), null);
  const codes = new Map<string, number>();
  for (const r of reports) codes.set(r.code ?? 'success', (codes.get(r.code ?? 'success') ?? 0) + 1);
  return `${label}: ${reports.length} case(s); ${[...codes].map(([code, n]) => `${code} ${n}`).join(', ')}; longest run ${longest?.millis ?? 0} ms (${longest?.name ?? '-'})`;
}
