/**
 * The retry set (docs/testing.md, "Fault matrix"): each transient fault armed once at each phase,
 * with retries on (`retries: 2`, a short `retryDelayMillis`). Where trying again is safe (listing,
 * ancestry and every fetch, which only read; a push the target did not take) the run must
 * succeed, having retried. Where the target took the push before the fault hit, the run may end
 * with the error or succeed, but truthfully: the result says what the target holds, the checks
 * of every matrix case hold (a batched run's checkpoint refs do not count as a change: it
 * resumes from them).
 */
import { after, before, describe, it } from 'node:test';
import type { Direction, Fault } from '../helpers/fault-engine.js';
import { startMatrix, type Matrix } from './carriers.js';
import { CASE_CONCURRENCY } from './suite.js';
import { middle, PHASES, runCase, RUN_BOUND_MILLIS, summarize, type CarrierName, type Expect, type FaultCase, type FaultDef, type Phase } from './matrix.js';
import type { ErrorCode } from '../../src/errors.js';

interface RetryFault {
  name: string;
  direction: Direction;
  fault(phase: Phase): Fault;
  applies(phase: Phase): boolean;
  /** At a push, the fault hits after the target took it (its answer is what breaks). */
  afterPushLanded: boolean;
  /** The error it leaves when the run does not try again. */
  code: ErrorCode;
}

const isPush = (phase: Phase): boolean => phase.kind === 'push';

const HTTP_FAULTS: readonly RetryFault[] = [
  { name: 'reset mid-response', direction: 'response', fault: (p) => ({ kind: 'reset', at: middle(p, 'response') }), applies: () => true, afterPushLanded: true, code: 'NETWORK' },
  { name: 'close mid-response', direction: 'response', fault: (p) => ({ kind: 'close', at: middle(p, 'response') }), applies: () => true, afterPushLanded: true, code: 'NETWORK' },
  { name: 'stall mid-response', direction: 'response', fault: (p) => ({ kind: 'stall', at: middle(p, 'response') }), applies: () => true, afterPushLanded: true, code: 'TIMEOUT_IDLE' },
  { name: 'request reset', direction: 'request', fault: (p) => ({ kind: 'reset', at: middle(p, 'request') }), applies: (p) => p.hasRequest, afterPushLanded: false, code: 'NETWORK' },
  { name: 'HTTP 502', direction: 'response', fault: () => ({ kind: 'status', status: 502 }), applies: () => true, afterPushLanded: false, code: 'HTTP_STATUS' },
  { name: 'HTTP 503 Retry-After 1', direction: 'response', fault: () => ({ kind: 'status', status: 503, retryAfter: 1 }), applies: () => true, afterPushLanded: false, code: 'HTTP_STATUS' },
  { name: 'HTTP 502 after the push landed', direction: 'response', fault: () => ({ kind: 'status-after-upstream', status: 502 }), applies: isPush, afterPushLanded: true, code: 'HTTP_STATUS' },
];

/** Over git://, a connection that ends or stalls mid-answer (a cut pkt-line, an idle timeout). */
const GIT_FAULTS: readonly RetryFault[] = [
  { name: 'close mid-response', direction: 'response', fault: (p) => ({ kind: 'close', at: middle(p, 'response') }), applies: (p) => !isPush(p), afterPushLanded: true, code: 'PKT_LINE' },
  { name: 'stall mid-response', direction: 'response', fault: (p) => ({ kind: 'stall', at: middle(p, 'response') }), applies: (p) => !isPush(p), afterPushLanded: true, code: 'TIMEOUT_IDLE' },
];

interface RetryCase {
  c: FaultCase;
  expect: Expect;
}

function retryCases(carrier: CarrierName, faults: readonly RetryFault[]): RetryCase[] {
  const cases: RetryCase[] = [];
  for (const phase of PHASES) {
    for (const retry of faults) {
      if (!retry.applies(phase)) continue;
      const landed = isPush(phase) && retry.afterPushLanded;
      const expect: Expect = landed ? { outcome: 'truthful', codes: [retry.code] } : { outcome: 'success' };
      const fault: FaultDef = {
        name: retry.name,
        carriers: 'any',
        layer: 'connection',
        direction: retry.direction,
        applies: () => true,
        fault: retry.fault,
        expect: () => expect,
      };
      cases.push({ c: { name: `retry ${carrier} v2 | ${phase.name} | ${retry.name}`, carrier, protocol: 'v2', phase, fault }, expect });
    }
  }
  return cases;
}

/** Retries on, each after a short wait (a Retry-After of 1 s is honoured). */
const RETRYING = { retries: 2, retryDelayMillis: 50 };

for (const [carrier, faults] of [['http', HTTP_FAULTS], ['git', GIT_FAULTS]] as const) {
  describe(`retry set: ${carrier}, source protocol v2`, { concurrency: CASE_CONCURRENCY }, () => {
    let matrix: Matrix | undefined;
    before(async () => {
      matrix = await startMatrix(carrier);
    });
    after(async () => {
      process.stderr.write(`${summarize(`retry set: ${carrier}`, (report) => report.name.startsWith(`retry ${carrier} `))}\n`);
      await matrix?.close();
    });
    for (const { c, expect } of retryCases(carrier, faults)) {
      it(c.name, { timeout: 3 * RUN_BOUND_MILLIS }, async () => {
        await runCase(matrix!.env, c, { extra: RETRYING, expect, retriedOnSuccess: true });
      });
    }
  });
}
