/**
 * The body of the `git-sync` executable. `bin/git-sync` loads the bundle built from this module
 * (`scripts/bundle.mjs`); it is not part of the library (importing it would run the CLI).
 */
import { constants } from 'node:os';
import { AbortedError } from '../errors.js';
import { enableGcPacing } from '../observe/gc-pacer.js';
import { main } from './main.js';

// The CLI owns its process: let the relay pace garbage collection to keep peak memory flat.
enableGcPacing();

// SIGINT and SIGTERM end the run as an abort does: connections close and the processes the run
// started (ssh, git, helpers: each in its own process group, out of the terminal's reach) are
// ended; the exit code is the shell's 128 + the signal's number. A second signal exits at once,
// ending what is still running (docs/security.md, "git's own protocol rules").
const interrupted = new AbortController();
let caught: NodeJS.Signals | null = null;
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.on(name, () => {
    const exitCode = 128 + constants.signals[name];
    if (caught !== null) process.exit(exitCode);
    caught = name;
    interrupted.abort(new AbortedError(`interrupted by ${name}`));
  });
}

const code = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  terminal: process.stderr.isTTY ? process.stderr : null,
  signal: interrupted.signal,
});
process.exitCode = caught === null ? code : 128 + constants.signals[caught];
