/**
 * What a run needs first, started before the run itself: the one-shot CLI calls `prepareRun` as
 * soon as its flags are read, and only then loads the library's code (src/cli/library.ts), so
 * that `git config` reads git's protocol rules while that code loads (docs/architecture.md,
 * "No-op runs at scale"). The run with these same options takes the read
 * (transport/protocol-policy.ts, `prefetchProtocolConfig`); any other run reads on its own.
 * Kept light on purpose: this module loads before the rest of the library.
 */
import { runChildEnv, type RunSides } from '../auth/child-env.js';
import { prefetchProtocolConfig } from '../transport/protocol-policy.js';
import type { CommonOptions } from './options.js';

export function prepareRun(options: CommonOptions & RunSides): void {
  prefetchProtocolConfig({ allowedProtocols: options.allowedProtocols, env: runChildEnv(options), cwd: options.cwd });
}
