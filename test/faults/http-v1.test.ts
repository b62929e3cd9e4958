/**
 * The fault matrix over smart HTTP, source protocol v1 (docs/testing.md, "Fault matrix"): every
 * fault the proxy can inject at every source-side phase (the target-side ones run in
 * http-v2.test.ts: receive-pack has one protocol).
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('http', { protocols: ['v1'], targetProtocols: ['v2'] });
