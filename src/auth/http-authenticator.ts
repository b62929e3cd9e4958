/**
 * Which `Authorization` header an HTTP request carries, and what happens to credentials after
 * the server answers (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing"):
 *
 * - credentials the user gave (flags, `GITSYNC_*` env, the URL) belong to the origin of the URL
 *   the user named, and go to no other origin (scheme, host and port, as curl decides);
 * - with none given, a 401 asks the credential provider (`git credential fill`) once per origin;
 *   a redirected origin is never asked when TLS verification is off, since nothing then proves
 *   who that host is;
 * - provider credentials are rejected as soon as the server answers 401/403 with them, and
 *   approved only once the whole operation has succeeded (`approve()`, called by the verb).
 */
import type { Credential, CredentialProvider, CredentialRequest } from './credential-provider.js';

export type HttpAuth =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly token: string };

/** Where the credentials of one request came from, so its outcome can be credited to them. */
export type AuthSource = 'explicit' | 'provider';

export interface Authorization {
  readonly header: string;
  readonly source: AuthSource;
  /** The provider's credential (null for explicit credentials). */
  readonly filled: FilledCredential | null;
}

interface FilledCredential {
  readonly request: CredentialRequest;
  readonly credential: Credential;
  /** A request succeeded with it. */
  worked: boolean;
  /** The server refused it; it is never offered again. */
  rejected: boolean;
  approved: boolean;
}

export interface HttpAuthenticatorOptions {
  /** Credentials from flags, env or the URL: for the origin of `home` only. */
  explicit: HttpAuth | null;
  /** The repository URL the user named. */
  home: URL;
  /** A user name the user gave without a password, offered to the provider. */
  username: string | null;
  /** Asked after a 401 when no explicit credentials apply; null: never. */
  provider: CredentialProvider | null;
  insecureSkipTlsVerify: boolean;
}

export function authorizationHeader(auth: HttpAuth): string {
  if (auth.kind === 'bearer') return `Bearer ${auth.token}`;
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

export class HttpAuthenticator {
  private readonly homeOrigin: string;
  /** Per origin: what the provider filled, or null when it had nothing. */
  private readonly filled = new Map<string, FilledCredential | null>();

  constructor(private readonly options: HttpAuthenticatorOptions) {
    this.homeOrigin = options.home.origin;
  }

  /** Whether the user gave credentials (flags, env or the URL). */
  get hasExplicit(): boolean {
    return this.options.explicit !== null;
  }

  /** The header for a request to `url`, or null to go anonymous. */
  authorization(url: URL): Authorization | null {
    const { explicit } = this.options;
    if (explicit !== null && url.origin === this.homeOrigin) return { header: authorizationHeader(explicit), source: 'explicit', filled: null };
    const filled = this.filled.get(url.origin);
    if (filled && !filled.rejected) {
      const auth: HttpAuth = { kind: 'basic', username: filled.credential.username, password: filled.credential.password };
      return { header: authorizationHeader(auth), source: 'provider', filled };
    }
    return null;
  }

  /** Whether a 401 for `url` could be answered by asking the provider (nothing is asked yet). */
  canFill(url: URL): boolean {
    if (this.options.provider === null || this.filled.has(url.origin)) return false;
    if (url.origin === this.homeOrigin) return this.options.explicit === null;
    return !this.options.insecureSkipTlsVerify;
  }

  /**
   * After a 401 to an anonymous request: asks the provider for `url`'s origin. True when it
   * filled a credential, so the request may be sent again with it.
   */
  async fill(url: URL, repositoryPath: string, signal?: AbortSignal): Promise<boolean> {
    if (!this.canFill(url)) return false;
    const request: CredentialRequest = {
      protocol: url.protocol === 'https:' ? 'https' : 'http',
      host: url.host,
      path: repositoryPath.replace(/^\/+/, ''),
      username: url.origin === this.homeOrigin ? this.options.username : null,
    };
    this.filled.set(url.origin, null);
    const credential = await this.options.provider!.fill(request, signal);
    if (credential === null) return false;
    this.filled.set(url.origin, { request, credential, worked: false, rejected: false, approved: false });
    return true;
  }

  /** A request carrying `authorization` succeeded. */
  succeeded(authorization: Authorization | null): void {
    if (authorization?.filled) authorization.filled.worked = true;
  }

  /** The server answered 401/403 to `authorization`: a provider credential is rejected. */
  async refused(authorization: Authorization | null): Promise<void> {
    const filled = authorization?.filled;
    if (!filled || filled.rejected) return;
    filled.rejected = true;
    await this.options.provider!.reject(filled.request, filled.credential).catch(() => undefined);
  }

  /** The whole operation succeeded: the provider may keep every credential that worked. */
  async approve(): Promise<void> {
    for (const filled of this.filled.values()) {
      if (filled === null || !filled.worked || filled.rejected || filled.approved) continue;
      filled.approved = true;
      await this.options.provider!.approve(filled.request, filled.credential).catch(() => undefined);
    }
  }

  /** Every secret in play, for scrubbing server messages. */
  secrets(): string[] {
    const { explicit } = this.options;
    const out: string[] = [];
    if (explicit !== null) out.push(explicit.kind === 'basic' ? explicit.password : explicit.token);
    for (const filled of this.filled.values()) if (filled !== null) out.push(filled.credential.password);
    return out;
  }
}
