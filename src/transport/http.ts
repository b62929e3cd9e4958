/**
 * Smart HTTP (gitprotocol-http): `GET info/refs?service=...` for the advertisement (its
 * `# service=` header removed here, so it reads as on any other transport), then one streaming
 * `POST` per request. Around each exchange two policies (docs/usage.md, "Authentication,
 * redirects, proxies, TLS and tracing"): credentials from `auth/http-authenticator.ts` (a 401 to
 * an anonymous request asks the credential provider once, then the request is sent again when
 * its body can be replayed), and redirects of `info/refs` followed (`Authorization` only ever
 * goes to the origin it belongs to).
 *
 * The exchange itself (sockets, streaming, timeouts, counting, tracing) is `http-client.ts`'s;
 * what a status or a failed connection means is `http-diagnosis.ts`'s.
 */
import { HttpAuthenticator, type Authorization, type HttpAuth } from '../auth/http-authenticator.js';
import type { CredentialProvider } from '../auth/credential-provider.js';
import { GitSyncError, HttpStatusError, ProtocolError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';
import type { Side } from '../observe/stats.js';
import type { RunObserver } from '../observe/observer.js';
import type { Service } from '../types.js';
import { AGENT } from '../version.js';
import { PktLineReader, packetText } from '../wire/pktline.js';
import type { ConnectionPool } from './connection-pool.js';
import { Speculation } from './speculation.js';
import { DEFAULT_HTTP_TIMEOUTS, HttpClient, readErrorSnippet, type BodyLimit, type Exchange, type HttpTimeouts } from './http-client.js';
import { contentTypeError, describeRequestIds, headerValue, isRedirect, requestIds, statusError, type AuthContext } from './http-diagnosis.js';
import type { ProxyEnv } from './proxy-env.js';
import { DEFAULT_MAX_REF_LISTING_BYTES, isListingPhase, refListingTooLarge, type ConnectOptions, type GitConnection, type RequestBody, type RequestOptions, type Transport } from './transport.js';

export type { HttpAuth } from '../auth/http-authenticator.js';
export { DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from './http-client.js';

/** A speculative request answered in a way that says nothing about the request it stands for. */
class SpeculationVoid extends Error {}

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
  /** The most bytes one ref listing (the advertisement, an `ls-refs` answer) may take; default DEFAULT_MAX_REF_LISTING_BYTES. */
  maxRefListingBytes?: number;
  /** Where the bytes this transport moves are counted. */
  observer?: RunObserver;
  /** Keep-alive connections shared with other runs (connection-pool.ts); absent: this transport's own. */
  connectionPool?: ConnectionPool | null;
}

/** One request of this transport, everything but where it goes (the policies decide that). */
interface HttpRequest {
  method: 'GET' | 'POST';
  body: RequestBody | null;
  protocol: ConnectOptions['protocol'] | null;
  headers: Record<string, string>;
  phase: RequestOptions['phase'];
  signal: AbortSignal | undefined;
}

/** An answer, the URL that gave it, and the credentials that went with the request. */
interface Answer extends Exchange {
  url: URL;
  authorization: Authorization | null;
}

/** A speculated request, kept or dropped by `decide` once the advertisement's GET is over. */
interface PendingGuess {
  request: Speculation;
  /** `key`: where and how a request would go now (speculationKey), or null when the GET failed. */
  decide(key: string | null): void;
}

/** Sends the request to a URL; a policy wraps one Send in another. */
type Send = (url: URL) => Promise<Answer>;

/** The repository path of a smart-HTTP URL (`/org/repo.git/info/refs` -> `/org/repo.git`). */
function repositoryPath(url: URL): string {
  return url.pathname.replace(/\/(?:info\/refs|git-upload-pack|git-receive-pack)$/, '');
}

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  readonly displayUrl: string;
  /** Where requests go; moves when an adopted `info/refs` redirect says so. */
  private base: URL;
  /** The origin of the URL as given: the one explicit credentials belong to. */
  private readonly homeOrigin: string;
  private readonly authenticator: HttpAuthenticator;
  private readonly client: HttpClient;
  private readonly insecureSkipTlsVerify: boolean;
  private readonly followInfoRefsRedirect: boolean;
  private readonly maxRefListingBytes: number;
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
    this.maxRefListingBytes = options.maxRefListingBytes ?? DEFAULT_MAX_REF_LISTING_BYTES;
    this.authenticator = new HttpAuthenticator({
      explicit: options.auth ?? null,
      home: this.base,
      username: options.username ?? null,
      provider: options.credentialProvider ?? null,
      insecureSkipTlsVerify: this.insecureSkipTlsVerify,
    });
    this.client = new HttpClient({
      side: this.side,
      insecureSkipTlsVerify: this.insecureSkipTlsVerify,
      proxyEnv: options.proxyEnv ?? process.env,
      timeouts: { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts },
      observer: options.observer,
      secrets: () => this.authenticator.secrets(),
      pool: options.connectionPool ?? null,
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** The operation succeeded: credentials the provider filled may be stored (`git credential approve`). */
  async approveCredentials(): Promise<void> {
    await this.authenticator.approve();
  }

  /**
   * The URL of `info/refs` or a service under the repository. The repository URL's own query
   * string goes with every request (some hosts route or authenticate by it: docs/security.md,
   * "git's own protocol rules"); `info/refs` adds `service=` to it. The query is extended as
   * text, not through `searchParams`, which would re-encode what the host wrote.
   */
  private endpoint(pathPart: string, service?: Service): URL {
    const url = new URL(this.base.toString());
    url.pathname = `${url.pathname}/${pathPart}`;
    if (service !== undefined) url.search = url.search === '' ? `service=${service}` : `${url.search.slice(1)}&service=${service}`;
    return url;
  }

  private headers(protocol: ConnectOptions['protocol'] | null, extra: Record<string, string>, authorization: Authorization | null): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': AGENT, ...extra };
    if (protocol === 'v2') headers['git-protocol'] = 'version=2';
    if (authorization !== null) headers.authorization = authorization.header;
    return headers;
  }

  async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
    const requested = this.endpoint('info/refs', service);
    const request: HttpRequest = { method: 'GET', body: null, protocol: options.protocol, headers: {}, phase: options.phase, signal: options.signal };
    // The GET goes out first (its trace line comes first), the guessed request right behind it.
    const asked = this.send(request, requested, true);
    asked.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
    const speculation = this.speculate(service, options);
    try {
      const answer = await asked;
      const { url } = answer;
      this.expectContentType(answer, `application/x-${service}-advertisement`);
      if (this.followInfoRefsRedirect) this.adoptRedirect(requested, answer);
      // Void unless the request would go now as the guess went: to the same URL, with the same
      // credentials (a 401 to the advertisement had the credential provider fill some).
      speculation?.decide(this.speculationKey(service));
      const body = this.client.countedBody(answer, options.phase, url, this.listingLimit(options.phase), options.signal);
      const protocol = options.protocol;
      const advertisement = new PktLineReader(body, { onPacket: () => answer.activity.touch() });
      await skipServiceHeader(advertisement, service);
      return {
        advertisement,
        stateless: true,
        ...(speculation === null ? {} : { speculated: speculation.request }),
        request: (requestBody: RequestBody, requestOptions: RequestOptions) => this.post(service, protocol, requestBody, requestOptions),
        // Each request is its own HTTP exchange: nothing stays open between them.
        close: async () => undefined,
      };
    } catch (error) {
      speculation?.decide(null);
      throw error;
    }
  }

  /**
   * Sends `speculate` now, in parallel with `GET info/refs` (docs/architecture.md, "One round trip
   * for a listing"), except where later requests follow the advertisement's redirect (their URL
   * is not known yet). Once the GET is answered, `decide` keeps the guess if a request sent now
   * would go as it went (same URL, same credentials), else drops it. A 401 to it waits for that
   * decision before the credential policy acts on it: the GET's own 401 is what asks for
   * credentials, and a guess that went without the ones it brought is void, not refused.
   */
  private speculate(service: Service, options: ConnectOptions): PendingGuess | null {
    if (options.speculate === undefined || this.followInfoRefsRedirect) return null;
    const { body, phase } = options.speculate;
    const sentAs = this.speculationKey(service);
    let decided!: (keep: boolean) => void;
    const verdict = new Promise<boolean>((resolve) => (decided = resolve));
    const request = new Speculation(async (signal) => {
      try {
        return await this.post(service, options.protocol, body, { phase, signal }, () => verdict);
      } catch (error) {
        if (error instanceof SpeculationVoid) return null;
        throw error;
      }
    }, options.signal);
    return {
      request,
      decide: (key) => {
        const keep = key === sentAs;
        decided(keep);
        if (!keep) request.drop();
      },
    };
  }

  /** Where a POST to `service` goes now, and with which credentials. */
  private speculationKey(service: Service): string {
    const url = this.endpoint(service);
    return `${url.href} ${this.authenticator.authorization(url)?.header ?? ''}`;
  }

  /** Later requests go where `info/refs` was redirected to, as git does (`http.followRedirects`). */
  private adoptRedirect(requested: URL, { response, trace, url: final }: Exchange & { url: URL }): void {
    if (final.href === requested.href) return;
    const suffix = '/info/refs';
    if (!final.pathname.endsWith(suffix)) {
      const error = new ProtocolError(
        `${redactUrl(requested.toString())} was redirected to ${redactUrl(final.toString())}, which is not an info/refs URL, so later requests cannot follow it: use the final repository URL instead of following the redirect`,
      );
      response.destroy();
      trace.end({ status: response.statusCode ?? 0, headers: response.headers, error });
      throw error;
    }
    const base = new URL(final.toString());
    base.pathname = final.pathname.slice(0, -suffix.length);
    base.search = base.search.slice(1).split('&').filter((pair) => pair !== '' && !pair.startsWith('service=')).join('&');
    this.base = base;
  }

  private async post(service: Service, protocol: ConnectOptions['protocol'], body: RequestBody, options: RequestOptions, kept?: () => Promise<boolean>): Promise<PktLineReader> {
    const headers = {
      'content-type': `application/x-${service}-request`,
      accept: `application/x-${service}-result`,
    };
    const request: HttpRequest = { method: 'POST', body, protocol, headers, phase: options.phase, signal: options.signal };
    const answer = await this.send(request, this.endpoint(service), false, kept);
    this.expectContentType(answer, `application/x-${service}-result`);
    // The server's progress is a whole packet, not a byte (IdleClock).
    return new PktLineReader(this.client.countedBody(answer, options.phase, answer.url, this.listingLimit(options.phase), options.signal), {
      onPacket: () => answer.activity.touch(),
    });
  }

  /** A ref listing's body is bounded (RESPONSE_TOO_LARGE); a pack or a push report is read by what parses it. */
  private listingLimit(phase: RequestOptions['phase']): BodyLimit | null {
    if (!isListingPhase(phase)) return null;
    const bytes = this.maxRefListingBytes;
    return { bytes, error: (where) => refListingTooLarge(where, this.side, bytes) };
  }

  /**
   * One request, with what it takes to get an answer: the exchange itself wrapped in the
   * credential policy and, for `info/refs`, the redirect policy. Resolves with the response below
   * 300, its body left to the caller, and the URL that answered; anything else is a typed error.
   * A speculated request (`kept` given) answered 401 without credentials waits for its guess to
   * be kept before the credential policy acts, and throws SpeculationVoid when it is not.
   */
  private async send(request: HttpRequest, url: URL, followRedirects: boolean, kept?: () => Promise<boolean>): Promise<Answer> {
    const replayable = request.body === null || Buffer.isBuffer(request.body);
    const once: Send = async (target) => {
      const authorization = this.authenticator.authorization(target);
      const headers = this.headers(request.protocol, request.headers, authorization);
      const exchange = await this.client.exchange(request.method, target, request.body, headers, request.phase, request.signal);
      return { ...exchange, url: target, authorization };
    };
    const withCredentials = this.credentialPolicy(once, replayable, request.signal, kept);
    const answer = await (followRedirects ? this.redirectPolicy(withCredentials) : withCredentials)(url);
    const status = answer.response.statusCode ?? 0;
    if (status >= 300) {
      if (status === 401 || status === 403) await this.authenticator.refused(answer.authorization);
      throw await this.statusError(answer, answer.url, request.method, answer.authorization, replayable);
    }
    this.authenticator.succeeded(answer.authorization);
    return answer;
  }

  /**
   * Credentials: a 401 to an anonymous request asks the credential provider once, and the request
   * goes again with what it filled, when its body can be replayed (a streamed push cannot, which
   * is why discovery's `info/refs` is where a host that gates pushes asks for them). A speculated
   * request acts on its 401 only once its guess is `kept`; a guess not kept is void.
   */
  private credentialPolicy(next: Send, replayable: boolean, signal: AbortSignal | undefined, kept?: () => Promise<boolean>): Send {
    return async (url) => {
      const answer = await next(url);
      if (answer.response.statusCode !== 401 || answer.authorization !== null || !replayable) return answer;
      if (kept !== undefined && !(await kept())) {
        this.client.discard(answer);
        throw new SpeculationVoid();
      }
      if (!(await this.authenticator.fill(url, repositoryPath(url), signal))) return answer;
      this.client.discard(answer);
      return next(url);
    };
  }

  /** Redirects (`info/refs` only): each hop is a request of its own, credentials decided per origin. */
  private redirectPolicy(next: Send): Send {
    return async (url) => {
      let target = url;
      for (let redirects = 0; ; redirects++) {
        const answer = await next(target);
        if (!isRedirect(answer.response.statusCode ?? 0)) return answer;
        const following = this.redirectTarget(answer, target, redirects);
        this.client.discard(answer, redactUrl(following.toString()));
        target = following;
      }
    };
  }

  private redirectTarget({ response, trace }: Exchange, from: URL, redirects: number): URL {
    const data = { status: response.statusCode ?? 0, url: redactUrl(from.toString()), requestIds: requestIds(response.headers) };
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

  private expectContentType({ response, url, trace }: Answer, expected: string): void {
    const contentType = headerValue(response.headers, 'content-type').split(';')[0]!.trim().toLowerCase();
    if (contentType === expected) return;
    response.destroy();
    const error = contentTypeError({
      status: response.statusCode ?? 0,
      url: redactUrl(url.toString()),
      headers: response.headers,
      contentType,
      expected,
      advertisement: url.pathname.endsWith('/info/refs'),
    });
    error.side = this.side;
    trace.end({ status: error.status, headers: response.headers, error });
    throw error;
  }

  /** The typed error for an answer at or over 300 (its trace line ends here). */
  private async statusError({ response, trace }: Exchange, url: URL, method: string, authorization: Authorization | null, replayable: boolean): Promise<GitSyncError> {
    const status = response.statusCode ?? 0;
    const snippet = await readErrorSnippet(response);
    trace.end({ status, headers: response.headers, responseBytes: Buffer.byteLength(snippet) });
    let location: string | null = null;
    const raw = headerValue(response.headers, 'location');
    try {
      location = raw === '' ? null : redactUrl(new URL(raw, url).toString());
    } catch {
      location = null; // an unparsable Location adds nothing to the message
    }
    return statusError({
      status,
      method,
      url: redactUrl(url.toString()),
      headers: response.headers,
      snippet,
      side: this.side,
      auth: this.authContext(url, authorization, replayable),
      location,
      secrets: this.authenticator.secrets(),
    });
  }

  /** What bears on a 401 or 403: which credentials went out, and why none went elsewhere. */
  private authContext(url: URL, authorization: Authorization | null, replayable: boolean): AuthContext {
    const away = url.origin !== this.homeOrigin;
    const why = this.authenticator.hasExplicit ? 'explicit-stay-home' : this.insecureSkipTlsVerify ? 'helper-off-without-tls' : null;
    return {
      sent: authorization === null ? null : authorization.source === 'provider' ? 'provider' : 'explicit',
      replayable,
      redirectedTo: away && why !== null ? { origin: url.origin, why } : null,
      home: this.displayUrl,
    };
  }
}

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

