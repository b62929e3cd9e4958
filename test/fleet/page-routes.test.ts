/**
 * The status page's routes (src/fleet/page-routes.ts) on the serve endpoints, on a real loopback
 * port with handlers standing in for the service: HTML for browsers and JSON for the rest at
 * the same `/mirrors/<id>`, and "sync now" triggering only with the page token in a form body.
 * The page in a browser against a real `fleet serve` is test/fleet/page-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { call } from '../helpers/http-call.js';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseManifest } from '../../src/fleet/manifest.js';
import { FleetMetrics } from '../../src/fleet/metrics.js';
import { pageToken, prefersHtml, servicePageSource, type PageSource } from '../../src/fleet/page-routes.js';
import type { PageMirror } from '../../src/fleet/page.js';
import { startFleetServer, type FleetServer } from '../../src/fleet/server.js';
import { FleetState } from '../../src/fleet/state.js';
import { runCli } from '../cli/run-cli.js';
import { makeTempDir } from '../helpers/git.js';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

const one: PageMirror = {
  id: 'one',
  source: 'https://bot:hunter2hunter2@github.com/org/one.git',
  targets: ['/srv/one.git'],
  mode: 'sync',
  status: null,
};

describe('status page routes', () => {
  let server: FleetServer;
  let token: string | null = 'page-secret-1';
  let triggerResult = 'started';
  const triggered: string[] = [];
  const page: PageSource = {
    mirrors: () => [one],
    mirror: (id) => (id === 'one' ? { mirror: one, runs: [] } : null),
    token: () => token,
    trigger: (id) => {
      triggered.push(id);
      return triggerResult;
    },
  };
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  before(async () => {
    server = await startFleetServer('127.0.0.1:0', {
      ready: () => true,
      mirrors: () => [{ id: 'one', running: false }],
      mirror: (id) => (id === 'one' ? { mirror: { id: 'one' }, runs: [] } : null),
      hookMirrors: () => [],
      hookSecrets: () => ({ github: null, gitlab: null, generic: null }),
      trigger: () => ({}),
      metrics: new FleetMetrics({ mirrors: () => [], inFlight: () => 0, processMetrics: false }),
      page,
    });
  });
  after(() => server?.close());
  beforeEach(() => {
    triggered.length = 0;
    token = 'page-secret-1';
    triggerResult = 'started';
  });

  it('serves the fleet page at / with a CSP, credentials redacted', async () => {
    const answer = await call(`${server.url}/`, 'GET', { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(String(answer.headers['content-security-policy']), /^default-src 'none'; style-src 'sha256-/);
    assert.match(answer.body, /<tr class="health-new" data-mirror="one">/);
    assert.ok(!answer.body.includes('hunter2hunter2'));
    assert.equal((await call(`${server.url}/`, 'POST')).status, 405);
  });

  it('answers /mirrors/<id> in HTML to browsers and in JSON to everyone else', async () => {
    const browser = await call(`${server.url}/mirrors/one`, 'GET', { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(browser.status, 200);
    assert.match(browser.body, /^<!doctype html>/);
    for (const [path, accept] of [
      ['/mirrors/one', undefined],
      ['/mirrors/one', 'application/json'],
      ['/mirrors/one', '*/*'],
      ['/mirrors/one?format=json', BROWSER_ACCEPT],
    ] as const) {
      const answer = await call(`${server.url}${path}`, 'GET', { headers: accept === undefined ? {} : { accept } });
      assert.deepEqual(JSON.parse(answer.body), { mirror: { id: 'one' }, runs: [] }, `${path} with Accept ${accept}`);
    }
    assert.match((await call(`${server.url}/mirrors/one?format=html`, 'GET')).body, /^<!doctype html>/);
    assert.deepEqual(JSON.parse((await call(`${server.url}/mirrors`, 'GET', { headers: { accept: BROWSER_ACCEPT } })).body), { mirrors: [{ id: 'one', running: false }] });
    const missing = await call(`${server.url}/mirrors/nope`, 'GET', { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(missing.status, 404);
    assert.match(missing.body, /The manifest has no mirror &quot;nope&quot;/);
  });

  it('"sync now" with the right token triggers the mirror: a browser is sent back to its page, a script gets JSON', async () => {
    const browser = await call(`${server.url}/mirrors/one/sync`, 'POST', { headers: { ...form, accept: BROWSER_ACCEPT }, body: 'token=page-secret-1' });
    assert.equal(browser.status, 303);
    assert.equal(browser.headers.location, '../one?triggered=started');
    const script = await call(`${server.url}/mirrors/one/sync`, 'POST', { headers: form, body: 'token=page-secret-1' });
    assert.equal(script.status, 202);
    assert.deepEqual(JSON.parse(script.body), { mirror: 'one', result: 'started' });
    assert.deepEqual(triggered, ['one', 'one']);
    const after = await call(`${server.url}/mirrors/one?triggered=started`, 'GET', { headers: { accept: BROWSER_ACCEPT } });
    assert.match(after.body, /<p class="notice ok" role="status">Sync started/);
  });

  it('says so when the service could not start the run: stopping, or the mirror gone in a reload', async () => {
    for (const [result, status, code, notice] of [
      ['stopped', 503, 'STOPPING', /<p class="notice error" role="status">The service is stopping: no run was started\.<\/p>/],
      ['unknown', 404, 'NOT_FOUND', /<p class="notice error" role="status">The service does not schedule this mirror/],
    ] as const) {
      triggerResult = result;
      const script = await call(`${server.url}/mirrors/one/sync`, 'POST', { headers: form, body: 'token=page-secret-1' });
      assert.equal(script.status, status);
      assert.equal(JSON.parse(script.body).error.code, code);
      const browser = await call(`${server.url}/mirrors/one/sync`, 'POST', { headers: { ...form, accept: BROWSER_ACCEPT }, body: 'token=page-secret-1' });
      assert.equal(browser.headers.location, `../one?triggered=${result}`);
      assert.match((await call(`${server.url}/mirrors/one?triggered=${result}`, 'GET', { headers: { accept: BROWSER_ACCEPT } })).body, notice);
    }
  });

  it('refuses "sync now" without the token in a form body, whatever cookies or headers come with it', async () => {
    const attempts: [Record<string, string>, string, number, string][] = [
      [form, 'token=wrong', 403, 'PAGE_TOKEN'],
      [form, '', 403, 'PAGE_TOKEN'],
      [{ ...form, cookie: 'token=page-secret-1', authorization: 'Bearer page-secret-1' }, 'x=1', 403, 'PAGE_TOKEN'],
      [{ 'content-type': 'application/json' }, '{"token":"page-secret-1"}', 415, 'CONTENT_TYPE'],
      [form, `token=page-secret-1&pad=${'x'.repeat(5000)}`, 413, 'BODY_TOO_LARGE'],
    ];
    for (const [headers, body, status, code] of attempts) {
      const answer = await call(`${server.url}/mirrors/one/sync`, 'POST', { headers, body });
      assert.equal(answer.status, status, body.slice(0, 30));
      assert.equal(JSON.parse(answer.body).error.code, code);
    }
    assert.equal((await call(`${server.url}/mirrors/nope/sync`, 'POST', { headers: form, body: 'token=page-secret-1' })).status, 404);
    assert.equal((await call(`${server.url}/mirrors/one/sync`, 'GET')).status, 405);
    const browser = await call(`${server.url}/mirrors/one/sync`, 'POST', { headers: { ...form, accept: BROWSER_ACCEPT }, body: 'token=nope' });
    assert.equal(browser.status, 403);
    assert.match(browser.body, /The page token is missing or wrong: no run was started/);
    assert.deepEqual(triggered, []);
  });

  it('is read-only without a page token: no form, and the POST is refused', async () => {
    token = null;
    const pageHtml = (await call(`${server.url}/mirrors/one`, 'GET', { headers: { accept: BROWSER_ACCEPT } })).body;
    assert.doesNotMatch(pageHtml, /<form/);
    const answer = await call(`${server.url}/mirrors/one/sync`, 'POST', { headers: form, body: 'token=' });
    assert.equal(answer.status, 403);
    assert.equal(JSON.parse(answer.body).error.code, 'PAGE_READ_ONLY');
    assert.deepEqual(triggered, []);
  });
});

