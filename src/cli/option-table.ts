/**
 * Every CLI flag, declared once: the commander option it registers, its help text, default and
 * environment fallback, and which commands take it. Help output and docs are generated from here.
 */
import { InvalidArgumentError, Option } from 'commander';
import { parseByteSize } from '../plan/byte-size.js';
import { parseDuration } from '../plan/duration.js';

export type CommandName = 'sync' | 'plan' | 'replicate' | 'bootstrap' | 'probe' | 'fetch' | 'fleet run' | 'fleet status' | 'fleet serve' | 'worker';

export interface OptionSpec {
  /** Commander flags, e.g. `--source-token <token>`. */
  flags: string;
  description: string;
  commands: readonly CommandName[];
  env?: string;
  defaultValue?: unknown;
  /** Shown in help instead of the value (secrets are never shown). */
  defaultDescription?: string;
  choices?: readonly string[];
  parse?: (value: string, previous: unknown) => unknown;
  /** Never echo the value anywhere (help shows only the env var name). */
  secret?: boolean;
}

const EVERY: readonly CommandName[] = ['sync', 'plan', 'replicate', 'bootstrap', 'probe', 'fetch'];
/** The commands that talk to a target: every one but fetch. */
const WITH_TARGET: readonly CommandName[] = ['sync', 'plan', 'replicate', 'bootstrap', 'probe'];
const SYNCING: readonly CommandName[] = ['sync', 'plan', 'replicate', 'bootstrap'];

function collect(value: string, previous: unknown): string[] {
  return [...((previous as string[] | undefined) ?? []), value];
}

function commaList(value: string, previous: unknown): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list of names');
  return [...((previous as string[] | undefined) ?? []), ...items];
}

