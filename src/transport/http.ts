/**
 * Smart HTTP (gitprotocol-http): `GET info/refs?service=...` for the advertisement, then one
 * streaming `POST` per request. Bodies stream both ways with backpressure (the request body is
 * written chunk by chunk, waiting for 'drain'; responses are consumed as async iterables), and
 * every byte is counted into the phase's statistics where it passes.
 *
 * Around each exchange (CONTRACT §7): credentials from `auth/http-authenticator.ts` (a 401 to an
 * anonymous request asks the credential provider once, then the request is sent again when its
 * body can be replayed), redirects of `info/refs` followed (`Authorization` only ever goes to the
 * origin it belongs to), proxies from the environment (`proxy-env.ts`, `http-proxy-agent.ts`),
 * and one trace event per request and per response (`observe/http-trace.ts`).
 *
 * Built on Node's own `http`/`https` clients rather than undici: measured on a 44 MB relay,
 * undici (its module graph, its WebAssembly HTTP parser and a copy of every body chunk) cost
 * 30-40 MB more peak RSS than `node:http`, which alone breaks the 100 MB budget the relay is held
 * to. `node:http` is part of the runtime, not hand-written code; what this file adds is the
 * timeouts, error classification and counting around it.
 */
import { once } from 'node:events';
import http, { type IncomingMessage, type ClientRequest } from 'node:http';
import https from 'node:https';
import { HttpAuthenticator, type Authorization, type HttpAuth } from '../auth/http-authenticator.js';
import type { CredentialProvider } from '../auth/credential-provider.js';
import {
  AbortedError,
  GitSyncError,
  HttpAuthError,
  HttpContentTypeError,
  HttpStatusError,
  HttpTooLargeError,
  NetworkError,
  ProtocolError,
  TimeoutError,
  type HttpErrorData,
} from '../errors.js';
import { PktLineReader, packetText } from '../wire/pktline.js';
import type { Service } from '../types.js';
import { noteStreamedBytes } from '../observe/gc-pacer.js';
import { httpTraceEnabled, publishHttpTrace } from '../observe/http-trace.js';
import { redactSecrets, redactUrl } from '../observe/redact.js';
import type { Side, StatsRecorder } from '../observe/stats.js';
import { AGENT } from '../version.js';
import { TunnelingAgent, proxiedRequestOptions } from './http-proxy-agent.js';
import { proxyFor, type ProxyEnv } from './proxy-env.js';
import type { ConnectOptions, GitConnection, RequestBody, RequestOptions, Transport } from './transport.js';

export type { HttpAuth } from '../auth/http-authenticator.js';

export interface HttpTimeouts {
  /** TCP + TLS connection establishment (through a proxy: until the tunnel is open). */
  connectMillis: number;
  /** From the request being sent to the response headers. */
  headersMillis: number;
  /** Longest silence between two chunks of a response body. */
  bodyIdleMillis: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  connectMillis: 30_000,
  headersMillis: 300_000,
  bodyIdleMillis: 300_000,
};

/** Advertisements are parsed as they stream, but a server sending without end is cut off. */
export const DEFAULT_MAX_ADVERTISEMENT_BYTES = 512 * 1024 * 1024;

/** Redirects followed for one `info/refs` request (Go's net/http default). */
export const MAX_REDIRECTS = 10;

export interface HttpTransportOptions {
  side: Side;
  /** What to print for this endpoint (already redacted); derived from the URL when absent. */
  displayUrl?: string;
  /** Credentials the user gave (flags, env, the URL): sent to the URL's own origin only. */
  auth?: HttpAuth | null;
  /** A user name given without a password, offered to the credential provider. */
  username?: string | null;
  /** Asked after a 401 when no given credentials apply (`git credential`); null or absent: never. */
  credentialProvider?: CredentialProvider | null;
  insecureSkipTlsVerify?: boolean;
  /**
   * After `info/refs` was redirected, send every later request to where it ended (git's own
   * behaviour). Off: redirects are followed for `info/refs` only, later requests go to the URL
   * as given.
   */
  followInfoRefsRedirect?: boolean;
  /** Where `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` are read (default: this process's environment). */
  proxyEnv?: ProxyEnv;
  timeouts?: Partial<HttpTimeouts>;
  maxAdvertisementBytes?: number;
  stats?: StatsRecorder;
}

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