describe('status page content negotiation', () => {
  it('prefers HTML only when Accept ranks text/html above application/json', () => {
    assert.equal(prefersHtml(BROWSER_ACCEPT), true);
    assert.equal(prefersHtml(undefined), false);
    assert.equal(prefersHtml('*/*'), false);
    assert.equal(prefersHtml('application/json'), false);
    assert.equal(prefersHtml('application/json, text/html'), false);
    assert.equal(prefersHtml('application/json;q=0.5, text/html'), true);
    assert.equal(prefersHtml('text/html;q=0'), false);
  });
});

describe('manifest: the page token and refresh', () => {
  it('names the token by serve.page-token-env (a token written in the manifest is refused) and reads serve.page-refresh', () => {
    const manifest = parseManifest('serve:\n  page-token-env: GITSYNC_PAGE_TOKEN\nmirrors:\n  - source: https://github.com/org/a.git\n    target: /srv/a.git\n', 'm.yaml');
    assert.equal(manifest.serve.pageTokenEnv, 'GITSYNC_PAGE_TOKEN');
    assert.equal(parseManifest('mirrors:\n  - source: https://github.com/org/a.git\n    target: /srv/a.git\n', 'm.yaml').serve.pageTokenEnv, undefined);
    const refresh = (value: string): number | undefined =>
      parseManifest(`serve:\n  page-refresh: ${value}\nmirrors:\n  - source: https://github.com/org/a.git\n    target: /srv/a.git\n`, 'm.yaml').serve.pageRefreshMillis;
    assert.equal(refresh('5s'), 5000);
    assert.equal(refresh('2m'), 120_000);
    assert.throws(() => refresh('200ms'), /m\.yaml:2:\d+.*page-refresh.*at most once a second/);
    assert.throws(() => refresh('soon'), /m\.yaml:2:\d+.*page-refresh/);
    assert.throws(
      () => parseManifest('serve:\n  page-token: hunter2hunter2\nmirrors:\n  - source: https://github.com/org/a.git\n    target: /srv/a.git\n', 'm.yaml'),
      (error: Error & { code?: string }) => error.code === 'MANIFEST_INVALID' && !error.message.includes('hunter2hunter2'),
    );
  });
});

