/**
 * The fault matrix over git:// (git daemon behind the fault TCP proxy) (docs/testing.md, "Fault matrix"): every stream fault at every phase,
 * source-side phases under protocol v1 and v2, target-side ones once.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('git', { protocols: ['v1', 'v2'], targetProtocols: ['v2'] });
