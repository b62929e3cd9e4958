/**
 * The fault matrix over a remote helper (docs/testing.md, "Fault matrix"): `git-remote-testproto`,
 * whose git services come through the fault `git` wrapper, at every phase under protocol v2: the
 * source over `stateless-connect` (a request per program run, each answer closed by a
 * response-end packet), the target over `connect` (a plain pipe). Content faults (wrong bytes)
 * run at the source's phases, where stateless-connect frames the answers; through the target's
 * plain pipe they reach the parser as through the local one (local-part1.test.ts, local-part2.test.ts). Its v1 fetches
 * would also go over `connect`. Part 2 of 2 (every other case), so that each file stays well
 * inside npm test's per-file time bound.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('helper', { protocols: ['v2'], targetProtocols: ['v2'], content: 'source', part: { index: 2, of: 2 } });
