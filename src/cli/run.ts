/**
 * The body of the `git-sync` executable. `bin/git-sync` loads the bundle built from this module
 * (`scripts/bundle.mjs`); it is not part of the library (importing it would run the CLI).
 */
import { enableGcPacing } from '../observe/gc-pacer.js';
import { main } from './main.js';

// The CLI owns its process: let the relay pace garbage collection to keep peak memory flat.
enableGcPacing();
const code = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  terminal: process.stderr.isTTY ? process.stderr : null,
});
process.exitCode = code;
