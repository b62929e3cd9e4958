/**
 * The fault matrix over git:// (docs/testing.md, "Fault matrix"): git daemon behind the fault TCP
 * proxy, every fault at every phase under protocol v2. (What v1 changes is the parsing, which
 * local-part1/2.test.ts and http-v1.test.ts put through every fault; what git:// changes is the
 * connection: a FIN or an RST instead of a program's exit.)
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('git', { protocols: ['v2'], targetProtocols: ['v2'] });
