/**
 * The status page's routes on the serve endpoints (docs/fleet.md, "Status page"): `GET /` (the
 * fleet), `GET /mirrors/<id>` as HTML when a browser asks for it (JSON stays the answer to
 * `Accept: application/json`, `?format=json` and clients that name no HTML, as server.ts gives
 * it), and `POST /mirrors/<id>/sync`, the page's "sync now". That POST needs the page token in
 * the form body: no cookie or other ambient credential is ever accepted, so a page on another
 * site cannot make a browser trigger a run (no CSRF token needed beyond the token itself), and
 * without a configured token the page is read-only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UsageError } from '../errors.js';
import type { FleetManifest, MirrorSpec } from './manifest.js';
import { PAGE_CONTENT_SECURITY_POLICY, parseSort, renderFleetPage, renderMessagePage, renderMirrorPage, type PageMirror, type PageOptions, type RunRow } from './page.js';
import type { FleetState } from './state.js';
import { secretsEqual } from './webhooks.js';

/** What the page reads and does, from the service (serve.ts). */
export interface PageSource {
  /** Every mirror of the manifest with its status. */
  mirrors(): PageMirror[];
  /** One mirror and its recent runs, newest first; null for an unknown id. */
  mirror(id: string): { mirror: PageMirror; runs: RunRow[] } | null;
  /** The page token ("sync now"); null: the page is read-only. */
  token(): string | null;
  /** Runs the mirror now, or right after its run in progress, as a hook does; says what became of it. */
  trigger(id: string): string;
  /** Seconds between the page's refreshes (default page.ts's). */
  refreshSeconds?: number;
  now?(): Date;
}

/** The runs a mirror's page shows (and charts). */
export const PAGE_RUNS = 20;

/**
 * The page token the manifest names (`serve.page-token-env`), read from `env`; null when none is
 * named (a read-only page). A variable named but unset or empty is refused (USAGE), as the hook
 * secrets are, so a service never starts (or reloads) with a page that silently lost its token.
 */
export function pageToken(manifest: FleetManifest, env: NodeJS.ProcessEnv): string | null {
  const name = manifest.serve.pageTokenEnv;
  if (name === undefined) return null;
  const value = env[name];
  if (value === undefined || value === '') {
    throw new UsageError(`${manifest.path}: serve.page-token-env names ${name}, which is not set; export ${name} with the status page's token, or remove serve.page-token-env (the page is then read-only)`);
  }
  return value;
}

/**
 * The page's view of a running service: its current manifest (which changes on reload), its
 * state, and its trigger. The token is checked at once (pageToken), then read again from the
 * manifest in use on every request.
 */
export function servicePageSource(service: {
  manifest: () => FleetManifest;
  state: FleetState;
  env: NodeJS.ProcessEnv;
  trigger: (id: string) => string;
}): PageSource {
  pageToken(service.manifest(), service.env);
  const view = (spec: MirrorSpec, status: PageMirror['status']): PageMirror => ({ id: spec.id, source: spec.source, targets: spec.targets, mode: spec.mode, status });
  return {
    mirrors: () => {
      const statuses = new Map(service.state.mirrorStatuses().map((status) => [status.id, status]));
      return service.manifest().mirrors.map((spec) => view(spec, statuses.get(spec.id) ?? null));
    },
    mirror: (id) => {
      const spec = service.manifest().mirrors.find((mirror) => mirror.id === id);
      return spec === undefined ? null : { mirror: view(spec, service.state.mirrorStatus(id)), runs: service.state.recentRuns(id, PAGE_RUNS) };
    },
    token: () => {
      try {
        return pageToken(service.manifest(), service.env);
      } catch {
        return null;
      }
    },
    trigger: service.trigger,
    get refreshSeconds() {
      const millis = service.manifest().serve.pageRefreshMillis;
      return millis === undefined ? undefined : Math.round(millis / 1000);
    },
  };
}

/** A "sync now" form body is one short field; anything larger is refused (413). */
export const MAX_FORM_BYTES = 4096;

/** What a trigger's answer tells the person who pressed "sync now". */
const TRIGGER_NOTICES: Readonly<Record<string, { kind: 'ok' | 'error'; text: string }>> = {
  started: { kind: 'ok', text: 'Sync started: the run appears below when it ends.' },
  queued: { kind: 'ok', text: 'A run is in progress: another starts right after it.' },
  stopped: { kind: 'error', text: 'The service is stopping: no run was started.' },
  unknown: { kind: 'error', text: 'The service does not schedule this mirror (any more): no run was started.' },
};

/**
 * Answers the request when it is the page's and resolves true; resolves false for everything
 * else (server.ts's JSON endpoints answer it).
 */
