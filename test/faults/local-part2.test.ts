/**
 * The fault matrix over local paths (docs/testing.md, "Fault matrix"): git-sync's own
 * `git upload-pack` / `git receive-pack` processes, run through the fault `git` wrapper. Every
 * stream fault at every phase: source-side phases under protocol v1 and v2 (faults that do not
 * depend on the protocol, the stalls, under v2 only), target-side phases once. Part 2 of 2 (every
 * other case), so that each file stays well inside npm test's per-file time bound.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('local', { protocols: ['v1', 'v2'], targetProtocols: ['v2'], part: { index: 2, of: 2 } });
