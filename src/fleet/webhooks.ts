/**
 * Push-triggered sync (docs/fleet.md, "Webhooks"): whether a hook request is genuine, and which
 * mirrors it names. Pure, apart from node:crypto: the HTTP server (server.ts) reads the body
 * under its size limit and triggers what `judgeHook` returns.
 *
 * - GitHub (and hosts compatible with it: Gitea, Forgejo, Gogs): `X-Hub-Signature-256:
 *   sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`.
 * - GitLab: `X-Gitlab-Token: <the secret token>`, sent as is.
 * - Generic (`/hooks/<mirror-id>`, for any sender that can set a header): `Authorization: Bearer <token>`.
 *
 * Every comparison is constant-time over SHA-256 digests of both sides (equal lengths, so the
 * length of the secret does not leak either). A request that is not authenticated is answered
 * 401 before its body is even parsed, and triggers nothing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { parseEndpoint } from '../transport/endpoint.js';

export type HookProvider = 'github' | 'gitlab' | 'generic';

/** The secrets of the hook endpoints (read from the environment variables the manifest names); null: that endpoint is off. */
export interface HookSecrets {
  github: string | null;
  gitlab: string | null;
  generic: string | null;
}

export interface HookRequest {
  provider: HookProvider;
  /** Lower-case header names, as node:http gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
  /** The id in `/hooks/<mirror-id>` (generic hooks only). */
  mirrorId?: string;
}

/** A mirror as hooks see it: its id and its source. */
export interface HookMirror {
  id: string;
  source: string;
}

/**
 * The answer to a hook: `mirrors` are the ids to run now (empty unless `status` is 202).
 * 401: not authenticated; 404: the endpoint is off, or the generic hook's mirror is unknown;
 * 400: authenticated but not a JSON payload; 200: a genuine event that names no mirror here (a
 * ping, another event, another repository); 202: mirrors queued.
 */
export interface HookVerdict {
  status: 200 | 202 | 400 | 401 | 404;
  reason: string;
  mirrors: string[];
}

/** Compares two secrets in constant time, whatever their lengths. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && expected.length > 0;
}

/** GitHub's `X-Hub-Signature-256` check: `sha256=` and the hex HMAC-SHA256 of the raw body. */
export function githubSignatureValid(body: Buffer, header: string | undefined, secret: string): boolean {
  if (header === undefined || !header.startsWith('sha256=') || secret === '') return false;
  const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return secretsEqual(header.trim().toLowerCase(), expected);
}