export async function routePage(req: IncomingMessage, res: ServerResponse, page: PageSource): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://serve');
  const method = req.method ?? 'GET';
  const options = (notice: PageOptions['notice'] = null): PageOptions => ({
    now: page.now?.() ?? new Date(),
    syncEnabled: page.token() !== null,
    notice,
    ...(page.refreshSeconds === undefined ? {} : { refreshSeconds: page.refreshSeconds }),
  });

  if (url.pathname === '/') {
    if (method !== 'GET' && method !== 'HEAD') refuseMethod(res, 'GET');
    else html(res, 200, renderFleetPage(page.mirrors(), parseSort(url.searchParams), options()));
    return true;
  }

  const syncMatch = /^\/mirrors\/([^/]+)\/sync$/.exec(url.pathname);
  if (syncMatch !== null) {
    if (method !== 'POST') refuseMethod(res, 'POST');
    else await syncNow(req, res, page, decodeURIComponent(syncMatch[1]!), options());
    return true;
  }

  const mirrorMatch = /^\/mirrors\/([^/]+)$/.exec(url.pathname);
  if (mirrorMatch !== null && (method === 'GET' || method === 'HEAD') && wantsHtml(req, url)) {
    const id = decodeURIComponent(mirrorMatch[1]!);
    const found = page.mirror(id);
    if (found === null) {
      html(res, 404, renderMessagePage('No such mirror', `The manifest has no mirror ${JSON.stringify(id)}.`, options()));
      return true;
    }
    const notice = TRIGGER_NOTICES[url.searchParams.get('triggered') ?? ''] ?? null;
    html(res, 200, renderMirrorPage(found.mirror, found.runs, options(notice)));
    return true;
  }
  return false;
}

/**
 * `POST /mirrors/<id>/sync` with the form field `token`. A browser (it asks for HTML) is sent
 * back to the mirror page (303, the trigger's answer in `?triggered=`) or shown why not; other
 * clients get JSON: 202 `{mirror, result}`, or `{error: {code, message}}`.
 */
async function syncNow(req: IncomingMessage, res: ServerResponse, page: PageSource, id: string, options: PageOptions): Promise<void> {
  const browser = prefersHtml(req.headers.accept);
  const refuse = (status: number, code: string, title: string, message: string): void => {
    if (browser) html(res, status, renderMessagePage(title, message, options), status === 413 ? { connection: 'close' } : {});
    else json(res, status, { error: { code, message } }, status === 413 ? { connection: 'close' } : {});
  };
  if (page.mirror(id) === null) return refuse(404, 'NOT_FOUND', 'No such mirror', `The manifest has no mirror ${JSON.stringify(id)}.`);
  const expected = page.token();
  if (expected === null) {
    req.resume();
    return refuse(403, 'PAGE_READ_ONLY', 'Read-only page', 'No page token is configured (serve.page-token-env), so the page cannot start a run; use a hook, or set a page token and reload.');
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    return refuse(415, 'CONTENT_TYPE', 'Not a form', 'Send the page token as a form field: Content-Type application/x-www-form-urlencoded, body token=...');
  }
  const body = await readForm(req, MAX_FORM_BYTES);
  if (body === null) {
    res.once('finish', () => req.socket.end());
    return refuse(413, 'BODY_TOO_LARGE', 'Too large', `The form is larger than ${MAX_FORM_BYTES} bytes; send only the token field.`);
  }
  const given = new URLSearchParams(body).get('token') ?? '';
  if (!secretsEqual(given, expected)) return refuse(403, 'PAGE_TOKEN', 'Wrong token', 'The page token is missing or wrong: no run was started. Type the token the service was given (serve.page-token-env).');
  const result = page.trigger(id);
  if (!browser && result === 'stopped') return refuse(503, 'STOPPING', 'Stopping', 'The service is stopping: no run was started.');
  if (!browser && result === 'unknown') return refuse(404, 'NOT_FOUND', 'No such mirror', `The service does not schedule ${JSON.stringify(id)} (any more): no run was started.`);
  if (browser) {
    res.writeHead(303, { location: `../${encodeURIComponent(id)}?triggered=${encodeURIComponent(result)}`, 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
  } else json(res, 202, { mirror: id, result });
}

/** The body as text, or null once it passes `limit` bytes (the rest is drained, not kept). */
function readForm(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.once('end', () => resolve(size > limit ? null : Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

/** HTML unless the query says `format=json` or the client prefers JSON (or names no HTML at all). */
function wantsHtml(req: IncomingMessage, url: URL): boolean {
  const format = url.searchParams.get('format');
  if (format === 'json') return false;
  if (format === 'html') return true;
  return prefersHtml(req.headers.accept);
}

/** True when Accept gives text/html a higher quality than application/json (browsers do; `*\/*` alone does not). */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let htmlQuality = 0;
  let jsonQuality = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((piece) => piece.trim().toLowerCase());
    const q = params.find((param) => param.startsWith('q='));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    if (!Number.isFinite(quality)) continue;
    if (type === 'text/html') htmlQuality = Math.max(htmlQuality, quality);
    else if (type === 'application/json') jsonQuality = Math.max(jsonQuality, quality);
  }
  return htmlQuality > 0 && htmlQuality > jsonQuality;
}

function html(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'content-security-policy': PAGE_CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    vary: 'Accept',
    ...headers,
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function refuseMethod(res: ServerResponse, allow: string): void {
  json(res, 405, { error: { code: 'METHOD', message: `use ${allow}` } }, { allow });
}
