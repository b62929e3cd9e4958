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

/** Replaces every occurrence of each secret in free text (server messages, stderr of tools). */
export function redactSecrets(text: string, secrets: readonly (string | null | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('***');
  }
  return out;
}