type Headers = IncomingMessage['headers'];

function headerValue(headers: Headers, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value ?? '';
}

function requestIds(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of REQUEST_ID_HEADERS) {
    const value = headerValue(headers, name);
    if (value !== '') out[name] = value;
  }
  return out;
}

function describeRequestIds(ids: Record<string, string>): string {
  const entries = Object.entries(ids);
  return entries.length === 0 ? '' : ` [${entries.map(([k, v]) => `${k}: ${v}`).join(', ')}]`;
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** The repository path of a smart-HTTP URL (`/org/repo.git/info/refs` -> `/org/repo.git`). */
function repositoryPath(url: URL): string {
  return url.pathname.replace(/\/(?:info\/refs|git-upload-pack|git-receive-pack)$/, '');
}

/** The trace of one exchange: a `request` event now, a `response` event once it is over. */
class ExchangeTrace {
  private readonly started = performance.now();
  private readonly enabled = httpTraceEnabled();
  private over = false;
  requestBytes = 0;

  constructor(
    private readonly side: Side,
    private readonly method: string,
    private readonly url: string,
    proxy: URL | null,
  ) {
    if (this.enabled) publishHttpTrace({ type: 'request', side, method, url, proxy: proxy === null ? null : redactUrl(proxy.toString()) });
  }

  end(outcome: { status: number; headers?: Headers; responseBytes?: number; location?: string | null; error?: unknown }): void {
    if (this.over) return;
    this.over = true;
    if (!this.enabled) return;
    const error = outcome.error === undefined ? null : outcome.error instanceof GitSyncError ? outcome.error.code : 'NETWORK';
    publishHttpTrace({
      type: 'response',
      side: this.side,
      method: this.method,
      url: this.url,
      status: outcome.status,
      requestBytes: this.requestBytes,
      responseBytes: outcome.responseBytes ?? 0,
      durationMillis: performance.now() - this.started,
      requestIds: outcome.headers ? requestIds(outcome.headers) : {},
      location: outcome.location ?? null,
      error,
    });
  }
}

interface Exchange {
  response: IncomingMessage;
  trace: ExchangeTrace;
}

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  readonly displayUrl: string;
  /** Where requests go; moves when an adopted `info/refs` redirect says so. */
  private base: URL;
  /** The origin of the URL as given: the one explicit credentials belong to. */
  private readonly homeOrigin: string;
  private readonly authenticator: HttpAuthenticator;
  private readonly agents = new Map<string, http.Agent>();
  private readonly insecureSkipTlsVerify: boolean;
  private readonly followInfoRefsRedirect: boolean;
  private readonly proxyEnv: ProxyEnv;
  private readonly timeouts: HttpTimeouts;
  private readonly maxAdvertisementBytes: number;
  private readonly stats: StatsRecorder | undefined;
  private readonly side: Side;

  constructor(url: URL, options: HttpTransportOptions) {
    this.base = new URL(url.toString());
    this.base.username = '';
    this.base.password = '';
    this.base.hash = '';
    this.base.pathname = this.base.pathname.replace(/\/+$/, '');
    this.homeOrigin = this.base.origin;
    this.displayUrl = options.displayUrl ?? redactUrl(url.toString());
    this.side = options.side;
    this.insecureSkipTlsVerify = options.insecureSkipTlsVerify ?? false;
    this.followInfoRefsRedirect = options.followInfoRefsRedirect ?? false;
    this.proxyEnv = options.proxyEnv ?? process.env;
    this.timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts };
    this.maxAdvertisementBytes = options.maxAdvertisementBytes ?? DEFAULT_MAX_ADVERTISEMENT_BYTES;
    this.stats = options.stats;
    this.authenticator = new HttpAuthenticator({
      explicit: options.auth ?? null,
      home: this.base,
      username: options.username ?? null,
      provider: options.credentialProvider ?? null,
      insecureSkipTlsVerify: this.insecureSkipTlsVerify,
    });
  }

  async close(): Promise<void> {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  /** The operation succeeded: credentials the provider filled may be stored (`git credential approve`). */
  async approveCredentials(): Promise<void> {
    await this.authenticator.approve();
  }

  private endpoint(suffix: string): URL {
    const url = new URL(this.base.toString());
    const [pathPart, query] = suffix.split('?');
    url.pathname = `${url.pathname}/${pathPart}`;
    if (query !== undefined) url.search = query;
    return url;
  }

  /** One keep-alive pool per scheme and proxy: discovery, fetches and pushes reuse connections. */
  private agent(url: URL, proxy: URL | null): http.Agent {
    const key = `${url.protocol}${proxy === null ? '' : ` via ${proxy.href}`}`;
    let agent = this.agents.get(key);
    if (agent === undefined) {
      const rejectUnauthorized = !this.insecureSkipTlsVerify;
      if (url.protocol !== 'https:') agent = new http.Agent({ keepAlive: true });
      else if (proxy === null) agent = new https.Agent({ keepAlive: true, rejectUnauthorized });
      else agent = new TunnelingAgent(proxy, { keepAlive: true, rejectUnauthorized, connectTimeoutMillis: this.timeouts.connectMillis });
      this.agents.set(key, agent);
    }
    return agent;
  }

  private secrets(): string[] {
    return this.authenticator.secrets();
  }

  private headers(protocol: ConnectOptions['protocol'] | null, extra: Record<string, string>, authorization: Authorization | null): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': AGENT, ...extra };
    if (protocol === 'v2') headers['git-protocol'] = 'version=2';
    if (authorization !== null) headers.authorization = authorization.header;
    return headers;
  }

  async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
    const requested = this.endpoint(`info/refs?service=${service}`);
    const { response, url, trace } = await this.send('GET', requested, null, options.protocol, {}, options.phase, options.signal, true);
    this.expectContentType(response, url, trace, `application/x-${service}-advertisement`);
    if (this.followInfoRefsRedirect) this.adoptRedirect(requested, { response, trace, url });
    const body = this.countedBody(response, trace, options.phase, url, this.maxAdvertisementBytes, options.signal);
    const protocol = options.protocol;
    const advertisement = new PktLineReader(body);
    await skipServiceHeader(advertisement, service);
    return {
      advertisement,
      stateless: true,
      request: (requestBody: RequestBody, requestOptions: RequestOptions) => this.post(service, protocol, requestBody, requestOptions),
      // Each request is its own HTTP exchange: nothing stays open between them.
      close: async () => undefined,
    };
  }

  /** Later requests go where `info/refs` was redirected to, as git does (`http.followRedirects`). */
  private adoptRedirect(requested: URL, { response, trace, url: final }: Exchange & { url: URL }): void {
    if (final.href === requested.href) return;
    const suffix = '/info/refs';
    if (!final.pathname.endsWith(suffix)) {
      const error = new ProtocolError(
        `${redactUrl(requested.toString())} was redirected to ${redactUrl(final.toString())}, which is not an info/refs URL, so later requests cannot follow it: use the final repository URL instead of --${this.side}-follow-info-refs-redirect`,
      );
      response.destroy();
      trace.end({ status: response.statusCode ?? 0, headers: response.headers, error });
      throw error;
    }
    const base = new URL(final.toString());
    base.pathname = final.pathname.slice(0, -suffix.length);
    base.search = '';
    this.base = base;
  }

  private async post(service: Service, protocol: ConnectOptions['protocol'], body: RequestBody, options: RequestOptions): Promise<PktLineReader> {
    const headers = {
      'content-type': `application/x-${service}-request`,
      accept: `application/x-${service}-result`,
    };
    const { response, url, trace } = await this.send('POST', this.endpoint(service), body, protocol, headers, options.phase, options.signal, false);
    this.expectContentType(response, url, trace, `application/x-${service}-result`);
    return new PktLineReader(this.countedBody(response, trace, options.phase, url, Number.POSITIVE_INFINITY, options.signal));
  }

  /**
   * One request, with what it takes to get an answer: credentials after a 401 (sent again when
   * the body can be replayed: a streamed push cannot, which is why discovery's `info/refs` is
   * where a host that gates pushes asks for them) and, for `info/refs`, redirects. Resolves with
   * the response below 300, its body left to the caller, and the URL that answered.
   */
  private async send(
    method: 'GET' | 'POST',
    url: URL,
    body: RequestBody | null,
    protocol: ConnectOptions['protocol'] | null,
    extraHeaders: Record<string, string>,
    phaseName: RequestOptions['phase'],
    signal: AbortSignal | undefined,
    followRedirects: boolean,
  ): Promise<Exchange & { url: URL }> {
    const replayable = body === null || Buffer.isBuffer(body);
    let target = url;
    for (let redirects = 0; ; ) {
      const authorization = this.authenticator.authorization(target);
      const exchange = await this.exchange(method, target, body, this.headers(protocol, extraHeaders, authorization), phaseName, signal);
      const { response, trace } = exchange;
      const status = response.statusCode ?? 0;
      if (status === 401 && authorization === null && replayable && (await this.authenticator.fill(target, repositoryPath(target), signal))) {
        this.discard(exchange);
        continue;
      }
      if (isRedirect(status) && followRedirects) {
        const next = this.redirectTarget(exchange, target, redirects);
        this.discard(exchange, next);
        target = next;
        redirects += 1;
        continue;
      }
      if (status >= 300) {
        if (status === 401 || status === 403) await this.authenticator.refused(authorization);
        throw await this.statusError(exchange, target, method, authorization, replayable);
      }
      this.authenticator.succeeded(authorization);
      return { response, trace, url: target };
    }
  }

  /** Drops the body of a response that is not used (a redirect, a 401 about to be answered). */
  private discard({ response, trace }: Exchange, location: URL | null = null): void {
    trace.end({ status: response.statusCode ?? 0, headers: response.headers, location: location === null ? null : redactUrl(location.toString()) });
    response.destroy();
  }

  private redirectTarget({ response, trace }: Exchange, from: URL, redirects: number): URL {
    const data = this.errorData(response.statusCode ?? 0, from, response.headers);
    const where = `GET ${data.url}: HTTP ${data.status} redirect`;
    const fail = (why: string): never => {
      response.destroy();
      trace.end({ status: data.status, headers: response.headers });
      throw new HttpStatusError(data, `${where} ${why}${describeRequestIds(data.requestIds)}`);
    };
    const location = headerValue(response.headers, 'location');
    if (location === '') fail('without a Location header');
    if (redirects >= MAX_REDIRECTS) fail(`after ${MAX_REDIRECTS} redirects already; giving up (a redirect loop?)`);
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      return fail('to an invalid URL');
    }
    // Credentials never come from a Location header; the authenticator decides per origin.
    next.username = '';
    next.password = '';
    next.hash = '';
    if (next.protocol !== 'http:' && next.protocol !== 'https:') fail(`to ${redactUrl(next.toString())}: only http and https are followed`);
    if (from.protocol === 'https:' && next.protocol === 'http:') fail(`to ${redactUrl(next.toString())}: refusing to leave https for plain http`);
    return next;
  }

  /** Sends one request; resolves once the response headers arrive, whatever the status. */
  private async exchange(
    method: 'GET' | 'POST',
    url: URL,
    body: RequestBody | null,
    headers: Record<string, string>,
    phaseName: RequestOptions['phase'],
    signal: AbortSignal | undefined,
  ): Promise<Exchange> {
    const phase = this.stats?.phase(phaseName);
    if (phase) phase.requests += 1;
    const started = performance.now();
    let trace: ExchangeTrace | null = null;
    try {
      const proxy = proxyFor(url, this.proxyEnv);
      trace = new ExchangeTrace(this.side, method, redactUrl(url.toString()), proxy);
      const sent = trace;
      const streamed = body !== null && !Buffer.isBuffer(body);
      if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
      const request =
        proxy !== null && url.protocol === 'http:'
          ? http.request({ ...proxiedRequestOptions(url, proxy, headers), method, agent: this.agent(url, proxy), signal })
          : (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent: this.agent(url, proxy), signal });
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const timers = new RequestTimers(request, this.timeouts, url, this.side);
        request.once('response', (incoming) => {
          timers.clear();
          resolve(incoming);
        });
        request.once('error', (error) => {
          timers.clear();
          // A server that refuses a streamed body (nginx over its client_max_body_size) answers
          // early and closes while the body is still being sent: the write then fails with EPIPE
          // or a reset, and the answer, already received, is parsed just after. Wait for it a
          // moment: the 413 is the truth, the broken pipe only its consequence.
          const code = (error as { code?: unknown }).code;
          if (streamed && (code === 'EPIPE' || code === 'ECONNRESET')) {
            setTimeout(() => reject(error), EARLY_RESPONSE_GRACE_MS).unref();
            return;
          }
          reject(error);
        });
        if (body === null) {
          request.end();
          timers.awaitHeaders();
        } else if (Buffer.isBuffer(body)) {
          if (phase) phase.requestBytes += body.length;
          sent.requestBytes += body.length;
          request.end(body);
          timers.awaitHeaders();
        } else {
          const counted = countRequestBody(body, (bytes) => {
            if (phase) phase.requestBytes += bytes;
            sent.requestBytes += bytes;
          });
          writeStreamed(request, counted).then(
            () => timers.awaitHeaders(),
            (error: unknown) => request.destroy(error instanceof Error ? error : new Error(String(error))),
          );
        }
      });
      return { response, trace };
    } catch (error) {
      const classified = this.classify(error, url, signal);
      trace?.end({ status: 0, error: classified });
      throw classified;
    } finally {
      if (phase) phase.elapsedMillis += performance.now() - started;
    }
  }

  private expectContentType(response: IncomingMessage, url: URL, trace: ExchangeTrace, expected: string): void {
    const contentType = headerValue(response.headers, 'content-type').split(';')[0]!.trim().toLowerCase();
    if (contentType === expected) return;
    response.destroy();
    const data = this.errorData(response.statusCode ?? 0, url, response.headers);
    const hint = url.pathname.endsWith('/info/refs')
      ? 'the server does not speak git smart HTTP here (dumb HTTP is not supported); check the repository URL'
      : 'the server answered a git request with something else; check the repository URL and any proxy in between';
    const error = new HttpContentTypeError(
      data,
      contentType,
      `${data.url}: expected content type ${expected}, got ${JSON.stringify(contentType || 'none')}: ${hint}${describeRequestIds(data.requestIds)}`,
    );
    trace.end({ status: data.status, headers: response.headers, error });
    throw error;
  }

  private errorData(status: number, url: URL, headers: Headers): HttpErrorData {
    return { status, url: redactUrl(url.toString()), requestIds: requestIds(headers) };
  }

  private async statusError({ response, trace }: Exchange, url: URL, method: string, authorization: Authorization | null, replayable: boolean): Promise<GitSyncError> {
    const status = response.statusCode ?? 0;
    const data = this.errorData(status, url, response.headers);
    const detail = await readErrorSnippet(response);
    trace.end({ status, headers: response.headers, responseBytes: Buffer.byteLength(detail) });
    const said = detail === '' ? '' : `: ${redactSecrets(detail, this.secrets())}`;
    const ids = describeRequestIds(data.requestIds);
    const where = `${method} ${data.url}`;
    if (status === 401 || status === 403) {
      const what = status === 401 ? 'HTTP 401 Unauthorized' : 'HTTP 403 Forbidden';
      return new HttpAuthError(data, `${where}: ${what}; ${this.authHint(status, url, authorization, replayable)}${said}${ids}`);
    }
    if (status === 407) {
      return new HttpAuthError(data, `${where}: HTTP 407 Proxy Authentication Required; the proxy wants credentials: put them in the proxy URL (HTTP_PROXY=http://user:password@proxy:port)${ids}`);
    }
    if (status === 404) {
      return new HttpStatusError(data, `${where}: HTTP 404 Not Found; check that the ${this.side} repository exists and the URL is right${said}${ids}`);
    }
    if (status === 413) {
      return new HttpStatusError(data, `${where}: HTTP 413 Payload Too Large; the ${this.side} refused the request body${said}${ids}`);
    }
    if (isRedirect(status)) {
      const location = headerValue(response.headers, 'location');
      let to = '';
      try {
        to = location === '' ? '' : ` to ${redactUrl(new URL(location, url).toString())}`;
      } catch {
        // An unparsable Location adds nothing to the message.
      }
      return new HttpStatusError(data, `${where}: HTTP ${status} redirect${to}; use the final repository URL, or pass --${this.side}-follow-info-refs-redirect to send every request where info/refs leads${ids}`);
    }
    if (status >= 500) {
      return new HttpStatusError(
        data,
        `${where}: HTTP ${status}${said}; the ${this.side} server failed: retry later, and if it persists report it to the host${ids}`,
      );
    }
    return new HttpStatusError(data, `${where}: HTTP ${status}${said}${ids}`);
  }

  /** What to do about a 401/403, given which credentials (if any) the request carried. */
  private authHint(status: number, url: URL, authorization: Authorization | null, replayable: boolean): string {
    const flags = `--${this.side}-token (or GITSYNC_${this.side.toUpperCase()}_TOKEN) or --${this.side}-bearer-token`;
    if (authorization?.source === 'provider') {
      return `the credentials from git's credential helper were refused (and rejected from it): update them there, or pass ${flags}`;
    }
    if (authorization?.source === 'explicit') {
      return status === 401
        ? `the ${this.side} credentials were refused: check ${flags}`
        : `the ${this.side} credentials lack access to this repository: check ${flags} and its permissions`;
    }
    const redirected = url.origin === this.homeOrigin ? '' : this.authenticator.hasExplicit
      ? ` (the credentials given for ${this.displayUrl} are not sent to ${url.origin}, where it redirected)`
      : this.insecureSkipTlsVerify ? ` (with TLS verification off, git's credential helper is not asked for ${url.origin}, where it redirected)` : '';
    const late = replayable ? '' : '; the server asked only once the streamed request had started, and it cannot be replayed';
    return `credentials are required${redirected}: pass ${flags}, or set up a git credential helper${late}`;
  }

  private classify(error: unknown, url: URL, signal: AbortSignal | undefined): GitSyncError {
    if (error instanceof GitSyncError) return error;
    const where = redactUrl(url.toString());
    if (signal?.aborted) {
      const reason: unknown = signal.reason;
      return reason instanceof GitSyncError ? reason : new AbortedError(`request to ${where} aborted`, { cause: error });
    }
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    const hint =
      code !== undefined && TLS_VERIFY_ERRORS.has(code)
        ? `; the ${this.side}'s TLS certificate could not be verified: trust its CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, or pass --${this.side}-insecure-skip-tls-verify`
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `; the ${this.side} host name does not resolve: check the URL${code === 'EAI_AGAIN' ? ' and your DNS' : ''}`
          : code === 'ECONNREFUSED'
            ? `; nothing accepts connections there: check the URL's host and port, and that the server is up`
            : code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
              ? `; the connection to the ${this.side} failed: check the network (and any proxy) and retry`
              : '';
    return new NetworkError(where, `${where}: ${code && !message.includes(code) ? `${code} ` : ''}${redactSecrets(message, this.secrets())}${hint}`, { cause: error });
  }

  /** The response body as counted chunks; errors are classified, the limit enforced. */
  private countedBody(
    response: IncomingMessage,
    trace: ExchangeTrace,
    phaseName: RequestOptions['phase'],
    url: URL,
    limit: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Buffer> {
    const phase = this.stats?.phase(phaseName);
    const transport = this;
    const idle = this.timeouts.bodyIdleMillis;
    response.setTimeout(idle, () => {
      response.destroy(new TimeoutError(redactUrl(url.toString()), `${redactUrl(url.toString())}: no data for ${idle} ms; the ${this.side} server stopped sending`));
    });
    let total = 0;
    // A body its reader leaves unfinished still gets its trace line, once the connection lets go.
    response.once('close', () => trace.end({ status: response.statusCode ?? 0, headers: response.headers, responseBytes: total }));
    return (async function* body(): AsyncGenerator<Buffer> {
      let failure: unknown;
      const started = performance.now();
      try {
        for await (const chunk of response) {
          const buffer = chunk as Buffer;
          total += buffer.length;
          noteStreamedBytes(buffer.length);
          if (phase) phase.responseBytes += buffer.length;
          if (total > limit) {
            throw new HttpTooLargeError(
              transport.errorData(response.statusCode ?? 0, url, response.headers),
              `${redactUrl(url.toString())}: response exceeds ${limit} bytes; refusing to read further`,
            );
          }
          yield buffer;
        }
        // A connection cut mid-body ends the stream without an error on some Node versions.
        if (!response.complete) throw new NetworkError(redactUrl(url.toString()), `${redactUrl(url.toString())}: the connection closed before the response was complete`);
      } catch (error) {
        failure = transport.classify(error, url, signal);
        throw failure;
      } finally {
        if (phase) phase.elapsedMillis += performance.now() - started;
        // A complete response is drained so that its connection goes back to the pool; a partial one is cut.
        if (!response.destroyed) {
          if (response.complete) response.resume();
          else response.destroy();
        }
        trace.end({ status: response.statusCode ?? 0, headers: response.headers, responseBytes: total, error: failure });
      }
    })();
  }
}