describe('status page of a service', () => {
  const manifestText = (extra: string): string =>
    `serve:\n${extra}  listen: 127.0.0.1:0\nmirrors:\n  - id: b\n    source: https://github.com/org/b.git\n    target: /srv/b.git\n  - id: a\n    source: /srv/src/a.git\n    targets: [/srv/a1.git, /srv/a2.git]\n    mode: replicate\n`;

  it('reads the page token from the variable the manifest names; an unset one is refused by name', () => {
    assert.equal(pageToken(parseManifest(manifestText(''), 'm.yaml'), { GITSYNC_PAGE_TOKEN: 'x' }), null);
    const named = parseManifest(manifestText('  page-token-env: GITSYNC_PAGE_TOKEN\n'), 'm.yaml');
    assert.equal(pageToken(named, { GITSYNC_PAGE_TOKEN: 'tok-123' }), 'tok-123');
    for (const env of [{}, { GITSYNC_PAGE_TOKEN: '' }]) {
      assert.throws(() => pageToken(named, env), (error: Error & { code?: string }) => error.code === 'USAGE' && /serve\.page-token-env names GITSYNC_PAGE_TOKEN, which is not set/.test(error.message));
    }
  });

  it('fleet serve refuses to start, in one line with exit 2, when the page token variable is unset', async () => {
    const dir = makeTempDir('gitsync-page-');
    try {
      const manifest = path.join(dir.path, 'mirrors.yaml');
      writeFileSync(manifest, manifestText('  page-token-env: GITSYNC_PAGE_TOKEN_UNSET\n'));
      const run = await runCli(['fleet', 'serve', manifest], { GITSYNC_PAGE_TOKEN_UNSET: undefined });
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /serve\.page-token-env names GITSYNC_PAGE_TOKEN_UNSET, which is not set/);
    } finally {
      await dir.remove();
    }
  });

  it('shows the manifest\'s mirrors in its order with the state\'s status and runs', () => {
    const dir = makeTempDir('gitsync-page-');
    const state = FleetState.open(path.join(dir.path, 'state.db'));
    try {
      const runId = state.startRun('a', new Date('2026-12-01T10:00:00Z'), 'schedule');
      state.finishRun(runId, {
        finishedAt: new Date('2026-12-01T10:00:03Z'),
        outcome: 'success',
        reason: null,
        relayMode: 'bootstrap,bootstrap',
        bytesFromSource: 1000,
        bytesToTarget: 2000,
        refsChanged: 4,
        errorCode: null,
        errorMessage: null,
      });
      state.startRun('gone', new Date('2026-12-01T10:00:00Z'), 'schedule');
      const triggered: string[] = [];
      const manifest = parseManifest(manifestText('  page-token-env: T\n  page-refresh: 5s\n'), 'm.yaml');
      const page = servicePageSource({ manifest: () => manifest, state, env: { T: 'tok-123' }, trigger: (id) => (triggered.push(id), 'queued') });
      assert.deepEqual(
        page.mirrors().map((m) => [m.id, m.status?.lastOutcome ?? null, m.targets.length]),
        [['b', null, 1], ['a', 'success', 2]],
      );
      const a = page.mirror('a')!;
      assert.equal(a.mirror.mode, 'replicate');
      assert.deepEqual(a.runs.map((run) => [run.id, run.relayMode, run.refsChanged]), [[runId, 'bootstrap,bootstrap', 4]]);
      assert.equal(page.mirror('gone'), null, 'a mirror the manifest no longer names has no page');
      assert.equal(page.token(), 'tok-123');
      assert.equal(page.refreshSeconds, 5);
      assert.equal(page.trigger('a'), 'queued');
      assert.deepEqual(triggered, ['a']);
      assert.throws(() => servicePageSource({ manifest: () => manifest, state, env: {}, trigger: () => 'started' }), /names T, which is not set/);
    } finally {
      state.close();
      void dir.remove();
    }
  });
});
