/**
 * The fault matrix over local paths (git-sync's own `git upload-pack` / `git receive-pack`, through the fault `git` wrapper) (docs/testing.md, "Fault matrix"): every stream fault at every phase,
 * source-side phases under protocol v1 and v2, target-side ones once.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('local', { protocols: ['v1', 'v2'], targetProtocols: ['v2'] });
