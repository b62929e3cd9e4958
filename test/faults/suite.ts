/**
 * One matrix file's suite (docs/testing.md, "Fault matrix"): the carrier's servers started once,
 * then one test per generated case, each on fresh copies of the scenario's repositories.
 */
import { after, before, describe, it } from 'node:test';
import { SSHD_BINARY } from '../helpers/sshd.js';
import { missingSystemTool } from '../helpers/system.js';
import { startMatrix, type Matrix } from './carriers.js';
import { generateCases, RUN_BOUND_MILLIS, runCase, summarize, type CarrierName, type GenerateOptions } from './matrix.js';

export type SuiteOptions = Omit<GenerateOptions, 'filter'> & {
  /**
   * Run only every `of`-th case, starting at the `index`-th (1-based): a matrix too large for one
   * file's time bound (npm test's per-test timeout also bounds a whole file) is split into files.
   */
  part?: { index: number; of: number };
};

/**
 * Cases of one file run this many at a time (GITSYNC_FAULT_CONCURRENCY): each has its own
 * repositories, and a stall case spends most of its time waiting for the idle timeout.
 */
export const CASE_CONCURRENCY = Math.max(1, Number(process.env['GITSYNC_FAULT_CONCURRENCY'] ?? 3) || 3);

export function faultMatrixSuite(carrier: CarrierName, options: SuiteOptions): void {
  const part = options.part;
  const label = `fault matrix: ${carrier}, source protocol ${options.protocols.join(' and ')}${options.targetProtocols.some((p) => options.protocols.includes(p)) ? ', target phases included' : ''}${part === undefined ? '' : `, part ${part.index} of ${part.of}`}`;
  const skip = carrier === 'ssh' ? missingSystemTool(SSHD_BINARY, 'openssh-server') : false;
  describe(label, { skip, concurrency: CASE_CONCURRENCY }, () => {
    let matrix: Matrix | undefined;
    before(async () => {
      matrix = await startMatrix(carrier);
    });
    after(async () => {
      process.stderr.write(`${summarize(label)}\n`);
      await matrix?.close();
    });
    // A case that hangs fails alone, named, instead of the whole file (two runs and their checks).
    const cases = generateCases(carrier, options).filter((_, i) => part === undefined || i % part.of === part.index - 1);
    for (const c of cases) {
      it(c.name, { timeout: 3 * RUN_BOUND_MILLIS }, async () => {
        await runCase(matrix!.env, c);
      });
    }
  });
}
