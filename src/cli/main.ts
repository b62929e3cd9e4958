/**
 * The `git-sync` command line: parses flags, calls the library, renders the result, and picks the
 * exit code. No logic lives here.
 */
import { Command, CommanderError, Help } from 'commander';
import { fetch, type FetchOptions } from '../api/fetch.js';
import type { CommonOptions, EndpointOptions, RefSelection } from '../api/options.js';
import { plan, type PlanOptions } from '../api/plan.js';
import type { SyncScopeOptions } from '../api/planning.js';
import { probe, type ProbeOptions } from '../api/probe.js';
import { bootstrap, replicate, sync, type SyncOptions } from '../api/sync.js';
import { fanOut, type FanOutOptions, type FanOutResult } from '../api/fan-out.js';
import { GitSyncError } from '../errors.js';
import { httpTraceRequested, traceHttp } from '../observe/http-trace.js';
import { redactSecrets, redactUrl } from '../observe/redact.js';
import { escapeControlCharacters } from '../observe/terminal-text.js';
import { VERSION } from '../version.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, errorLine, errorReport, exitCodeFor } from './exit-codes.js';
import { helpText, isBooleanOption, optionsFor, readBooleanEnv, toCommanderOption, type CommandName } from './option-table.js';
import { startProgress, type ProgressTerminal, type ProgressView } from './progress.js';
import { endpointLabel } from './progress-state.js';
import {
  failedFetchJson,
  failedProbeJson,
  failedSyncJson,
  invalidRefWarnings,
  renderFetchText,
  renderProbeText,
  renderSyncText,
  textOf,
  toJson,
  type ListedSides,
} from './render.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** stderr when it is a terminal: `--progress` draws live there. */
  terminal?: ProgressTerminal | null;
  /** Fired when the run must stop (SIGINT, SIGTERM): the run ends, its children with it, with ABORTED. */
  signal?: AbortSignal;
}

/** Parsed flag values, keyed by commander's camelCase attribute names. */
type Flags = Record<string, unknown>;

const EXAMPLES: Partial<Record<CommandName, string[]>> = {
  worker: [
    'git-sync worker mirrors.yaml --queue redis://127.0.0.1:6379',
    'git-sync worker mirrors.yaml --queue redis://redis:6379/2 --concurrency 8 --per-host 4 --metrics 0.0.0.0:9464',
  ],
  probe: [
    'git-sync probe https://github.com/org/repo.git',
    'git-sync probe --tags --json https://git.example.com/repo.git https://mirror.example.com/repo.git',
    'git-sync probe --all-refs --exclude-ref-prefix refs/pull/ --protocol v1 https://host/repo.git',
  ],
  sync: [
    'git-sync sync https://github.com/org/repo.git https://mirror.example.com/org/repo.git',
    'git-sync sync --tags --prune --json https://host/a.git https://host/b.git',
    'git-sync sync --tags --progress https://github.com/org/repo.git ./backup.git',
  ],
  replicate: [
    'git-sync replicate --tags --prune https://host/a.git https://host/b.git',
    'git-sync replicate --all-refs --exclude-ref-prefix refs/pull/ --json https://host/a.git https://host/b.git',
  ],
  bootstrap: [
    'git-sync bootstrap --tags https://github.com/org/repo.git https://mirror.example.com/org/new.git',
    'git-sync bootstrap --branch main,release --stats https://host/a.git https://host/b.git',
    'git-sync bootstrap --progress --target-max-pack-bytes 1GiB https://host/big.git https://host/new.git',
  ],
  plan: [
    'git-sync plan https://github.com/org/repo.git https://mirror.example.com/org/repo.git',
    'git-sync plan --tags --prune --json https://host/a.git https://host/b.git',
    'git-sync plan --mode replicate --all-refs --exclude-ref-prefix refs/pull/ https://host/a.git https://host/b.git',
  ],
  'fleet run': [
    'git-sync fleet run mirrors.yaml',
    'git-sync fleet run --concurrency 16 --per-host 4 --json mirrors.yaml',
  ],
  'fleet serve': [
    'git-sync fleet serve mirrors.yaml',
    'git-sync fleet serve --concurrency 16 --per-host 4 --max-backoff 6h mirrors.yaml',
  ],
  'fleet status': ['git-sync fleet status mirrors.yaml', 'git-sync fleet status --json --state /var/lib/git-sync/mirrors.state.db'],
  fetch: [
    'git-sync fetch https://github.com/org/repo.git',
    'git-sync fetch --branch main --have-ref refs/heads/release --stats https://host/repo.git',
    'git-sync fetch --progress -v https://host/repo.git',
  ],
};

