/**
 * What an HTTP answer or a failed connection means, as a typed error: pure functions of the
 * status, headers and the first bytes of the body (or of the socket error), testable without a
 * socket. Messages state facts and what to do in words; a next step that is a command-line flag
 * travels as `advice` data, which the CLI words with its flag names (cli/advice.ts).
 */
import {
  abortError,
  GitSyncError,
  HttpAuthError,
  HttpContentTypeError,
  HttpStatusError,
  NetworkError,
  onSide,
  type Advice,
  type HttpErrorData,
} from '../errors.js';
import { redactSecrets } from '../observe/redact.js';
import type { Side } from '../observe/stats.js';

export type Headers = Record<string, string | string[] | undefined>;

/** Response headers servers use to identify a request in their logs. */
const REQUEST_ID_HEADERS = [
  'x-request-id',
  'x-github-request-id',
  'x-gitlab-meta',
  'cf-ray',
  'x-amz-cf-id',
  'x-amzn-requestid',
  'x-correlation-id',
  'x-trace-id',
  'x-served-by',
];

/** Node's codes for a certificate that could not be verified. */
const TLS_VERIFY_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function headerValue(headers: Headers, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value ?? '';
}

export function requestIds(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of REQUEST_ID_HEADERS) {
    const value = headerValue(headers, name);
    if (value !== '') out[name] = value;
  }
  return out;
}

export function describeRequestIds(ids: Record<string, string>): string {
  const entries = Object.entries(ids);
  return entries.length === 0 ? '' : ` [${entries.map(([k, v]) => `${k}: ${v}`).join(', ')}]`;
}

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Which credentials a refused request carried, and what else bears on the next step. */
export interface AuthContext {
  /** `explicit`: flags, environment or the URL; `provider`: git's credential helper; null: none. */
  sent: 'explicit' | 'provider' | null;
  /** Could the request be sent again with credentials (not a streamed body)? */
  replayable: boolean;
  /** Set when the request went to another origin than the repository's (a redirect): why no credentials were sent there. */
  redirectedTo: { origin: string; why: 'explicit-stay-home' | 'helper-off-without-tls' } | null;
  /** The repository as the user named it (redacted). */
  home: string;
}

export interface StatusInput {
  status: number;
  method: string;
  /** Redacted URL of the request. */
  url: string;
  headers: Headers;
  /** The first bytes of the body as one line (empty for HTML pages). */
  snippet: string;
  side: Side;
  auth: AuthContext;
  /** Where a redirect points, resolved and redacted. */
  location: string | null;
  /** Strings never to show. */
  secrets: readonly string[];
}

function errorData(input: Pick<StatusInput, 'status' | 'url' | 'headers'>): HttpErrorData {
  return { status: input.status, url: input.url, requestIds: requestIds(input.headers) };
}

/** What to say about a 401 or 403, and the flag-shaped next step as advice. */
function authProblem(status: number, side: Side, auth: AuthContext): { said: string; advice: Advice } {
  if (auth.sent === 'provider') {
    return { said: "the credentials from git's credential helper were refused (and rejected from it): update them there", advice: { kind: 'credentials', side, situation: 'helper-refused' } };
  }
  if (auth.sent === 'explicit') {
    return status === 401
      ? { said: `the ${side} credentials were refused`, advice: { kind: 'credentials', side, situation: 'refused' } }
      : { said: `the ${side} credentials lack access to this repository: check its permissions`, advice: { kind: 'credentials', side, situation: 'forbidden' } };
  }
  const redirected =
    auth.redirectedTo === null
      ? ''
      : auth.redirectedTo.why === 'explicit-stay-home'
        ? ` (the credentials given for ${auth.home} are not sent to ${auth.redirectedTo.origin}, where it redirected)`
        : ` (with TLS verification off, git's credential helper is not asked for ${auth.redirectedTo.origin}, where it redirected)`;
  const late = auth.replayable ? '' : '; the server asked only once the streamed request had started, and it cannot be replayed';
  return { said: `credentials are required${redirected}: set up a git credential helper or give credentials${late}`, advice: { kind: 'credentials', side, situation: 'missing' } };
}

/** The typed error for an HTTP answer git-sync cannot go on from, with the side named. */
export function statusError(input: StatusInput): GitSyncError {
  const error = diagnoseStatus(input);
  error.side = input.side;
  if (error instanceof HttpStatusError) error.retryAfterMillis = retryAfterMillis(headerValue(input.headers, 'retry-after'), Date.now());
  return error;
}

/**
 * `Retry-After` as milliseconds from `now`: delay-seconds or an HTTP date (RFC 9110, 10.2.3);
 * null when absent or unreadable. A date in the past is 0.
 */
