/**
 * The fleet manifest (docs/fleet.md, "Manifest reference"): a YAML file of defaults and mirrors,
 * parsed with `yaml` (positions kept, so every error names file:line:column), refused when it
 * holds a secret, validated against MANIFEST_SCHEMA with ajv, then turned into typed
 * MirrorSpecs whose options are the library's SyncOptions.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { Cron } from 'croner';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { SyncScopeOptions } from '../api/planning.js';
import type { SyncOptions } from '../api/sync.js';
import { GitSyncError, ManifestError } from '../errors.js';
import { parseByteSize } from '../plan/byte-size.js';
import { parseDuration } from '../plan/duration.js';
import type { ProtocolPreference } from '../types.js';
import { MANIFEST_SCHEMA } from './manifest-schema.js';

export type MirrorSchedule = { kind: 'interval'; millis: number } | { kind: 'cron'; expression: string };

/** One side's credentials, by reference: names of environment variables, never their values. */
export interface CredentialRefs {
  tokenEnv: string | null;
  bearerTokenEnv: string | null;
  username: string | null;
}

/** The library options a mirror's runs use (scope and safety as `sync` takes them). */
export type MirrorSyncOptions = SyncScopeOptions &
  Pick<SyncOptions, 'maxPackBytes' | 'targetMaxRefUpdates' | 'atomic' | 'bootstrapStrategy' | 'retries' | 'idleTimeoutMillis' | 'allowedProtocols' | 'maxRefListingBytes'> & {
    protocol?: ProtocolPreference;
  };

export interface MirrorSpec {
  /** Stable, `[a-z0-9._-]`: given as `id`, or derived from the source (deriveMirrorId). */
  id: string;
  /** Where the mirror is declared in the manifest (1-based), for messages. */
  line: number;
  /** The manifest's directory: relative local paths in `source` and `targets` start there. */
  cwd: string;
  source: string;
  /** One or more; several are run through the library's fanOut (the source fetched once). */
  targets: string[];
  mode: 'sync' | 'replicate';
  schedule: MirrorSchedule;
  /** A run's deadline (the library's `deadlineMillis`: TIMEOUT_DEADLINE when it passes). */
  timeoutMillis: number;
  credentials: {
    source: CredentialRefs;
    /** One per target, in the order of `targets`. */
    targets: CredentialRefs[];
    /** Ask git's credential helpers after a 401 (default true). */
    credentialHelper: boolean;
  };
  options: MirrorSyncOptions;
}

/** What `defaults:` sets, resolved the same way as a mirror's own fields. */
export type MirrorDefaults = Partial<Omit<MirrorSpec, 'id' | 'line' | 'cwd' | 'source' | 'targets'>>;

export interface FleetManifest {
  /** The manifest file (absolute when loaded from disk). */
  path: string;
  defaults: MirrorDefaults;
  mirrors: MirrorSpec[];
  /** Default caps for `fleet run`/`serve`; command-line flags win. Null: not set. */
  concurrency: { global: number | null; perHost: number | null };
  state: { path: string; retainRuns: number | null; retainDays: number | null };
  serve: {
    /** `host:port`; loopback by default. */
    listen: string;
    hooks: { githubSecretEnv?: string; gitlabTokenEnv?: string; genericTokenEnv?: string };
    /** The variable holding the status page's token ("sync now"); unset: the page is read-only. */
    pageTokenEnv?: string;
    /** How often the status page refreshes itself (milliseconds, at least a second); unset: the page's default. */
    pageRefreshMillis?: number;
  };
}

export const DEFAULT_SCHEDULE: MirrorSchedule = { kind: 'interval', millis: 15 * 60_000 };
export const DEFAULT_TIMEOUT_MILLIS = 30 * 60_000;
export const DEFAULT_RETAIN_RUNS = 1000;
export const DEFAULT_RETAIN_DAYS = 90;
export const DEFAULT_LISTEN = '127.0.0.1:8787';

type Raw = Record<string, unknown>;

/** Keys that would hold a secret's value (their `-env` forms name a variable instead). */
const SECRET_KEY = /(?:^|[-_])(?:token|password|passwd|secret|api[-_]?key|private[-_]?key|credentials?)$/i;
/** Query parameters that carry credentials in a URL. */
const SECRET_QUERY_KEY = /token|secret|password|passwd|signature|sig|auth|key|credential/i;
/** User names in an HTTP(S) URL that are in fact tokens (GitHub, GitLab, Bitbucket formats). */
const TOKEN_USERNAME = /^(?:gh[pousr]_|github_pat_|glpat-|gldt-|glptt-|ATBB)|^[A-Za-z0-9_-]{32,}$/;