function byteSize(value: string): number {
  try {
    return parseByteSize(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function duration(label: string): (value: string) => number {
  return (value) => {
    try {
      return parseDuration(value, label);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a whole number, 0 or more, got ${JSON.stringify(value)}`);
  return Number(value);
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, got ${JSON.stringify(value)}`);
  return Number(value);
}

function sideOptions(side: 'source' | 'target'): OptionSpec[] {
  const upper = side.toUpperCase();
  const commands = side === 'source' ? EVERY : WITH_TARGET;
  return [
    {
      flags: `--${side}-token <token>`,
      description: `${side} HTTP token or password (basic auth)`,
      env: `GITSYNC_${upper}_TOKEN`,
      commands,
      defaultDescription: 'none',
      secret: true,
    },
    {
      flags: `--${side}-username <name>`,
      description: `${side} basic-auth user name`,
      env: `GITSYNC_${upper}_USERNAME`,
      defaultDescription: 'git',
      commands,
    },
    {
      flags: `--${side}-bearer-token <token>`,
      description: `${side} bearer token (wins over basic auth)`,
      env: `GITSYNC_${upper}_BEARER_TOKEN`,
      commands,
      defaultDescription: 'none',
      secret: true,
    },
    {
      flags: `--${side}-insecure-skip-tls-verify`,
      description: `do not verify the ${side}'s TLS certificate`,
      env: `GITSYNC_${upper}_INSECURE_SKIP_TLS_VERIFY`,
      defaultValue: false,
      commands,
    },
    {
      flags: `--${side}-follow-info-refs-redirect`,
      description: `when the ${side}'s info/refs is redirected, send every later request there too (credentials stay with the original host)`,
      env: `GITSYNC_${upper}_FOLLOW_INFO_REFS_REDIRECT`,
      defaultValue: false,
      commands,
    },
  ];
}

export const OPTION_TABLE: readonly OptionSpec[] = [
  {
    flags: '--protocol <version>',
    description: 'source protocol version',
    choices: ['auto', 'v1', 'v2'],
    env: 'GITSYNC_PROTOCOL',
    defaultValue: 'auto',
    commands: EVERY,
  },
  {
    flags: '--branch <names>',
    description: 'only these branches (comma-separated short names; repeatable)',
    defaultDescription: 'all branches',
    parse: commaList,
    commands: [...SYNCING, 'fetch'],
  },
  { flags: '--tags', description: 'include refs/tags/*', defaultValue: false, commands: EVERY },
  {
    flags: '--all-refs',
    description: 'every refs/* namespace (implies --tags); not with --branch',
    defaultValue: false,
    commands: [...SYNCING, 'fetch'],
  },
  {
    flags: '--all-refs',
    description: 'every refs/* namespace (implies --tags)',
    defaultValue: false,
    commands: ['probe'],
  },
  {
    flags: '--exclude-ref-prefix <prefix>',
    description: 'leave refs under this prefix alone (repeatable)',
    defaultDescription: 'none',
    parse: collect,
    commands: EVERY,
  },
  {
    flags: '--map <src:dst>',
    description: 'push source ref src to target ref dst: short branch names (main:stable) or full names (repeatable)',
    defaultDescription: 'none',
    parse: collect,
    commands: SYNCING,
  },
  { flags: '--prune', description: 'delete managed target refs that are gone from the source', defaultValue: false, commands: ['sync', 'plan', 'replicate'] },
  {
    flags: '--max-deletes <n>',
    description: 'refuse a run (exit 3, nothing pushed) that would delete more than this many managed refs',
    env: 'GITSYNC_MAX_DELETES',
    defaultValue: 100,
    parse: nonNegativeInteger,
    commands: ['sync', 'plan', 'replicate'],
  },
  {
    flags: '--allow-empty-source',
    description: 'let a source that lists no managed refs delete target refs (otherwise refused: a wrong URL or lost access looks like that)',
    env: 'GITSYNC_ALLOW_EMPTY_SOURCE',
    defaultValue: false,
    commands: ['sync', 'plan', 'replicate'],
  },
  {
    flags: '--force-with-lease',
    description: 'allow non-fast-forward updates and tag retargets, each checked against the target value seen at plan time',
    defaultValue: false,
    commands: ['sync', 'plan'],
  },
  {
    flags: '--force-blind',
    description: 'like --force-with-lease, but overwrite whatever the target holds at push time',
    defaultValue: false,
    commands: ['sync', 'plan'],
  },
  {
    flags: '--max-pack-bytes <size>',
    description: 'abort when the relayed source pack grows past this size (e.g. 2GiB); the target is left untouched',
    defaultDescription: 'no limit',
    parse: byteSize,
    commands: SYNCING,
  },
  {
    flags: '--target-max-pack-bytes <size>',
    description: "the target's body limit (e.g. 100MB): split pushes into batches that fit",
    defaultDescription: 'no limit',
    parse: byteSize,
    commands: SYNCING,
  },
  {
    flags: '--target-max-ref-updates <n>',
    description: 'most ref commands in one receive-pack request',
    env: 'GITSYNC_MAX_REF_UPDATES_PER_PUSH',
    defaultValue: 5000,
    parse: positiveInteger,
    commands: SYNCING,
  },
  {
    flags: '--bootstrap-strategy <strategy>',
    description: 'how batch checkpoints are placed along history',
    choices: ['first-parent', 'topo'],
    defaultValue: 'first-parent',
    commands: SYNCING,
  },
  {
    flags: '--no-atomic',
    description: 'do not ask for an atomic push even when the target offers one',
    defaultDescription: 'atomic when offered',
    commands: ['sync', 'replicate', 'bootstrap'],
  },
  {
    flags: '--mode <mode>',
    description: 'which operation to preview',
    choices: ['sync', 'replicate'],
    defaultValue: 'sync',
    commands: ['plan'],
  },
  {
    flags: '--have-ref <ref>',
    description: 'a source ref whose objects count as already present: main, heads/main or refs/heads/main (repeatable)',
    defaultDescription: 'none',
    parse: collect,
    commands: ['fetch'],
  },
  {
    flags: '--have <hash>',
    description: 'an object id to send as a have (repeatable)',
    defaultDescription: 'none',
    parse: collect,
    commands: ['fetch'],
  },
  {
    flags: '--timeout <duration>',
    description: 'while waiting on a server, end the run after this long without progress either way: a whole packet from it, or bytes it took (also bounds connecting and waiting for an answer)',
    env: 'GITSYNC_TIMEOUT',
    defaultDescription: '2m',
    parse: duration('--timeout'),
    commands: EVERY,
  },
  {
    flags: '--deadline <duration>',
    description: 'end the whole run, retries included, after this long (e.g. 30m)',
    env: 'GITSYNC_DEADLINE',
    defaultDescription: 'none',
    parse: duration('--deadline'),
    commands: EVERY,
  },
  {
    flags: '--retries <n>',
    description: 'try transient failures (connection reset or refused, HTTP 429/502/503/504, a stall) again this many times where it is safe; 0 disables',
    env: 'GITSYNC_RETRIES',
    defaultValue: 2,
    parse: nonNegativeInteger,
    commands: EVERY,
  },
  {
    flags: '--max-ref-listing-bytes <size>',
    description: "stop reading a server's ref listing (the advertisement or ls-refs answer) past this size (e.g. 256MiB)",
    env: 'GITSYNC_MAX_REF_LISTING_BYTES',
    defaultDescription: '32MiB',
    parse: byteSize,
    commands: EVERY,
  },
  { flags: '--json', description: 'print the result as JSON on stdout', defaultValue: false, commands: [...EVERY, 'fleet run', 'fleet status'] },
  {
    flags: '--concurrency <n>',
    description: 'mirrors run at once, in all (worker: in this worker process)',
    defaultDescription: "the manifest's concurrency, else 8",
    parse: positiveInteger,
    commands: ['fleet run', 'fleet serve', 'worker'],
  },
  {
    flags: '--per-host <n>',
    description: 'mirror runs at once that touch any one host (its source or a target); worker: across every worker on the queue',
    defaultDescription: "the manifest's per-host-concurrency, else 4",
    parse: positiveInteger,
    commands: ['fleet run', 'fleet serve', 'worker'],
  },
  {
    flags: '--state <path>',
    description: 'the fleet state database (SQLite)',
    defaultDescription: "the manifest's state.path, else <manifest>.state.db beside it",
    commands: ['fleet run', 'fleet status', 'fleet serve'],
  },
  {
    flags: '--max-backoff <duration>',
    description: "the longest wait before retrying a mirror after failures in a row (never shorter than the mirror's period)",
    defaultValue: 3_600_000,
    defaultDescription: '1h',
    parse: duration('--max-backoff'),
    commands: ['fleet serve'],
  },
  {
    flags: '--stop-grace <duration>',
    description: 'after SIGTERM or SIGINT, how long runs in progress may finish before they are aborted (a second signal aborts at once; worker: each aborted run is handed back to the queue)',
    defaultValue: 30_000,
    defaultDescription: '30s',
    parse: duration('--stop-grace'),
    commands: ['fleet serve', 'worker'],
  },
  {
    flags: '--max-hook-bytes <size>',
    description: 'webhook bodies larger than this are refused with 413',
    defaultValue: 1024 * 1024,
    defaultDescription: '1MiB',
    parse: byteSize,
    commands: ['fleet serve'],
  },
  {
    flags: '--no-watch',
    description: 'do not reload the manifest when its file changes (SIGHUP still reloads)',
    defaultDescription: 'watch',
    commands: ['fleet serve'],
  },
  {
    flags: '--log <format>',
    description: 'one line per mirror run on stderr: json (structured), text, or none',
    choices: ['json', 'text', 'none'],
    defaultDescription: 'text on a terminal, else json',
    commands: ['fleet run'],
  },
  {
    flags: '--queue <url>',
    description: "the distributed fleet's Redis, redis://HOST:PORT[/DB] (rediss:// for TLS); its password only from GITSYNC_REDIS_PASSWORD",
    env: 'GITSYNC_QUEUE',
    defaultDescription: 'none: worker needs it; fleet status and fleet serve without it use SQLite',
    commands: ['worker', 'fleet status', 'fleet serve'],
  },
  {
    flags: '--metrics <host:port>',
    description: 'serve /metrics (Prometheus) and /healthz on this address',
    defaultDescription: 'none',
    commands: ['worker'],
  },
  {
    flags: '--lease <duration>',
    description: "how long a worker's hold on a mirror, its host slots and its jobs lasts unrenewed: how soon a dead worker's runs are taken over",
    defaultValue: 30_000,
    defaultDescription: '30s',
    parse: duration('--lease'),
    commands: ['worker'],
  },
  { flags: '--stats', description: 'count requests and bytes per phase', defaultValue: false, commands: EVERY },
  {
    flags: '--measure-memory',
    description: 'report elapsed time, peak RSS, peak heap and GC count',
    defaultValue: false,
    commands: EVERY,
  },
  {
    flags: '--progress',
    description: 'show live throughput per side, the phase or batch i/N and server progress on stderr, then a summary line (on a terminal; elsewhere only with -v)',
    defaultValue: false,
    commands: EVERY,
  },
  {
    flags: '-v, --verbose',
    description: "explain on stderr: git-sync's decisions (relay choice and why, subdivisions, retries, checkpoints) and the servers' progress, as git-sync:/source:/target: lines",
    defaultValue: false,
    commands: EVERY,
  },
  ...sideOptions('source'),
  ...sideOptions('target'),
];

export function optionsFor(command: CommandName): OptionSpec[] {
  return OPTION_TABLE.filter((spec) => spec.commands.includes(command));
}

export function isBooleanOption(spec: OptionSpec): boolean {
  return !spec.flags.includes('<') && !spec.flags.includes('[');
}

/**
 * The commander Option for a spec. Commander treats a boolean flag's env var as set whenever it
 * is defined, even as `false`; boolean env vars are therefore read by `readBooleanEnv` instead.
 */
export function toCommanderOption(spec: OptionSpec): Option {
  const booleanEnv = spec.env !== undefined && isBooleanOption(spec);
  // The help text (choices, default, env var) is helpText's, installed by the CLI.
  const option = new Option(spec.flags, spec.description);
  if (spec.choices) option.choices(spec.choices);
  if (spec.env && !booleanEnv) option.env(spec.env);
  if (spec.parse) option.argParser(spec.parse);
  if (spec.defaultValue !== undefined && !spec.secret) option.default(spec.defaultValue, spec.defaultDescription);
  else if (spec.defaultDescription !== undefined) option.default(undefined, spec.defaultDescription);
  return option;
}

/** A flag's help: what it does, then its choices, default and environment variable. */
export function helpText(spec: OptionSpec): string {
  const details: string[] = [];
  if (spec.choices) details.push(`choices: ${spec.choices.join(', ')}`);
  const shown = spec.defaultDescription ?? (spec.secret || spec.defaultValue === undefined ? undefined : formatDefault(spec.defaultValue));
  if (shown !== undefined) details.push(`default: ${shown}`);
  if (spec.env) details.push(`env: ${spec.env}`);
  return details.length > 0 ? `${spec.description} (${details.join('; ')})` : spec.description;
}

function formatDefault(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value);
}

/** `1`, `true`, `yes`, `on` are true; `0`, `false`, `no`, `off` and empty are false. */
export function readBooleanEnv(name: string, env: NodeJS.ProcessEnv): boolean | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(value)) return false;
  throw new InvalidArgumentError(`${name}=${JSON.stringify(raw)} is not a boolean: use true or false`);
}