export function retryAfterMillis(value: string, now: number): number | null {
  const text = value.trim();
  if (text === '') return null;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function diagnoseStatus(input: StatusInput): GitSyncError {
  const { status, side } = input;
  const data = errorData(input);
  const said = input.snippet === '' ? '' : `: ${redactSecrets(input.snippet, input.secrets)}`;
  const ids = describeRequestIds(data.requestIds);
  const where = `${input.method} ${data.url}`;
  if (status === 401 || status === 403) {
    const what = status === 401 ? 'HTTP 401 Unauthorized' : 'HTTP 403 Forbidden';
    const problem = authProblem(status, side, input.auth);
    return withAdvice(new HttpAuthError(data, `${where}: ${what}; ${problem.said}${said}${ids}`), problem.advice);
  }
  if (status === 407) {
    return new HttpAuthError(data, `${where}: HTTP 407 Proxy Authentication Required; the proxy wants credentials: put them in the proxy URL (HTTP_PROXY=http://user:password@proxy:port)${ids}`);
  }
  if (status === 404) return new HttpStatusError(data, `${where}: HTTP 404 Not Found; check that the ${side} repository exists and the URL is right${said}${ids}`);
  if (status === 413) return new HttpStatusError(data, `${where}: HTTP 413 Payload Too Large; the ${side} refused the request body${said}${ids}`);
  if (isRedirect(status)) {
    const to = input.location === null ? '' : ` to ${input.location}`;
    return withAdvice(new HttpStatusError(data, `${where}: HTTP ${status} redirect${to}; use the final repository URL${ids}`), { kind: 'follow-redirect', side });
  }
  if (status >= 500) return new HttpStatusError(data, `${where}: HTTP ${status}${said}; the ${side} server failed: retry later, and if it persists report it to the host${ids}`);
  return new HttpStatusError(data, `${where}: HTTP ${status}${said}${ids}`);
}

/** The error for an answer that is not the smart-HTTP content type expected. */
export function contentTypeError(input: { status: number; url: string; headers: Headers; contentType: string; expected: string; advertisement: boolean }): HttpContentTypeError {
  const data = errorData(input);
  const hint = input.advertisement
    ? 'the server does not speak git smart HTTP here (dumb HTTP is not supported); check the repository URL'
    : 'the server answered a git request with something else; check the repository URL and any proxy in between';
  return new HttpContentTypeError(
    data,
    input.contentType,
    `${data.url}: expected content type ${input.expected}, got ${JSON.stringify(input.contentType || 'none')}: ${hint}${describeRequestIds(data.requestIds)}`,
  );
}

/**
 * A failed connection as a typed error: an abort says so, a certificate that did not verify, a
 * host that does not resolve, a refused or broken connection each get their next step.
 */
export function networkError(error: unknown, where: string, side: Side, signal: AbortSignal | undefined, secrets: readonly string[]): GitSyncError {
  return onSide(classifyNetworkError(error, where, side, signal, secrets), side);
}

function classifyNetworkError(error: unknown, where: string, side: Side, signal: AbortSignal | undefined, secrets: readonly string[]): GitSyncError {
  if (error instanceof GitSyncError) return error;
  if (signal?.aborted) return abortError(signal, `request to ${where}`);
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const text = `${where}: ${code && !message.includes(code) ? `${code} ` : ''}${redactSecrets(message, secrets)}`;
  if (code !== undefined && TLS_VERIFY_ERRORS.has(code)) {
    return withAdvice(
      new NetworkError(where, `${text}; the ${side}'s TLS certificate could not be verified: trust its CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem`, { cause: error }),
      { kind: 'skip-tls-verify', side },
    );
  }
  const hint =
    code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? `; the ${side} host name does not resolve: check the URL${code === 'EAI_AGAIN' ? ' and your DNS' : ''}`
      : code === 'ECONNREFUSED'
        ? `; nothing accepts connections there: check the URL's host and port, and that the server is up`
        : code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
          ? `; the connection to the ${side} failed: check the network (and any proxy) and retry`
          : '';
  return new NetworkError(where, `${text}${hint}`, { cause: error, transient: code === undefined || TRANSIENT_NETWORK_ERRORS.has(code) });
}

/**
 * Failures of a connection that may well not happen again. A host name that does not resolve
 * (ENOTFOUND) or a certificate that does not verify will not get better by trying again; a
 * failure without an errno is a connection cut in some other way ("socket hang up", a body cut
 * short), which is.
 */
const TRANSIENT_NETWORK_ERRORS: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);

function withAdvice<T extends GitSyncError>(error: T, advice: Advice): T {
  error.advice = advice;
  return error;
}