/** Connect and header timeouts of one request (body idle time is watched on the response). */
class RequestTimers {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly request: ClientRequest,
    private readonly timeouts: HttpTimeouts,
    private readonly url: URL,
    private readonly side: Side,
  ) {
    request.once('socket', (socket) => {
      if (!socket.connecting) return;
      this.start(timeouts.connectMillis, 'connecting');
      socket.once('connect', () => this.clear());
    });
  }

  private start(millis: number, what: string): void {
    this.clear();
    this.timer = setTimeout(() => {
      const where = redactUrl(this.url.toString());
      this.request.destroy(new TimeoutError(where, `${where}: timed out after ${millis} ms ${what}; the ${this.side} server is not answering`));
    }, millis);
    this.timer.unref();
  }

  /** The request is sent: the response headers must come within the header timeout. */
  awaitHeaders(): void {
    this.start(this.timeouts.headersMillis, 'waiting for response headers');
  }

  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Writes a streamed body with backpressure; stops quietly once the request is gone. */
/** Bytes a streamed request body may queue in the socket before the writer waits for 'drain'. */
const WRITE_WINDOW = 1024 * 1024;

/**
 * Smart HTTP v0/v1 advertisements start with `# service=<service>` and a flush
 * (gitprotocol-http, "Smart Clients"); v2 bodies from git http-backend do not. Removes the header
 * when there is one, so the advertisement reads as on any other transport; a header naming
 * another service is an error.
 */
