/**
 * Smart HTTP (gitprotocol-http) over undici: `GET info/refs?service=...` for the advertisement,
 * then one streaming `POST` per request. Bodies stream both ways with backpressure (undici pulls
 * request chunks as the socket drains; responses are consumed as async iterables), and every
 * byte is counted into the phase's statistics where it passes.
 */
import { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import {
  AbortedError,
  GitSyncError,
  HttpAuthError,
  HttpContentTypeError,
  HttpStatusError,
  HttpTooLargeError,
  NetworkError,
  TimeoutError,
  type HttpErrorData,
} from '../errors.js';
import { PktLineReader } from '../protocol/pktline.js';
import type { Service } from '../protocol/advertisement.js';
import { redactSecrets, redactUrl } from '../observe/redact.js';
import type { PhaseStats, Side, StatsRecorder } from '../observe/stats.js';
import { AGENT } from '../version.js';
import type { ConnectOptions, GitConnection, RequestBody, RequestOptions, Transport } from './transport.js';

export type HttpAuth =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly token: string };

export interface HttpTimeouts {
  /** TCP + TLS connection establishment. */
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

export interface HttpTransportOptions {
  side: Side;
  /** What to print for this endpoint (already redacted); derived from the URL when absent. */
  displayUrl?: string;
  auth?: HttpAuth | null;
  insecureSkipTlsVerify?: boolean;
  timeouts?: Partial<HttpTimeouts>;
  maxAdvertisementBytes?: number;
  stats?: StatsRecorder;
  /** Shared connection pool; one is created (and closed with the transport) when absent. */
  dispatcher?: Dispatcher;
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

type Headers = Record<string, string | string[] | undefined>;

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

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  readonly displayUrl: string;
  private readonly base: URL;
  private readonly auth: HttpAuth | null;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly timeouts: HttpTimeouts;
  private readonly maxAdvertisementBytes: number;
  private readonly stats: StatsRecorder | undefined;
  private readonly side: Side;

  constructor(url: URL, options: HttpTransportOptions) {
    this.base = new URL(url.toString());
    this.base.username = '';
    this.base.password = '';
    this.base.pathname = this.base.pathname.replace(/\/+$/, '');
    this.displayUrl = options.displayUrl ?? redactUrl(url.toString());
    this.auth = options.auth ?? null;
    this.side = options.side;
    this.timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts };
    this.maxAdvertisementBytes = options.maxAdvertisementBytes ?? DEFAULT_MAX_ADVERTISEMENT_BYTES;
    this.stats = options.stats;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Agent({
        connect: { rejectUnauthorized: !options.insecureSkipTlsVerify, timeout: this.timeouts.connectMillis },
        connectTimeout: this.timeouts.connectMillis,
        headersTimeout: this.timeouts.headersMillis,
        bodyTimeout: this.timeouts.bodyIdleMillis,
      });
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private endpoint(suffix: string): URL {
    const url = new URL(this.base.toString());
    const [pathPart, query] = suffix.split('?');
    url.pathname = `${url.pathname}/${pathPart}`;
    if (query !== undefined) url.search = query;
    return url;
  }

  private secrets(): string[] {
    if (this.auth === null) return [];
    return this.auth.kind === 'basic' ? [this.auth.password] : [this.auth.token];
  }

