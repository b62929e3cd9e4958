/**
 * The fault matrix over smart HTTP, source protocol v2 (docs/testing.md, "Fault matrix"): every
 * fault the proxy can inject at every phase of a run, target-side phases included.
 */
import { after, before, describe, it } from 'node:test';
import { startMatrix, type Matrix } from './carriers.js';
import { generateCases, runCase, summarize } from './matrix.js';

describe('fault matrix: HTTP, source protocol v2', () => {
  let matrix: Matrix;
  before(async () => {
    matrix = await startMatrix('http');
  });
  after(async () => {
    process.stderr.write(`${summarize('fault matrix: HTTP v2')}\n`);
    await matrix?.close();
  });
  for (const c of generateCases('http', { protocols: ['v2'] })) {
    it(c.name, async () => {
      await runCase(matrix.env, c);
    });
  }
});
