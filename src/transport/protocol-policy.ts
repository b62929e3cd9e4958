/**
 * Which transports a run may use, by git's own rules (git-config(1), `protocol.allow`;
 * docs/security.md, "git's own protocol rules"). A URL from a manifest, a webhook or an API call
 * must not start an arbitrary program: `ext::` runs a shell command, and every other unknown
 * scheme runs a `git-remote-<scheme>` helper.
 *
 * - `GIT_ALLOW_PROTOCOL` set: exactly the protocols it lists (colon-separated), nothing else.
 * - Else `protocol.<name>.allow`, else `protocol.allow`, else git's default: `always` for http,
 *   https, git and ssh; `never` for ext; `user` for the rest (file and helpers included).
 * - `user` allows a protocol unless `GIT_PROTOCOL_FROM_USER` is set to false.
 *
 * An embedding program passes `allowedProtocols` instead: exactly those, whatever the environment
 * and git's configuration say.
 */
import { execFile } from 'node:child_process';
import { ProtocolNotAllowedError, UsageError, onSide } from '../errors.js';
import type { Service, Side } from '../types.js';
import type { Endpoint } from './endpoint.js';
import type { ConnectOptions, GitConnection, Transport } from './transport.js';

export type ProtocolAllow = 'always' | 'never' | 'user';

/** What decides, read once per run from the environment and git's configuration. */
export interface ProtocolRules {
  /** The caller's `allowedProtocols`, or `GIT_ALLOW_PROTOCOL`'s list: exactly these when set. */
  only: { protocols: readonly string[]; from: 'allowedProtocols' | 'GIT_ALLOW_PROTOCOL' } | null;
  /** `protocol.<name>.allow`, names in lowercase. */
  perProtocol: ReadonlyMap<string, ProtocolAllow>;
  /** `protocol.allow`. */
  fallback: ProtocolAllow | null;
  /** False when `GIT_PROTOCOL_FROM_USER` says false: `user` protocols are then refused. */
  fromUser: boolean;
}

/** The protocol name git gives an endpoint. */
export function protocolName(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case 'http':
      return endpoint.url.protocol.replace(/:$/, '');
    case 'ssh':
      return 'ssh';
    case 'git':
      return 'git';
    case 'local':
      return 'file';
    case 'helper':
      return endpoint.scheme;
  }
}

/** git's default policy for a protocol nobody configured. */
export function defaultAllow(protocol: string): ProtocolAllow {
  if (protocol === 'http' || protocol === 'https' || protocol === 'git' || protocol === 'ssh') return 'always';
  if (protocol === 'ext') return 'never';
  return 'user';
}

/** The policy that applies to `protocol`, and where it came from (for the refusal's message). */
export function protocolDecision(protocol: string, rules: ProtocolRules): { allowed: boolean; why: string } {
  if (rules.only !== null) {
    const allowed = rules.only.protocols.includes(protocol);
    return { allowed, why: rules.only.from === 'allowedProtocols' ? 'it is not in allowedProtocols' : 'it is not in GIT_ALLOW_PROTOCOL' };
  }
  const configured = rules.perProtocol.get(protocol);
  const policy = configured ?? rules.fallback ?? defaultAllow(protocol);
  const from = configured !== undefined ? `protocol.${protocol}.allow is ${policy}` : rules.fallback !== null ? `protocol.allow is ${policy}` : `git's default for ${protocol} is ${policy}`;
  if (policy === 'always') return { allowed: true, why: from };
  if (policy === 'never') return { allowed: false, why: from };
  return { allowed: rules.fromUser, why: `${from} and GIT_PROTOCOL_FROM_USER is false` };
}

/** git's boolean: true, yes, on, a non-zero number; false, no, off, 0, empty. */
function gitBoolean(value: string): boolean {
  const text = value.trim().toLowerCase();
  if (text === 'true' || text === 'yes' || text === 'on') return true;
  if (text === 'false' || text === 'no' || text === 'off' || text === '') return false;
  return /^-?\d+$/.test(text) && Number(text) !== 0;
}

function parseAllow(key: string, value: string): ProtocolAllow {
  const text = value.trim().toLowerCase();
  if (text === 'always' || text === 'never' || text === 'user') return text;
  throw new UsageError(`unknown value ${JSON.stringify(value)} for git config ${key} (always, never or user)`);
}

/**
 * The rules from `git config --get-regexp '^protocol\.'` output (`key value` lines) and the
 * environment. Pure.
 */