let validator: ReturnType<Ajv['compile']> | null = null;
function validate(value: unknown): ErrorObject[] {
  validator ??= new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(MANIFEST_SCHEMA);
  return validator(value) ? [] : [...(validator.errors ?? [])];
}

/** Where things are in the document: YAML nodes by path, offsets to line and column. */
class Positions {
  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** The node at `segments` (map keys and sequence indexes), or the deepest one that exists. */
  node(segments: readonly (string | number)[]): { node: YamlNode | null; key: YamlNode | null } {
    let node: unknown = this.doc.contents;
    let key: YamlNode | null = null;
    for (const segment of segments) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
        if (pair === undefined) break;
        key = pair.key as YamlNode;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        key = null;
        node = node.items[segment];
      } else break;
    }
    return { node: (node as YamlNode | null) ?? null, key };
  }

  at(offset: number | undefined): { line: number | null; column: number | null } {
    if (offset === undefined) return { line: null, column: null };
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  error(segments: readonly (string | number)[], problem: string, options: { atKey?: boolean; cause?: unknown } = {}): ManifestError {
    const { node, key } = this.node(segments);
    const anchor = options.atKey === true && key !== null ? key : (node ?? key);
    return new ManifestError({ file: this.file, ...this.at(anchor?.range?.[0]), field: fieldName(segments) }, problem, { cause: options.cause });
  }
}