  private headers(protocol: ConnectOptions['protocol'] | null, extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': AGENT, ...extra };
    if (protocol === 'v2') headers['git-protocol'] = 'version=2';
    if (this.auth?.kind === 'bearer') headers.authorization = `Bearer ${this.auth.token}`;
    else if (this.auth?.kind === 'basic') {
      headers.authorization = `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
    }
    return headers;
  }

  async connect(service: Service, options: ConnectOptions): Promise<GitConnection> {
    const url = this.endpoint(`info/refs?service=${service}`);
    const response = await this.send('GET', url, null, options.protocol, {}, options.phase, options.signal);
    await this.expectContentType(response, url, `application/x-${service}-advertisement`);
    const body = this.countedBody(response, options.phase, url, this.maxAdvertisementBytes);
    const protocol = options.protocol;
    return {
      advertisement: new PktLineReader(body),
      hasServiceHeader: true,
      request: (requestBody: RequestBody, requestOptions: RequestOptions) => this.post(service, protocol, requestBody, requestOptions),
      // Each request is its own HTTP exchange: nothing stays open between them.
      close: async () => undefined,
    };
  }

  private async post(service: Service, protocol: ConnectOptions['protocol'], body: RequestBody, options: RequestOptions): Promise<PktLineReader> {
    const url = this.endpoint(service);
    const headers = {
      'content-type': `application/x-${service}-request`,
      accept: `application/x-${service}-result`,
    };
    const response = await this.send('POST', url, body, protocol, headers, options.phase, options.signal);
    await this.expectContentType(response, url, `application/x-${service}-result`);
    return new PktLineReader(this.countedBody(response, options.phase, url, Number.POSITIVE_INFINITY));
  }

  private async send(
    method: 'GET' | 'POST',
    url: URL,
    body: RequestBody | null,
    protocol: ConnectOptions['protocol'] | null,
    extraHeaders: Record<string, string>,
    phaseName: RequestOptions['phase'],
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    const phase = this.stats?.phase(phaseName);
    if (phase) phase.requests += 1;
    const started = performance.now();
    const headers = this.headers(protocol, extraHeaders);
    let requestBody: Buffer | Readable | null = null;
    if (Buffer.isBuffer(body)) {
      requestBody = body;
      headers['content-length'] = String(body.length);
      if (phase) phase.requestBytes += body.length;
    } else if (body !== null) {
      // Readable.from pulls from the generator only as undici drains the socket: backpressure.
      requestBody = Readable.from(countRequestBody(body, phase), { objectMode: false });
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        headers,
        body: requestBody,
        dispatcher: this.dispatcher,
        signal,
        headersTimeout: this.timeouts.headersMillis,
        bodyTimeout: this.timeouts.bodyIdleMillis,
      });
    } catch (error) {
      throw this.classify(error, url, signal);
    } finally {
      if (phase) phase.elapsedMillis += performance.now() - started;
    }
    if (response.statusCode >= 300) {
      throw await this.statusError(response, url, method);
    }
    return response;
  }

  private async expectContentType(response: Dispatcher.ResponseData, url: URL, expected: string): Promise<void> {
    const contentType = headerValue(response.headers, 'content-type').split(';')[0]!.trim().toLowerCase();
    if (contentType === expected) return;
    response.body.destroy();
    const data = this.errorData(response.statusCode, url, response.headers);
    const hint = url.pathname.endsWith('/info/refs')
      ? 'the server does not speak git smart HTTP here (dumb HTTP is not supported); check the repository URL'
      : 'the server answered a git request with something else; check the repository URL and any proxy in between';
    throw new HttpContentTypeError(
      data,
      contentType,
      `${data.url}: expected content type ${expected}, got ${JSON.stringify(contentType || 'none')}: ${hint}${describeRequestIds(data.requestIds)}`,
    );
  }

  private errorData(status: number, url: URL, headers: Headers): HttpErrorData {
    return { status, url: redactUrl(url.toString()), requestIds: requestIds(headers) };
  }

  private async statusError(response: Dispatcher.ResponseData, url: URL, method: string): Promise<GitSyncError> {
    const data = this.errorData(response.statusCode, url, response.headers);
    const detail = await readErrorSnippet(response);
    const said = detail === '' ? '' : `: ${redactSecrets(detail, this.secrets())}`;
    const ids = describeRequestIds(data.requestIds);
    const status = response.statusCode;
    const where = `${method} ${data.url}`;
    const flag = `--${this.side}-token (or GITSYNC_${this.side.toUpperCase()}_TOKEN)`;
    if (status === 401) {
      const hint = this.auth === null ? `credentials are required: pass ${flag}` : `the ${this.side} credentials were refused: check ${flag}`;
      return new HttpAuthError(data, `${where}: HTTP 401 Unauthorized; ${hint}${said}${ids}`);
    }
    if (status === 403) {
      return new HttpAuthError(data, `${where}: HTTP 403 Forbidden; the ${this.side} credentials lack access to this repository: check ${flag} and its permissions${said}${ids}`);
    }
    if (status === 404) {
      return new HttpStatusError(data, `${where}: HTTP 404 Not Found; check that the ${this.side} repository exists and the URL is right${said}${ids}`);
    }
    if (status === 413) {
      return new HttpStatusError(data, `${where}: HTTP 413 Payload Too Large; the ${this.side} refused the request body${said}${ids}`);
    }
    if (status >= 300 && status < 400) {
      const location = headerValue(response.headers, 'location');
      const to = location === '' ? '' : ` to ${redactUrl(new URL(location, url).toString())}`;
      return new HttpStatusError(data, `${where}: HTTP ${status} redirect${to}; use the final repository URL${ids}`);
    }
    return new HttpStatusError(data, `${where}: HTTP ${status}${said}${ids}`);
  }

  private classify(error: unknown, url: URL, signal: AbortSignal | undefined): GitSyncError {
    if (error instanceof GitSyncError) return error;
    const where = redactUrl(url.toString());
    if (signal?.aborted) {
      const reason: unknown = signal.reason;
      return reason instanceof GitSyncError ? reason : new AbortedError(`request to ${where} aborted`, { cause: error });
    }
    if (
      error instanceof undiciErrors.ConnectTimeoutError ||
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError
    ) {
      return new TimeoutError(where, `${where}: ${error.message.toLowerCase()}; the ${this.side} server is not answering`, { cause: error });
    }
    const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
    const message = error instanceof Error ? error.message : String(error);
    return new NetworkError(where, `${where}: ${code ? `${code} ` : ''}${redactSecrets(message, this.secrets())}`, { cause: error });
  }

  /** The response body as counted chunks; errors are classified, the limit enforced. */
  private countedBody(response: Dispatcher.ResponseData, phaseName: RequestOptions['phase'], url: URL, limit: number): AsyncGenerator<Buffer> {
    const phase = this.stats?.phase(phaseName);
    const transport = this;
    return (async function* body(): AsyncGenerator<Buffer> {
      let total = 0;
      const started = performance.now();
      try {
        for await (const chunk of response.body) {
          const buffer = toBuffer(chunk as Uint8Array);
          total += buffer.length;
          if (phase) phase.responseBytes += buffer.length;
          if (total > limit) {
            throw new HttpTooLargeError(
              transport.errorData(response.statusCode, url, response.headers),
              `${redactUrl(url.toString())}: response exceeds ${limit} bytes; refusing to read further`,
            );
          }
          yield buffer;
        }
      } catch (error) {
        throw transport.classify(error, url, undefined);
      } finally {
        if (phase) phase.elapsedMillis += performance.now() - started;
        if (!response.body.destroyed) response.body.destroy();
      }
    })();
  }
}

async function* countRequestBody(body: AsyncIterable<Uint8Array>, phase: PhaseStats | undefined): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    const buffer = toBuffer(chunk);
    if (phase) phase.requestBytes += buffer.length;
    yield buffer;
  }
}

/** The first few hundred bytes of an error body, as one line of text (servers explain there). */
async function readErrorSnippet(response: Dispatcher.ResponseData): Promise<string> {
  const limit = 512;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      const buffer = toBuffer(chunk as Uint8Array);
      chunks.push(buffer);
      size += buffer.length;
      if (size >= limit) break;
    }
  } catch {
    // The status already says what failed; a broken error body adds nothing.
  } finally {
    response.body.destroy();
  }
  const contentType = headerValue(response.headers, 'content-type');
  if (/html/i.test(contentType)) return '';
  return Buffer.concat(chunks)
    .subarray(0, limit)
    .toString('utf8')
    .replace(/\s+/g, ' ')
    .trim();
}