const PROGRAM_HELP = `
Run 'git-sync <command> --help' for a command's flags, their defaults and environment variables.

Examples:
  $ git-sync plan --tags https://github.com/org/repo.git https://mirror.example.com/org/repo.git
  $ git-sync sync --tags --progress https://github.com/org/repo.git https://mirror.example.com/org/repo.git
  $ git-sync sync --tags https://github.com/org/repo.git ./backup.git

Exit codes: 0 success, 1 failure (network, protocol, auth, target rejection), 2 usage error,
3 refused (blocked refs, nothing pushed). Results go to stdout (--json for JSON); errors,
--progress and -v go to stderr. Documentation: README.md and docs/ in the package.
`;

function side(flags: Flags, name: 'source' | 'target', url: string): EndpointOptions {
  return {
    url,
    token: (flags[`${name}Token`] as string | undefined) ?? null,
    username: (flags[`${name}Username`] as string | undefined) ?? null,
    bearerToken: (flags[`${name}BearerToken`] as string | undefined) ?? null,
    insecureSkipTlsVerify: Boolean(flags[`${name}InsecureSkipTlsVerify`]),
    followInfoRefsRedirect: Boolean(flags[`${name}FollowInfoRefsRedirect`]),
  };
}

function secretsOf(flags: Flags): string[] {
  return ['sourceToken', 'sourceBearerToken', 'targetToken', 'targetBearerToken']
    .map((key) => flags[key])
    .filter((value): value is string => typeof value === 'string' && value.length > 0);
}

function common(flags: Flags, view: ProgressView | null, io: CliIo): CommonOptions {
  return {
    env: io.env,
    signal: io.signal,
    protocol: flags.protocol as CommonOptions['protocol'],
    stats: Boolean(flags.stats),
    measureMemory: Boolean(flags.measureMemory),
    onProgress: view?.listener,
    idleTimeoutMillis: flags.timeout as number | undefined,
    deadlineMillis: (flags.deadline as number | undefined) ?? null,
    retries: flags.retries as number | undefined,
    maxRefListingBytes: flags.maxRefListingBytes as number | undefined,
  };
}

/** What `--progress` and `-v` show, where (src/cli/progress.ts); null when nothing. */
function progressView(flags: Flags, io: CliIo, source: string, target: string | null): Promise<ProgressView | null> {
  return startProgress({
    progress: Boolean(flags.progress),
    verbose: Boolean(flags.verbose),
    terminal: io.terminal ?? null,
    stderr: io.stderr,
    env: io.env,
    labels: { source: endpointLabel(source), target: target === null ? null : endpointLabel(target) },
  });
}

function syncScope(flags: Flags): SyncScopeOptions {
  return {
    branches: (flags.branch as string[] | undefined) ?? [],
    maps: (flags.map as string[] | undefined) ?? [],
    tags: Boolean(flags.tags),
    allRefs: Boolean(flags.allRefs),
    excludeRefPrefixes: (flags.excludeRefPrefix as string[] | undefined) ?? [],
    prune: Boolean(flags.prune),
    forceWithLease: Boolean(flags.forceWithLease),
    forceBlind: Boolean(flags.forceBlind),
    targetMaxPackBytes: (flags.targetMaxPackBytes as number | undefined) ?? null,
    maxDeletes: flags.maxDeletes as number | undefined,
    allowEmptySource: Boolean(flags.allowEmptySource),
  };
}

function selection(flags: Flags): RefSelection {
  return {
    branches: (flags.branch as string[] | undefined) ?? [],
    tags: Boolean(flags.tags),
    allRefs: Boolean(flags.allRefs),
    excludeRefPrefixes: (flags.excludeRefPrefix as string[] | undefined) ?? [],
  };
}

