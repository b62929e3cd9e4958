/**
 * The fault matrix over smart HTTP, source protocol v2 (docs/testing.md, "Fault matrix"): every
 * fault the proxy can inject at every phase of a run, target-side phases included.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('http', { protocols: ['v2'], targetProtocols: ['v2'] });