export function protocolRules(configLines: string, env: NodeJS.ProcessEnv, allowedProtocols: readonly string[] | null = null): ProtocolRules {
  const fromUserValue = env['GIT_PROTOCOL_FROM_USER'];
  const fromUser = fromUserValue === undefined || gitBoolean(fromUserValue);
  const perProtocol = new Map<string, ProtocolAllow>();
  let fallback: ProtocolAllow | null = null;
  if (allowedProtocols !== null) {
    return { only: { protocols: allowedProtocols.map((name) => name.toLowerCase()), from: 'allowedProtocols' }, perProtocol, fallback, fromUser };
  }
  const listed = env['GIT_ALLOW_PROTOCOL'];
  if (listed !== undefined) {
    return { only: { protocols: listed.split(':').filter((name) => name !== '').map((name) => name.toLowerCase()), from: 'GIT_ALLOW_PROTOCOL' }, perProtocol, fallback, fromUser };
  }
  for (const line of configLines.split('\n')) {
    const space = line.indexOf(' ');
    const key = (space < 0 ? line : line.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : line.slice(space + 1);
    if (key === 'protocol.allow') fallback = parseAllow(key, value);
    else {
      // Compared in lowercase: endpoint parsing lowercases schemes.
      const match = /^protocol\.(.+)\.allow$/.exec(key);
      if (match !== null) perProtocol.set(match[1]!, parseAllow(key, value));
    }
  }
  return { only: null, perProtocol, fallback, fromUser };
}

/** git's `protocol.*` configuration as `git config --get-regexp` prints it; empty when there is none or git cannot say. */
function readProtocolConfig(env: NodeJS.ProcessEnv, cwd: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    execFile('git', ['config', '--get-regexp', '^protocol\\.'], { env, cwd }, (error, stdout) => {
      // Exit 1: no such key. git missing (ENOENT) or unusable: git's defaults apply, which
      // already refuse ext and are what a git-less run gets.
      resolve(error === null ? String(stdout) : '');
    });
  });
}

export interface ProtocolPolicyOptions {
  /** Exactly these protocols, whatever the environment and git's configuration say. */
  allowedProtocols?: readonly string[] | null;
  /** Where GIT_ALLOW_PROTOCOL, GIT_PROTOCOL_FROM_USER are read and `git config` runs. */
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

/** One run's protocol rules, read at the first connection and kept. */
export class ProtocolPolicy {
  private rules: Promise<ProtocolRules> | null = null;

  constructor(private readonly options: ProtocolPolicyOptions) {}

  private load(): Promise<ProtocolRules> {
    if (this.rules === null) {
      const { env, cwd } = this.options;
      const allowed = this.options.allowedProtocols ?? null;
      const needsConfig = allowed === null && env['GIT_ALLOW_PROTOCOL'] === undefined;
      this.rules = (needsConfig ? readProtocolConfig(env, cwd) : Promise.resolve('')).then((lines) => protocolRules(lines, env, allowed));
    }
    return this.rules;
  }

  /** Throws PROTOCOL_NOT_ALLOWED (or USAGE for a bad configuration value) unless `endpoint`'s protocol is allowed. */
  async check(endpoint: Endpoint, side: Side): Promise<void> {
    const protocol = protocolName(endpoint);
    const decision = protocolDecision(protocol, await this.load());
    if (decision.allowed) return;
    const how = decision.why.endsWith('allowedProtocols')
      ? ''
      : decision.why.endsWith('GIT_ALLOW_PROTOCOL')
        ? `; add ${protocol} to GIT_ALLOW_PROTOCOL only if you trust where the URL came from`
        : `; allow it as for git (protocol.${protocol}.allow, GIT_ALLOW_PROTOCOL) only if you trust where the URL came from`;
    throw onSide(new ProtocolNotAllowedError(protocol, `${endpoint.display}: transport '${protocol}' not allowed (${decision.why})${how}`), side);
  }
}

/** `transport`, whose every connection first checks the policy: nothing is started or sent for a refused protocol. */
export function gateTransport(transport: Transport, endpoint: Endpoint, side: Side, policy: ProtocolPolicy): Transport {
  return {
    kind: transport.kind,
    displayUrl: transport.displayUrl,
    async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
      await policy.check(endpoint, side);
      return transport.connect(service, options);
    },
    close: transport.close === undefined ? undefined : () => transport.close!(),
    approveCredentials: transport.approveCredentials === undefined ? undefined : () => transport.approveCredentials!(),
    setHead: transport.setHead === undefined ? undefined : (ref, signal) => transport.setHead!(ref, signal),
  };
}
