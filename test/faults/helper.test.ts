/**
 * The fault matrix over a remote helper (docs/testing.md, "Fault matrix"): `git-remote-testproto`,
 * whose git services come through the fault `git` wrapper, at every phase under protocol v2: the
 * source over `stateless-connect` (a request per program run, each answer closed by a
 * response-end packet), the target over `connect` (a plain pipe). Its v1 fetches would also go
 * over `connect`, the pipe the target's phases already put through every fault.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('helper', { protocols: ['v2'], targetProtocols: ['v2'] });
