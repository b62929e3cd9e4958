import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adviceText } from '../../src/cli/advice.js';
import { AbortedError, HttpAuthError, HttpContentTypeError, HttpStatusError, NetworkError, TimeoutError } from '../../src/errors.js';
import { contentTypeError, networkError, retryAfterMillis, statusError, type StatusInput } from '../../src/transport/http-diagnosis.js';

const base: StatusInput = {
  status: 500,
  method: 'POST',
  url: 'https://h/o/r.git/git-receive-pack',
  headers: {},
  snippet: '',
  side: 'target',
  auth: { sent: null, replayable: true, redirectedTo: null, home: 'https://h/o/r.git' },
  location: null,
  secrets: [],
};

describe('HTTP diagnosis (no sockets)', () => {
  it('turns a 401 into what happened, and the credentials next step into advice', () => {
    const missing = statusError({ ...base, status: 401 });
    assert.ok(missing instanceof HttpAuthError);
    assert.equal(missing.code, 'HTTP_AUTH');
    assert.equal(missing.message, 'POST https://h/o/r.git/git-receive-pack: HTTP 401 Unauthorized; credentials are required: set up a git credential helper or give credentials');
    assert.deepEqual(missing.advice, { kind: 'credentials', side: 'target', situation: 'missing' });
    assert.doesNotMatch(missing.message, /--/, 'no flag names in the library');
    assert.equal(adviceText(missing.advice!), 'pass --target-token (or GITSYNC_TARGET_TOKEN) or --target-bearer-token');

    const refused = statusError({ ...base, status: 401, auth: { ...base.auth, sent: 'explicit' } });
    assert.match(refused.message, /the target credentials were refused$/);
    assert.deepEqual(refused.advice, { kind: 'credentials', side: 'target', situation: 'refused' });
    const forbidden = statusError({ ...base, status: 403, auth: { ...base.auth, sent: 'explicit' } });
    assert.match(forbidden.message, /HTTP 403 Forbidden; the target credentials lack access/);
    const helper = statusError({ ...base, status: 401, auth: { ...base.auth, sent: 'provider' } });
    assert.match(helper.message, /credential helper were refused \(and rejected from it\)/);
    const late = statusError({ ...base, status: 401, auth: { ...base.auth, replayable: false } });
    assert.match(late.message, /cannot be replayed$/);
    const away = statusError({ ...base, status: 401, auth: { ...base.auth, redirectedTo: { origin: 'https://cdn', why: 'explicit-stay-home' } } });
    assert.match(away.message, /the credentials given for https:\/\/h\/o\/r\.git are not sent to https:\/\/cdn, where it redirected/);
  });

  it('names the status, what the server said (secrets redacted) and its request ids', () => {
    const error = statusError({ ...base, status: 503, snippet: 'maintenance for tok3n', headers: { 'x-request-id': 'abc' }, secrets: ['tok3n'] });
    assert.ok(error instanceof HttpStatusError);
    assert.equal(error.status, 503);
    assert.deepEqual(error.requestIds, { 'x-request-id': 'abc' });
    assert.equal(error.message, 'POST https://h/o/r.git/git-receive-pack: HTTP 503: maintenance for ***; the target server failed: retry later, and if it persists report it to the host [x-request-id: abc]');
  });

  it('says what 404, 407, 413 and a redirect mean', () => {
    assert.match(statusError({ ...base, status: 404 }).message, /HTTP 404 Not Found; check that the target repository exists/);
    assert.match(statusError({ ...base, status: 407 }).message, /HTTP 407 Proxy Authentication Required; .*HTTP_PROXY=http:\/\/user:password@proxy:port/);
    assert.match(statusError({ ...base, status: 413, snippet: 'body too large' }).message, /HTTP 413 Payload Too Large; the target refused the request body: body too large$/);
    const moved = statusError({ ...base, status: 307, location: 'https://other/o/r.git/git-receive-pack' });
    assert.match(moved.message, /HTTP 307 redirect to https:\/\/other\/o\/r\.git\/git-receive-pack; use the final repository URL$/);
    assert.equal(adviceText(moved.advice!), 'or pass --target-follow-info-refs-redirect to send every request where info/refs leads');
  });

  it('recognises an answer that is not smart HTTP', () => {
    const error = contentTypeError({ status: 200, url: 'https://h/o/r.git/info/refs', headers: {}, contentType: 'text/html', expected: 'application/x-git-upload-pack-advertisement', advertisement: true });
    assert.ok(error instanceof HttpContentTypeError);
    assert.match(error.message, /expected content type application\/x-git-upload-pack-advertisement, got "text\/html": the server does not speak git smart HTTP here/);
  });

  it('gives failed connections a next step, and an abort its own error', () => {
    const refused = networkError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'http://127.0.0.1:1/r.git', 'source', undefined, []);
    assert.ok(refused instanceof NetworkError);
    assert.match(refused.message, /; nothing accepts connections there: check the URL's host and port, and that the server is up$/);
    const dns = networkError(Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), { code: 'ENOTFOUND' }), 'http://x.invalid/r.git', 'source', undefined, []);
    assert.match(dns.message, /; the source host name does not resolve: check the URL$/);
    const tls = networkError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'https://h/r.git', 'target', undefined, []);
    assert.match(tls.message, /trust its CA with NODE_EXTRA_CA_CERTS/);
    assert.deepEqual(tls.advice, { kind: 'skip-tls-verify', side: 'target' });
    const controller = new AbortController();
    controller.abort();
    assert.ok(networkError(new Error('aborted'), 'https://h/r.git', 'target', controller.signal, []) instanceof AbortedError);
    const typed = new TimeoutError('idle', 'u', 1000, 'timed out');
    assert.equal(networkError(typed, 'u', 'target', undefined, []), typed, 'a typed error passes through');
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    assert.equal(retryAfterMillis('', now), null);
    assert.equal(retryAfterMillis('7', now), 7000);
    assert.equal(retryAfterMillis('Tue, 01 Dec 2026 10:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMillis('Tue, 01 Dec 2026 09:00:00 GMT', now), 0, 'a date in the past is now');
    assert.equal(retryAfterMillis('soon', now), null);
  });

  it('names the side and marks 502, 503, 504 and 429 transient, with their Retry-After', () => {
    const base = { method: 'GET', url: 'https://h/r.git/info/refs', snippet: '', side: 'target' as const, auth: { sent: null, replayable: true, redirectedTo: null, home: 'https://h/r.git' }, location: null, secrets: [] };
    const busy = statusError({ ...base, status: 503, headers: { 'retry-after': '3' } });
    assert.equal(busy.side, 'target');
    assert.equal(busy.transient, true);
    assert.equal((busy as HttpStatusError).retryAfterMillis, 3000);
    for (const code of [429, 502, 504]) assert.equal(statusError({ ...base, status: code, headers: {} }).transient, true, String(code));
    for (const code of [400, 401, 403, 404, 413, 500]) assert.equal(statusError({ ...base, status: code, headers: {} }).transient, false, String(code));
  });
});

