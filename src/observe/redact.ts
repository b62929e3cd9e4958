/**
 * Redaction: every URL git-sync prints, logs or puts in an error goes through here first, so a
 * token embedded as `https://user:token@host/` or `?access_token=` never reaches output.
 */

const SECRET_QUERY_KEYS = /token|secret|password|passwd|pass|key|auth|signature|sig|credential/i;

/** The URL with its user-info replaced by `***` and secret-looking query values masked. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return redactUserInfo(raw);
  }
  if (url.protocol === 'file:') return raw;
  const hadUserInfo = url.username !== '' || url.password !== '';
  url.username = '';
  url.password = '';
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_QUERY_KEYS.test(key)) url.searchParams.set(key, '***');
  }
  const text = url.toString();
  return hadUserInfo ? text.replace('://', '://***@') : text;
}

/** For strings that are not WHATWG URLs (scp-like `user@host:path` keeps its user: not a secret). */
function redactUserInfo(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/**
 * Replaces every occurrence of each secret in free text (server messages, stderr of tools), and
 * every credential the text shows as an `Authorization` value (redactAuthorization).
 */
export function redactSecrets(text: string, secrets: readonly (string | null | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('***');
  }
  return redactAuthorization(out);
}

/** A Bearer token shorter than this is taken for a word (`Bearer realm=...`), not a token. */
const MIN_BEARER_TOKEN = 16;

/**
 * Credentials as a server may echo the request's `Authorization` header back in an error body
 * (docs/security.md, "git's own protocol rules"): `Basic <base64 of user:password>` (recognized
 * by what it decodes to, so `Basic realm` stays), `Bearer <token>`, and whatever follows an
 * `Authorization:` label. The credential becomes `***`; the scheme word stays, saying what it was.
 */
export function redactAuthorization(text: string): string {
  return text
    .replace(/(authorization["']?\s*[:=]\s*["']?)([A-Za-z]+\s+)?[^\s"',;]+/gi, (_match, label: string, scheme: string | undefined) => `${label}${scheme ?? ''}***`)
    .replace(/\b(basic\s+)([A-Za-z0-9+/]+={0,2})/gi, (match, scheme: string, value: string) => (looksLikeBasicCredentials(value) ? `${scheme}***` : match))
    .replace(/\b(bearer\s+)([A-Za-z0-9._~+/=-]+)/gi, (match, scheme: string, value: string) => (value.length >= MIN_BEARER_TOKEN ? `${scheme}***` : match));
}

/** Base64 that decodes to printable `user:password` (or the start of it, as a cut-off echo shows). */
function looksLikeBasicCredentials(value: string): boolean {
  if (value.length < 4) return false;
  const decoded = Buffer.from(value, 'base64').toString('latin1');
  return decoded.includes(':') && /^[\x20-\x7e]+$/.test(decoded);
}
