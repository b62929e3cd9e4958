/**
 * The fault matrix over SSH (docs/testing.md, "Fault matrix"): the test sshd, reached through the
 * fault ssh wrapper, on the faulted side (the other side is a local path). Every way a connection
 * ends or stalls, at every phase, under protocol v2; the content faults (wrong bytes, which reach
 * the parser through ssh's pipe exactly as through the local one) run in local-part1.test.ts and local-part2.test.ts. Part 1 of
 * 3 (every third case): ssh's longer idle timeout makes the stall cases slow, and each file must
 * stay well inside npm test's per-file time bound. Skips loudly without openssh-server, never
 * under CI.
 */
import { faultMatrixSuite } from './suite.js';

faultMatrixSuite('ssh', { protocols: ['v2'], targetProtocols: ['v2'], content: false, part: { index: 1, of: 3 } });
