/**
 * The library's verbs as the CLI calls them, loaded with `import()` once a command's flags are
 * read (src/cli/main.ts): `--help`, `--version` and usage errors never load the library, and a
 * run's first step (`api/prepare.ts`: git's protocol rules) goes on while its code loads
 * (docs/architecture.md, "No-op runs at scale").
 */
export { fetch } from '../api/fetch.js';
export { plan } from '../api/plan.js';
export { probe } from '../api/probe.js';
export { bootstrap, replicate, sync } from '../api/sync.js';
export { fanOut } from '../api/fan-out.js';
