/**
 * The fault matrix over smart HTTP, source protocol v1 (docs/testing.md, "Fault matrix"): every
 * fault whose effect depends on the protocol spoken (how a connection breaks mid-answer, wrong
 * bytes), at every source-side phase. Statuses, hang-ups and stalls, which the HTTP layer meets
 * before any protocol is read, and the target-side phases (receive-pack has one protocol) run in
 * http-v2-part1.test.ts to http-v2-part3.test.ts.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('http', { protocols: ['v1'], targetProtocols: ['v2'] });