/** Registers a command's options from the table; boolean env fallbacks are applied after parsing. */
function withOptions(command: Command, name: CommandName, io: CliIo): Command {
  const specs = optionsFor(name);
  for (const spec of specs) command.addOption(toCommanderOption(spec));
  // Help text comes from the option table: purpose, choices, default and env var of every flag.
  const fallback = new Help();
  command.configureHelp({
    optionDescription: (option) => {
      const spec = specs.find((candidate) => candidate.flags === option.flags);
      return spec ? helpText(spec) : fallback.optionDescription(option);
    },
  });
  command.hook('preAction', (self) => {
    for (const spec of specs) {
      if (spec.env === undefined || !isBooleanOption(spec)) continue;
      const option = self.options.find((candidate) => candidate.flags === spec.flags);
      if (option === undefined) continue;
      const key = option.attributeName();
      if (self.getOptionValueSource(key) === 'cli') continue;
      let value: boolean | undefined;
      try {
        value = readBooleanEnv(spec.env, io.env);
      } catch (error) {
        self.error(`error: ${(error as Error).message}`, { exitCode: EXIT_USAGE, code: 'git-sync.env' });
      }
      if (value !== undefined) self.setOptionValueWithSource(key, value, 'env');
    }
  });
  const examples = EXAMPLES[name];
  if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((line) => `  $ ${line}`).join('\n')}\n`);
  return command;
}

/**
 * The last line of defence for the terminal (docs/security.md, "Clean terminals and valid ref
 * names"): whatever reaches stdout or stderr has every control character but the line feeds
 * git-sync ends its lines with escaped. What comes from a server is escaped before, one line at a
 * time (its own line feeds too): this catches what a message composed elsewhere let through.
 */
function guarded(io: CliIo): CliIo {
  const keepNewlines = { keepNewlines: true };
  return {
    ...io,
    stdout: (text) => io.stdout(escapeControlCharacters(text, keepNewlines)),
    stderr: (text) => io.stderr(escapeControlCharacters(text, keepNewlines)),
  };
}

/** Runs the CLI; resolves to the exit code. Never calls process.exit itself. */
export async function main(argv: readonly string[], rawIo: CliIo): Promise<number> {
  const io = guarded(rawIo);
  let exitCode = EXIT_OK;
  const program = new Command('git-sync')
    .description('Mirror Git repositories remote to remote without a local clone.')
    .version(`git-sync ${VERSION}`, '--version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showSuggestionAfterError(true)
    .addHelpText('after', PROGRAM_HELP);

  program
    .command('version')
    .description('print the version')
    .action(() => io.stdout(`git-sync ${VERSION}\n`));

  withOptions(
    program
      .command('probe')
      .description('show the protocol, capabilities, HEAD and refs of a source (and the capabilities of a target)')
      .argument('<source>', 'source repository URL or path')
      .argument('[target]', 'target repository URL or path'),
    'probe',
    io,
  ).action(async (source: string, target: string | undefined, flags: Flags) => {
    const view = await progressView(flags, io, source, target ?? null);
    const options: ProbeOptions = {
      ...common(flags, view, io),
      ...selection(flags),
      source: side(flags, 'source', source),
      target: target === undefined ? null : side(flags, 'target', target),
    };
    exitCode = await run(flags, io, view, () => probe(options), renderProbeText, (error) => failedProbeJson(safeDisplay(source), error));
  });

  const syncCommands = [
    { name: 'sync', run: sync, description: 'make target refs follow source refs safely; bootstraps an empty target automatically' },
    { name: 'replicate', run: replicate, description: 'make target refs equal source refs (overwrite; delete with --prune)' },
    { name: 'bootstrap', run: bootstrap, description: 'seed an empty target: create refs only, refusing if a managed ref exists' },
  ] as const;
  for (const command of syncCommands) {
    withOptions(
      program
        .command(command.name)
        .description(command.description)
        .argument('<source>', 'source repository URL or path')
        .argument('<target...>', 'target repository URL or path; several: one fetch shared by the targets that need the same pack'),
      command.name,
      io,
    ).action(async (source: string, targets: string[], flags: Flags) => {
      if (targets.length > 1) {
        exitCode = await runFanOut(flags, io, command.name, source, targets);
        return;
      }
      const target = targets[0]!;
      const view = await progressView(flags, io, source, target);
      const options: SyncOptions = {
        ...common(flags, view, io),
        ...syncScope(flags),
        source: side(flags, 'source', source),
        target: side(flags, 'target', target),
        maxPackBytes: (flags.maxPackBytes as number | undefined) ?? null,
        targetMaxRefUpdates: flags.targetMaxRefUpdates as number,
        atomic: flags.atomic !== false,
        bootstrapStrategy: flags.bootstrapStrategy as SyncOptions['bootstrapStrategy'],
      };
      exitCode = await run(flags, io, view, () => command.run(options), renderSyncText, (error) =>
        failedSyncJson(command.name, command.name, false, { source: safeDisplay(source), target: safeDisplay(target) }, error),
      );
    });
  }

  withOptions(
    program
      .command('plan')
      .description('show exactly what sync (or replicate, with --mode) would do, pushing nothing')
      .argument('<source>', 'source repository URL or path')
      .argument('<target...>', 'target repository URL or path; several: each planned on its own'),
    'plan',
    io,
  ).action(async (source: string, targets: string[], flags: Flags) => {
    if (targets.length > 1) {
      exitCode = await runFanOut(flags, io, 'plan', source, targets);
      return;
    }
    const target = targets[0]!;
    const view = await progressView(flags, io, source, target);
    const options: PlanOptions = {
      ...common(flags, view, io),
      ...syncScope(flags),
      mode: flags.mode as PlanOptions['mode'],
      source: side(flags, 'source', source),
      target: side(flags, 'target', target),
    };
    exitCode = await run(flags, io, view, () => plan(options), renderSyncText, (error) =>
      failedSyncJson('plan', (flags.mode as PlanOptions['mode']) ?? 'sync', true, { source: safeDisplay(source), target: safeDisplay(target) }, error),
    );
  });

  withOptions(
    program
      .command('fetch')
      .description('negotiate and download the source pack, verify it, and count its objects; pushes nothing')
      .argument('<source>', 'source repository URL or path'),
    'fetch',
    io,
  ).action(async (source: string, flags: Flags) => {
    const view = await progressView(flags, io, source, null);
    const options: FetchOptions = {
      ...common(flags, view, io),
      ...selection(flags),
      source: side(flags, 'source', source),
      haveRefs: (flags.haveRef as string[] | undefined) ?? [],
      haves: (flags.have as string[] | undefined) ?? [],
    };
    exitCode = await run(flags, io, view, () => fetch(options), renderFetchText, (error) => failedFetchJson(safeDisplay(source), error));
  });

  // Fleet mode (docs/fleet.md): its module, with SQLite, pino and the YAML parser, is loaded
  // only when a fleet command runs.
  const fleet = program.command('fleet').description('many mirrors from one manifest: run them, see their state (docs/fleet.md)');
  withOptions(
    fleet
      .command('run')
      .description('run every mirror of a manifest once, concurrently; exit 1 if any failed, 3 if any was blocked')
      .argument('<manifest>', 'the fleet manifest (mirrors.yaml)'),
    'fleet run',
    io,
  ).action(async (manifest: string, flags: Flags) => {
    exitCode = await (await import('./fleet.js')).fleetRun(manifest, flags, io);
  });
  withOptions(
    fleet
      .command('status')
      .description("each mirror's last success, age, last outcome, next run and failing streak, from the state")
      .argument('[manifest]', 'the fleet manifest (its state, its mirrors); or name the database with --state'),
    'fleet status',
    io,
  ).action(async (manifest: string | undefined, flags: Flags) => {
    exitCode =
      flags.queue === undefined
        ? await (await import('./fleet.js')).fleetStatus(manifest, flags, io)
        : await (await import('./fleet-queue.js')).queueStatus(manifest ?? null, flags, io);
  });

  // Distributed workers (docs/fleet.md, "Distributed workers"): bullmq and ioredis load only here.
  withOptions(
    program
      .command('worker')
      .description("take mirror jobs from the distributed fleet's Redis queue and run them, until SIGTERM or SIGINT")
      .argument('<manifest>', 'the fleet manifest (mirrors.yaml): the same file the producer reads'),
    'worker',
    io,
  ).action(async (manifest: string, flags: Flags) => {
    exitCode = await (await import('./fleet-queue.js')).runWorker(manifest, flags, io);
  });
  withOptions(
    fleet
      .command('serve')
      .description('keep every mirror of a manifest fresh: on its schedule and on webhooks, with /metrics, /healthz, /readyz and /mirrors (docs/fleet.md, "Serve")')
      .argument('<manifest>', 'the fleet manifest (mirrors.yaml)'),
    'fleet serve',
    io,
  ).action(async (manifest: string, flags: Flags) => {
    exitCode =
      flags.queue === undefined
        ? await (await import('./fleet-serve.js')).fleetServe(manifest, flags, io)
        : await (await import('./fleet-queue.js')).queueServe(manifest, flags, io);
  });

  // Nothing asked: the help, as a request for it (stdout, exit 0).
  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return EXIT_OK;
  }
  // GITSYNC_HTTP_TRACE=1: a line per HTTP request and response on stderr, URLs redacted.
  const stopTrace = httpTraceRequested(io.env) ? traceHttp(io.stderr) : null;
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every other parse failure is a usage error.
      if (error.exitCode === 0) return EXIT_OK;
      usageHints(error, argv, io);
      usageJson(error, argv, io);
      return EXIT_USAGE;
    }
    throw error;
  } finally {
    stopTrace?.();
  }
  return exitCode;
}

/** The next step after a parse error, when there is an obvious one (commander said what failed). */
function usageHints(error: CommanderError, argv: readonly string[], io: CliIo): void {
  if (error.code === 'commander.unknownOption' && argv.some((arg) => arg === '--force' || arg.startsWith('--force='))) {
    io.stderr('hint: git-sync has no --force; use --force-with-lease (each overwrite checked against what the target held at plan time) or --force-blind (sync and plan)\n');
  }
}

/**
 * Under `--json` a parse error prints the JSON error object too, in the command's result shape
 * (commander has already written the one-line error to stderr).
 */
function usageJson(error: CommanderError, argv: readonly string[], io: CliIo): void {
  if (!argv.includes('--json')) return;
  const command = argv.find((arg) => !arg.startsWith('-'));
  const report = { code: 'USAGE', message: error.message.replace(/^error: /, ''), side: null, phase: null };
  if (command === 'sync' || command === 'replicate' || command === 'bootstrap') io.stdout(toJson(failedSyncJson(command, command, false, { source: null, target: null }, report)));
  else if (command === 'plan') io.stdout(toJson(failedSyncJson('plan', 'sync', true, { source: null, target: null }, report)));
  else if (command === 'probe') io.stdout(toJson(failedProbeJson(null, report)));
  else if (command === 'fetch') io.stdout(toJson(failedFetchJson(null, report)));
  else io.stdout(toJson({ error: report }));
}

function safeDisplay(url: string): string {
  return redactUrl(url);
}

function hasPlans(result: unknown): boolean {
  const plans = (result as { plans?: unknown }).plans;
  return Array.isArray(plans) && plans.length > 0;
}

/** A result printed with an error: secrets scrubbed from it once more, as from the error. */
function redactResult<T>(result: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return result;
  return JSON.parse(redactSecrets(JSON.stringify(result), secrets)) as T;
}

/**
 * Several targets (docs/usage.md, "Several targets"): one run, a result per target. Text: each
 * target's lines under a `target:` heading, its error line on stderr, then a `targets:` line.
 * JSON: `{operation, source, targets: [result + error], sharedFetches, stats, measurement}`.
 * The exit code is the worst of the targets': usage 2, failure 1, blocked 3, else 0.
 */
async function runFanOut(flags: Flags, io: CliIo, operation: 'sync' | 'replicate' | 'bootstrap' | 'plan', source: string, targets: string[]): Promise<number> {
  const view = await startProgress({
    progress: Boolean(flags.progress),
    verbose: Boolean(flags.verbose),
    terminal: io.terminal ?? null,
    stderr: io.stderr,
    env: io.env,
    labels: { source: endpointLabel(source), target: `${endpointLabel(targets[0]!)} +${targets.length - 1}` },
  });
  const secrets = secretsOf(flags);
  const options: FanOutOptions = {
    ...common(flags, view, io),
    ...syncScope(flags),
    operation,
    mode: operation === 'plan' ? (flags.mode as FanOutOptions['mode']) : undefined,
    source: side(flags, 'source', source),
    targets: targets.map((target) => side(flags, 'target', target)),
    maxPackBytes: (flags.maxPackBytes as number | undefined) ?? null,
    targetMaxRefUpdates: flags.targetMaxRefUpdates as number | undefined,
    atomic: flags.atomic !== false,
    bootstrapStrategy: flags.bootstrapStrategy as FanOutOptions['bootstrapStrategy'],
  };
  let result: FanOutResult;
  try {
    result = await fanOut(options);
  } catch (error) {
    // Refused before any target was tried (usage).
    view?.finish(true);
    const report = errorReport(error, secrets);
    if (flags.json) io.stdout(toJson({ operation, source: { url: safeDisplay(source), protocol: null, head: null, invalidRefs: [] }, targets: [], sharedFetches: 0, stats: null, measurement: null, error: report }));
    io.stderr(`${errorLine(report)}\n`);
    return exitCodeFor(error);
  }
  const failed = result.targets.some((target) => target.error !== null);
  view?.finish(failed);
  const reports = result.targets.map((target) => (target.error === null ? null : errorReport(target.error, secrets)));
  if (flags.json) {
    io.stdout(
      toJson({
        ...result,
        targets: result.targets.map((target, i) => ({ ...redactResult(target.result, secrets), error: reports[i] })),
        error: null,
      }),
    );
  } else {
    const text = result.targets.map((target, i) => {
      const heading = textOf([`target: ${target.result.target.url}`]);
      const body = target.error === null || hasPlans(target.result) ? renderSyncText(redactResult(target.result, secrets)) : `error: ${reports[i]!.code}\n`;
      return `${heading}${body}`;
    });
    io.stdout(text.join('\n'));
  }
  io.stderr(invalidRefWarnings(result, ['source']));
  for (const target of result.targets) io.stderr(invalidRefWarnings(target.result, ['target']));
  for (const [i, report] of reports.entries()) if (report !== null) io.stderr(`${errorLine({ ...report, message: `${result.targets[i]!.result.target.url}: ${report.message}` })}\n`);
  const counts = { ok: 0, blocked: 0, failed: 0 };
  let worst = EXIT_OK;
  for (const target of result.targets) {
    const code = target.error === null ? EXIT_OK : exitCodeFor(target.error);
    if (code === EXIT_OK) counts.ok += 1;
    else if (code === EXIT_REFUSED) counts.blocked += 1;
    else counts.failed += 1;
    worst = severity(code) > severity(worst) ? code : worst;
  }
  if (!flags.json) io.stdout(`targets: ${result.targets.length} ok=${counts.ok} blocked=${counts.blocked} failed=${counts.failed} shared-fetches=${result.sharedFetches}\n`);
  return worst;
}

/** Which exit code wins among several targets': usage over failure over blocked over success. */
function severity(code: number): number {
  return code === EXIT_USAGE ? 3 : code === EXIT_FAILURE ? 2 : code === EXIT_REFUSED ? 1 : 0;
}

async function run<T extends ListedSides>(
  flags: Flags,
  io: CliIo,
  view: ProgressView | null,
  operation: () => Promise<T>,
  renderText: (result: T) => string,
  failedJson: (error: { code: string; message: string }) => object,
): Promise<number> {
  try {
    const result = await operation();
    view?.finish(false);
    io.stdout(flags.json ? toJson({ ...result, error: null }) : renderText(result));
    io.stderr(invalidRefWarnings(result));
    return EXIT_OK;
  } catch (error) {
    view?.finish(true);
    const report = errorReport(error, secretsOf(flags));
    // What the run knew when it failed (a blocked plan is still a plan; a failed push says per
    // ref what the target did): JSON keeps every field; text shows the refs when there are any.
    const partial = error instanceof GitSyncError ? (error.result as T | null) : null;
    if (flags.json) io.stdout(toJson(partial !== null ? { ...redactResult(partial, secretsOf(flags)), error: report } : failedJson(report)));
    else if (partial !== null && hasPlans(partial)) io.stdout(renderText(partial));
    if (partial !== null) io.stderr(invalidRefWarnings(partial));
    io.stderr(`${errorLine(report)}\n`);
    return exitCodeFor(error);
  }
}
