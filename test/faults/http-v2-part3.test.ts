/**
 * The fault matrix over smart HTTP, source protocol v2 (docs/testing.md, "Fault matrix"): every
 * fault the proxy can inject at every phase of a run, target-side phases included; part 3 of 3
 * (every third case), so that each file stays well inside npm test's per-file time bound on a
 * slow machine.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('http', { protocols: ['v2'], targetProtocols: ['v2'], part: { index: 3, of: 3 } });