/** The value GitHub would send for `body` signed with `secret` (for senders and tests). */
export function githubSignature(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function header(headers: HookRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Where a repository lives, independent of how it is reached: host (lower case, no port, no
 * user) and path (lower case, no `.git`, no slashes at either end). `https://github.com/Org/Repo.git`,
 * `git@github.com:org/repo` and `ssh://git@github.com:22/org/repo.git` are all
 * `github.com/org/repo`, so a push event (which lists the repository's https and ssh URLs) finds
 * a mirror whatever URL its source uses. Local paths and remote helpers have no host: null.
 */
export function repositoryKey(url: string): string | null {
  let endpoint;
  try {
    endpoint = parseEndpoint(url, '/');
  } catch {
    return null;
  }
  let host: string;
  let path: string;
  switch (endpoint.kind) {
    case 'http':
      host = endpoint.url.hostname;
      try {
        path = decodeURIComponent(endpoint.url.pathname);
      } catch {
        path = endpoint.url.pathname;
      }
      break;
    case 'ssh':
    case 'git':
      host = endpoint.host;
      path = endpoint.path;
      break;
    default:
      return null;
  }
  const trimmed = path.replace(/^\/+|\/+$/g, '').replace(/\.git$/i, '').replace(/^~/, '');
  if (trimmed === '') return null;
  return `${host.replace(/^\[(.*)\]$/, '$1').toLowerCase()}/${trimmed.toLowerCase()}`;
}

/** The repository URLs a push event names (GitHub `repository.*_url`, GitLab `project.*` and `repository.*`). */
export function pushedRepositoryUrls(provider: 'github' | 'gitlab', payload: unknown): string[] {
  const record = (value: unknown): Record<string, unknown> => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {});
  const strings = (object: Record<string, unknown>, keys: readonly string[]): string[] =>
    keys.map((key) => object[key]).filter((value): value is string => typeof value === 'string' && value !== '');
  const body = record(payload);
  if (provider === 'github') return strings(record(body['repository']), ['clone_url', 'ssh_url', 'git_url', 'html_url', 'url']);
  return [
    ...strings(record(body['project']), ['git_http_url', 'git_ssh_url', 'web_url', 'http_url', 'ssh_url']),
    ...strings(record(body['repository']), ['git_http_url', 'git_ssh_url', 'homepage', 'url']),
  ];
}

/** The mirrors whose source is one of `urls` (by repositoryKey), in manifest order. */
export function mirrorsForUrls(urls: readonly string[], mirrors: readonly HookMirror[]): string[] {
  const keys = new Set(urls.map(repositoryKey).filter((key): key is string => key !== null));
  return mirrors.filter((mirror) => {
    const key = repositoryKey(mirror.source);
    return key !== null && keys.has(key);
  }).map((mirror) => mirror.id);
}

/** GitHub events that move refs (a branch or tag push, created or deleted). */
const GITHUB_REF_EVENTS = new Set(['push', 'create', 'delete']);
/** GitLab `object_kind`s that move refs. */
const GITLAB_REF_KINDS = new Set(['push', 'tag_push']);

/** Decides a hook request: authenticated first, then what it names. */
export function judgeHook(request: HookRequest, secrets: HookSecrets, mirrors: readonly HookMirror[]): HookVerdict {
  const refuse = (status: 401 | 404 | 400, reason: string): HookVerdict => ({ status, reason, mirrors: [] });
  const secret = secrets[request.provider];
  if (secret === null) return refuse(404, `the ${request.provider} hook is not configured (serve.hooks in the manifest)`);
  if (request.provider === 'github') {
    if (!githubSignatureValid(request.body, header(request.headers, 'x-hub-signature-256'), secret)) return refuse(401, 'missing or wrong X-Hub-Signature-256');
  } else if (request.provider === 'gitlab') {
    const token = header(request.headers, 'x-gitlab-token');
    if (token === undefined || !secretsEqual(token, secret)) return refuse(401, 'missing or wrong X-Gitlab-Token');
  } else {
    const authorization = header(request.headers, 'authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match === null || !secretsEqual(match[1]!, secret)) return refuse(401, 'missing or wrong Authorization: Bearer token');
    const mirror = mirrors.find((candidate) => candidate.id === request.mirrorId);
    if (mirror === undefined) return refuse(404, `no mirror ${JSON.stringify(request.mirrorId ?? '')}`);
    return { status: 202, reason: 'queued', mirrors: [mirror.id] };
  }
  let payload: unknown;
  try {
    payload = JSON.parse(request.body.toString('utf8'));
  } catch {
    return refuse(400, 'the body is not JSON (set the hook\'s content type to application/json)');
  }
  if (request.provider === 'github') {
    const event = header(request.headers, 'x-github-event') ?? '';
    if (!GITHUB_REF_EVENTS.has(event)) return { status: 200, reason: `ignored ${event === '' ? 'an event without X-GitHub-Event' : `a ${event} event`}`, mirrors: [] };
  } else {
    const kind = (payload as { object_kind?: unknown } | null)?.object_kind;
    if (typeof kind !== 'string' || !GITLAB_REF_KINDS.has(kind)) return { status: 200, reason: `ignored a ${typeof kind === 'string' ? kind : 'non-push'} event`, mirrors: [] };
  }
  const ids = mirrorsForUrls(pushedRepositoryUrls(request.provider, payload), mirrors);
  if (ids.length === 0) return { status: 200, reason: 'no mirror has this repository as its source', mirrors: [] };
  return { status: 202, reason: 'queued', mirrors: ids };
}
