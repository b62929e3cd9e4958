/**
 * Where HTTP credentials come from when the user gave none (docs/usage.md, "Authentication, redirects, proxies, TLS and tracing"): something that can
 * fill a credential for a host after it answered 401, and be told afterwards whether the
 * credential worked (approve) or was refused (reject). `git credential` is the default
 * (`credential-helper.ts`); a library caller may plug in its own, e.g. a token vault.
 */

/** What the credential is for, in git-credential's terms. */
export interface CredentialRequest {
  protocol: 'http' | 'https';
  /** Host name with the port when the URL names one (`example.com:8443`). */
  host: string;
  /** The repository path without its leading slash (`org/repo.git`). */
  path: string;
  /** A user name the user already gave (URL or `--*-username`), else null. */
  username: string | null;
}

export interface Credential {
  username: string;
  password: string;
  /**
   * Every other attribute the provider returned (`password_expiry_utc`, `oauth_refresh_token`,
   * ...), handed back unchanged on approve and reject as git does.
   */
  attributes: Readonly<Record<string, string>>;
}

export interface CredentialProvider {
  /** A credential for the request, or null when there is none (never throws for "none"). */
  fill(request: CredentialRequest, signal?: AbortSignal): Promise<Credential | null>;
  /** The credential worked for a whole operation: a helper may store it. */
  approve(request: CredentialRequest, credential: Credential): Promise<void>;
  /** The server refused the credential (401/403): a helper should forget it. */
  reject(request: CredentialRequest, credential: Credential): Promise<void>;
}
