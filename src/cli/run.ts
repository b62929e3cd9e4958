/**
 * The body of the `git-sync` executable. `bin/git-sync` runs one of the two bundles built from
 * this module (`scripts/bundle.mjs`, src/cli/launch.ts); it is not part of the library (importing
 * it would run the CLI).
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
// Long-running services stop on their own terms instead (docs/fleet.md, "Stopping and
// reloading"): the first signal drains running work, the second aborts it, and a clean stop
// exits 0, as a service manager expects of a service it asked to stop.
const args = process.argv.slice(2);
const ownsSignals = (args[0] === 'fleet' && args[1] === 'serve') || args[0] === 'worker';
const interrupted = new AbortController();
let caught: NodeJS.Signals | null = null;
for (const name of ownsSignals ? [] : (['SIGINT', 'SIGTERM'] as const)) {
  process.on(name, () => {
    const exitCode = 128 + constants.signals[name];
    if (caught !== null) process.exit(exitCode);
    caught = name;
    interrupted.abort(new AbortedError(`interrupted by ${name}`));
  });
}

/**
 * A writer that outlives its reader. A reader that goes away (`git-sync sync ... | head`) closes
 * the pipe: node then reports EPIPE as an 'error' event, which, unhandled, ended the process with
 * a stack trace, after the run or in the middle of it. The run goes on and ends as it would have
 * (its exit code says how it went); what it still had to print is dropped, as the reader asked.
 */
function writer(stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    closed = true;
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}

// No top-level await: the same module is bundled as CommonJS too, for V8's code cache
// (src/cli/launch.ts).
void main(args, {
  stdout: writer(process.stdout),
  stderr: writer(process.stderr),
  env: process.env,
  terminal: process.stderr.isTTY ? process.stderr : null,
  signal: interrupted.signal,
}).then((code) => {
  process.exitCode = caught === null ? code : 128 + constants.signals[caught];
});