/** `mirrors[2].schedule` from `['mirrors', 2, 'schedule']`. */
function fieldName(segments: readonly (string | number)[]): string | null {
  if (segments.length === 0) return null;
  return segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Levenshtein distance, for "did you mean" on a misspelt field (a handful of short keys). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function allowedKeys(segments: readonly (string | number)[]): string[] {
  let schema: Raw = MANIFEST_SCHEMA as unknown as Raw;
  for (const segment of segments) {
    if (typeof segment === 'number') schema = (schema.items as Raw) ?? {};
    else schema = ((schema.properties as Raw | undefined)?.[segment] as Raw) ?? {};
  }
  return Object.keys((schema.properties as Raw | undefined) ?? {});
}

/** One schema error as a sentence; the field and line come from its path. */
function describeSchemaError(error: ErrorObject, segments: (string | number)[]): { segments: (string | number)[]; problem: string; atKey: boolean } {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const known = allowedKeys(segments);
      const near = known.filter((k) => distance(k, name) <= 2).sort((a, b) => distance(a, name) - distance(b, name))[0];
      const hint = near !== undefined ? `did you mean '${near}'?` : `known fields: ${known.join(', ')}`;
      return { segments: [...segments, name], problem: `unknown field '${name}'; ${hint}`, atKey: true };
    }
    case 'required':
      return { segments, problem: `missing field '${String(params.missingProperty)}'`, atKey: false };
    case 'type':
      return { segments, problem: `expected ${[params.type].flat().join(' or ')}`, atKey: false };
    case 'enum':
      return { segments, problem: `expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, atKey: false };
    case 'const':
      return { segments, problem: `expected ${JSON.stringify(params.allowedValue)}`, atKey: false };
    case 'pattern': {
      const last = segments[segments.length - 1];
      const what = typeof last === 'string' && last.endsWith('-env') ? 'an environment variable name (letters, digits, _)' : last === 'id' ? 'an id of lower-case letters, digits, ".", "_" and "-", starting with a letter or digit' : `text matching ${String(params.pattern)}`;
      return { segments, problem: `expected ${what}`, atKey: false };
    }
    default:
      return { segments, problem: error.message ?? error.keyword, atKey: false };
  }
}

function pathOf(error: ErrorObject): (string | number)[] {
  return error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** What in a string would be a secret: a URL's password, a token as its user, a secret query value. */
function secretInUrl(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol === 'file:') return null;
  if (url.password !== '') return 'the URL holds a password';
  if ((url.protocol === 'https:' || url.protocol === 'http:') && url.username !== '' && TOKEN_USERNAME.test(decodeURIComponent(url.username))) return 'the URL holds a token as its user name';
  for (const key of url.searchParams.keys()) if (SECRET_QUERY_KEY.test(key)) return `the URL holds a '${key}' query parameter`;
  return null;
}

/** Refuses a manifest that holds a secret; the message names where, never the value. */
function refuseSecrets(positions: Positions, node: unknown, segments: (string | number)[]): void {
  const how = 'a manifest never holds secrets: put the secret in an environment variable and name it (source-token-env, target-token-env, or token-env in a target), or leave it to git\'s credential helper';
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : null;
      if (key === null) continue;
      if (SECRET_KEY.test(key) && !(isScalar(pair.value) && (pair.value.value === null || pair.value.value === ''))) {
        throw positions.error([...segments, key], `'${key}' would hold a secret; ${how}`, { atKey: true });
      }
      refuseSecrets(positions, pair.value, [...segments, key]);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => refuseSecrets(positions, item, [...segments, index]));
  } else if (isScalar(node) && typeof node.value === 'string') {
    const found = secretInUrl(node.value);
    if (found !== null) throw positions.error(segments, `${found}; ${how}`);
  }
}

/** `15m`, `1h`, `90` (seconds), or a five- or six-field cron expression (croner). */
export function parseSchedule(text: string): MirrorSchedule {
  const trimmed = text.trim();
  if (/\s/.test(trimmed)) {
    try {
      // Paused: only parsed, never started.
      new Cron(trimmed, { paused: true }).stop();
    } catch (error) {
      throw new GitSyncError('USAGE', `'${trimmed}' is not a cron expression (${(error as Error).message})`);
    }
    return { kind: 'cron', expression: trimmed };
  }
  return { kind: 'interval', millis: parseDuration(trimmed, 'schedule') };
}

/**
 * A stable id from the source: host and path of a URL (`github.com-org-repo`), the last two
 * parts of a local path, lower-cased, `.git` dropped, anything outside `[a-z0-9._-]` a `-`.
 */
export function deriveMirrorId(source: string): string {
  let text: string;
  try {
    const url = new URL(source);
    text = url.protocol === 'file:' ? url.pathname.split('/').slice(-2).join('/') : `${url.hostname}${url.port === '' ? '' : `-${url.port}`}${url.pathname}`;
  } catch {
    // scp-like user@host:path keeps host and path; a local path its last two parts.
    const scp = /^(?:[^@/]+@)?([^:/]+):(.+)$/.exec(source);
    text = scp !== null ? `${scp[1]}/${scp[2]}` : source.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
  }
  const slug = text
    .toLowerCase()
    .replace(/\.git\/?$/, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-._]+|[-._]+$/g, '')
    .replace(/-{2,}/g, '-');
  return slug.slice(0, 128) || 'mirror';
}

/** Applies one options object (defaults or a mirror) onto `into`, each value checked and typed. */
function readOptions(raw: Raw, segments: (string | number)[], positions: Positions, into: MirrorDefaults): void {
  const at = (key: string): (string | number)[] => [...segments, key];
  const check = <T>(key: string, read: () => T): T => {
    try {
      return read();
    } catch (error) {
      if (error instanceof GitSyncError && error.code === 'USAGE') throw positions.error(at(key), error.message, { cause: error });
      throw error;
    }
  };
  const options: MirrorSyncOptions = { ...(into.options ?? {}) };
  const credentials = structuredClone(into.credentials ?? { source: noCredentials(), targets: [], credentialHelper: true });
  const target = credentials.targets[0] ?? noCredentials();
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case 'mode': into.mode = value as 'sync' | 'replicate'; break;
      case 'schedule': into.schedule = check(key, () => parseSchedule(value as string)); break;
      case 'timeout': into.timeoutMillis = check(key, () => parseDuration(String(value), 'timeout')); break;
      case 'idle-timeout': options.idleTimeoutMillis = check(key, () => parseDuration(String(value), 'idle-timeout')); break;
      case 'retries': options.retries = value as number; break;
      case 'protocol': options.protocol = value as ProtocolPreference; break;
      case 'branches': options.branches = value as string[]; break;
      case 'map': options.maps = value as string[]; break;
      case 'tags': options.tags = value as boolean; break;
      case 'all-refs': options.allRefs = value as boolean; break;
      case 'exclude-ref-prefix': options.excludeRefPrefixes = value as string[]; break;
      case 'prune': options.prune = value as boolean; break;
      case 'max-deletes': options.maxDeletes = value as number; break;
      case 'allow-empty-source': options.allowEmptySource = value as boolean; break;
      case 'force':
        options.forceWithLease = value === 'with-lease';
        options.forceBlind = value === 'blind';
        break;
      case 'target-max-pack-bytes': options.targetMaxPackBytes = check(key, () => parseByteSize(String(value), key)); break;
      case 'max-pack-bytes': options.maxPackBytes = check(key, () => parseByteSize(String(value), key)); break;
      case 'max-ref-listing-bytes': options.maxRefListingBytes = check(key, () => parseByteSize(String(value), key)); break;
      case 'target-max-ref-updates': options.targetMaxRefUpdates = value as number; break;
      case 'atomic': options.atomic = value as boolean; break;
      case 'bootstrap-strategy': options.bootstrapStrategy = value as 'first-parent' | 'topo'; break;
      case 'source-token-env': credentials.source.tokenEnv = value as string; break;
      case 'source-bearer-token-env': credentials.source.bearerTokenEnv = value as string; break;
      case 'source-username': credentials.source.username = value as string; break;
      case 'target-token-env': target.tokenEnv = value as string; break;
      case 'target-bearer-token-env': target.bearerTokenEnv = value as string; break;
      case 'target-username': target.username = value as string; break;
      case 'credential-helper': credentials.credentialHelper = value as boolean; break;
      case 'allowed-protocols': options.allowedProtocols = (value as string[]).map((name) => name.toLowerCase()); break;
      default: break; // id, source, target, targets: the mirror's own, read by the caller
    }
  }
  credentials.targets = [target];
  into.options = options;
  into.credentials = credentials;
}

function noCredentials(): CredentialRefs {
  return { tokenEnv: null, bearerTokenEnv: null, username: null };
}

/** The status page's refresh period: a duration of at least a second. */
function readPageRefresh(value: string | number, positions: Positions): number {
  let millis: number;
  try {
    millis = parseDuration(String(value), 'page-refresh');
  } catch (error) {
    throw positions.error(['serve', 'page-refresh'], (error as Error).message, { cause: error });
  }
  if (millis < 1000) throw positions.error(['serve', 'page-refresh'], `'${value}' is too often; the page refreshes at most once a second (write 1s or more)`);
  return millis;
}

/** Resolves the listen address: `host:port`, `:port` (loopback), or a port alone. */
function readListen(text: string, positions: Positions): string {
  const match = /^(?:(\[[0-9a-f:]+\]|[^:\s]*):)?(\d{1,5})$/i.exec(text.trim());
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || port > 65535) throw positions.error(['serve', 'listen'], `'${text}' is not an address; write host:port (127.0.0.1:8787) or a port`);
  return `${match[1] === undefined || match[1] === '' ? '127.0.0.1' : match[1]}:${port}`;
}

/**
 * Parses and validates a manifest. `fileName` names it in errors. Relative paths in it start at
 * the manifest's directory: `state.path` is resolved here, local sources and targets at run
 * time (MirrorSpec.cwd).
 */
export function parseManifest(text: string, fileName: string): FleetManifest {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const positions = new Positions(fileName, doc, lines);
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const where = positions.at(syntax.pos[0]);
    throw new ManifestError({ file: fileName, ...where, field: null }, `not valid YAML: ${syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  refuseSecrets(positions, doc.contents, []);
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ManifestError({ file: fileName, line: 1, column: 1, field: null }, 'expected a mapping with a `mirrors:` list (docs/fleet.md)');
  }
  const errors = validate(raw);
  if (errors.length > 0) {
    // The most specific error first: the deepest path, then the first in the file; anyOf's
    // summary only when nothing more precise was said.
    const described = errors
      .filter((error) => error.keyword !== 'anyOf' || errors.length === 1)
      .map((error) => describeSchemaError(error, pathOf(error)))
      .map((d) => ({ ...d, line: positions.error(d.segments, d.problem, { atKey: d.atKey }).line ?? 0 }));
    described.sort((a, b) => a.line - b.line || b.segments.length - a.segments.length);
    const first = described[0]!;
    const more = described.length > 1 ? ` (and ${described.length - 1} more problem(s))` : '';
    throw positions.error(first.segments, `${first.problem}${more}`, { atKey: first.atKey });
  }
  const document = raw as Raw;
  const defaults: MirrorDefaults = {};
  readOptions((document.defaults as Raw | undefined) ?? {}, ['defaults'], positions, defaults);

  const directory = path.dirname(path.resolve(fileName));
  const mirrors: MirrorSpec[] = [];
  const ids = new Map<string, number>();
  (document.mirrors as Raw[]).forEach((entry, index) => {
    const segments = ['mirrors', index];
    const line = positions.at(positions.node(segments).node?.range?.[0]).line ?? 1;
    if ((entry.target === undefined) === (entry.targets === undefined)) {
      throw positions.error(segments, entry.target === undefined ? "missing field 'target' (or 'targets', a list)" : "give 'target' or 'targets', not both");
    }
    const own: MirrorDefaults = structuredClone(defaults);
    readOptions(entry, segments, positions, own);
    const targetEntries = (entry.targets as (string | Raw)[] | undefined) ?? [entry.target as string];
    const targetDefault = own.credentials!.targets[0]!;
    const targets = targetEntries.map((t) => (typeof t === 'string' ? t : (t.url as string)));
    const targetCredentials = targetEntries.map((t): CredentialRefs =>
      typeof t === 'string'
        ? { ...targetDefault }
        : {
            tokenEnv: (t['token-env'] as string | undefined) ?? targetDefault.tokenEnv,
            bearerTokenEnv: (t['bearer-token-env'] as string | undefined) ?? targetDefault.bearerTokenEnv,
            username: (t.username as string | undefined) ?? targetDefault.username,
          },
    );
    const id = (entry.id as string | undefined) ?? deriveMirrorId(entry.source as string);
    const earlier = ids.get(id);
    if (earlier !== undefined) {
      const how = entry.id === undefined ? `its id '${id}' is derived from the source, as that of line ${earlier}: give each an explicit 'id'` : `id '${id}' is already used on line ${earlier}: ids must be unique`;
      throw positions.error(entry.id === undefined ? segments : [...segments, 'id'], how);
    }
    ids.set(id, line);
    mirrors.push({
      id,
      line,
      cwd: directory,
      source: entry.source as string,
      targets,
      mode: own.mode ?? 'sync',
      schedule: own.schedule ?? DEFAULT_SCHEDULE,
      timeoutMillis: own.timeoutMillis ?? DEFAULT_TIMEOUT_MILLIS,
      credentials: { source: own.credentials!.source, targets: targetCredentials, credentialHelper: own.credentials!.credentialHelper },
      options: own.options!,
    });
  });

  const state = (document.state as Raw | undefined) ?? {};
  const serve = (document.serve as Raw | undefined) ?? {};
  const hooks = (serve.hooks as Raw | undefined) ?? {};
  const defaultStateName = `${path.basename(fileName).replace(/\.ya?ml$/i, '')}.state.db`;
  return {
    path: fileName,
    defaults,
    mirrors,
    concurrency: { global: (document.concurrency as number | undefined) ?? null, perHost: (document['per-host-concurrency'] as number | undefined) ?? null },
    state: {
      path: path.resolve(directory, (state.path as string | undefined) ?? defaultStateName),
      retainRuns: state['retain-runs'] === undefined ? DEFAULT_RETAIN_RUNS : (state['retain-runs'] as number | null),
      retainDays: state['retain-days'] === undefined ? DEFAULT_RETAIN_DAYS : (state['retain-days'] as number | null),
    },
    serve: {
      listen: serve.listen === undefined ? DEFAULT_LISTEN : readListen(serve.listen as string, positions),
      ...(serve['page-token-env'] === undefined ? {} : { pageTokenEnv: serve['page-token-env'] as string }),
      ...(serve['page-refresh'] === undefined ? {} : { pageRefreshMillis: readPageRefresh(serve['page-refresh'] as string | number, positions) }),
      hooks: {
        ...(hooks['github-secret-env'] === undefined ? {} : { githubSecretEnv: hooks['github-secret-env'] as string }),
        ...(hooks['gitlab-token-env'] === undefined ? {} : { gitlabTokenEnv: hooks['gitlab-token-env'] as string }),
        ...(hooks['generic-token-env'] === undefined ? {} : { genericTokenEnv: hooks['generic-token-env'] as string }),
      },
    },
  };
}

/** Reads and parses a manifest file; an unreadable file is a MANIFEST_INVALID naming it. */
export async function loadManifest(file: string): Promise<FleetManifest> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ManifestError({ file, line: null, column: null, field: null }, `cannot read the manifest (${reason})`, { cause: error });
  }
  const manifest = parseManifest(text, file);
  return { ...manifest, path: absolute };
}