export async function skipServiceHeader(reader: PktLineReader, service: Service): Promise<void> {
  const packet = await reader.readRequired('the ref advertisement');
  const text = packetText(packet);
  if (packet.type !== 'data' || !text.startsWith('# service=')) {
    reader.unread(packet);
    return;
  }
  if (text !== `# service=${service}`) throw new ProtocolError(`server announced ${JSON.stringify(text)} but ${service} was requested`);
  const next = await reader.readRequired('the ref advertisement');
  if (next.type !== 'flush') reader.unread(next);
}

/** How long a request whose body could not be sent waits for the server's early answer. */
const EARLY_RESPONSE_GRACE_MS = 1000;

async function writeStreamed(request: ClientRequest, body: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of body) {
    if (request.destroyed) return;
    // Keep up to WRITE_WINDOW queued before waiting: the default 16 KiB high-water mark stalls a
    // fast relay on every few chunks, while the window still bounds memory.
    if (!request.write(chunk) && request.writableLength > WRITE_WINDOW) {
      // Whichever event loses the race must stop listening, or a long push piles up listeners.
      const settled = new AbortController();
      try {
        await Promise.race([once(request, 'drain', { signal: settled.signal }), once(request, 'close', { signal: settled.signal })]);
      } finally {
        settled.abort();
      }
    }
  }
  if (!request.destroyed) request.end();
}

async function* countRequestBody(body: AsyncIterable<Uint8Array>, count: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    const buffer = toBuffer(chunk);
    count(buffer.length);
    yield buffer;
  }
}

/** The first few hundred bytes of an error body, as one line of text (servers explain there). */
async function readErrorSnippet(response: IncomingMessage): Promise<string> {
  const limit = 512;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response) {
      const buffer = chunk as Buffer;
      chunks.push(buffer);
      size += buffer.length;
      if (size >= limit) break;
    }
  } catch {
    // The status already says what failed; a broken error body adds nothing.
  } finally {
    response.destroy();
  }
  const contentType = headerValue(response.headers, 'content-type');
  if (/html/i.test(contentType)) return '';
  return Buffer.concat(chunks)
    .subarray(0, limit)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim();
}
