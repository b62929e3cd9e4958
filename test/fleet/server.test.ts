/**
 * The serve HTTP endpoints (docs/fleet.md, "HTTP endpoints") on a real loopback port, with
 * handlers standing in for the service: routes, methods, hook verification before any trigger,
 * body limits, and a refused listen address.
 */
import assert from 'node:assert/strict';
import { call } from '../helpers/http-call.js';
import { after, before, describe, it } from 'node:test';
import { GitSyncError } from '../../src/errors.js';
import { FleetMetrics } from '../../src/fleet/metrics.js';
import { parseListen, startFleetServer, type FleetServer } from '../../src/fleet/server.js';
import { githubSignature } from '../../src/fleet/webhooks.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';

describe('fleet HTTP endpoints', () => {
  let server: FleetServer;
  let ready = true;
  const triggered: string[][] = [];
  const metrics = new FleetMetrics({ mirrors: () => [{ id: 'one', lastSuccessAt: null, knownSince: Date.now(), consecutiveFailures: 0 }], inFlight: () => 0, processMetrics: false });

  before(async () => {
    server = await startFleetServer(
      '127.0.0.1:0',
      {
        ready: () => ready,
        mirrors: () => [{ id: 'one', running: false }],
        mirror: (id) => (id === 'one' ? { mirror: { id: 'one' }, runs: [] } : null),
        hookMirrors: () => [{ id: 'one', source: 'https://github.com/org/one.git' }],
        hookSecrets: () => ({ github: 'shh', gitlab: 'glt', generic: null }),
        trigger: (ids) => {
          triggered.push([...ids]);
          return Object.fromEntries(ids.map((id) => [id, 'started']));
        },
        metrics,
      },
      { maxBodyBytes: 4096 },
    );
  });
  after(() => server?.close());

  it('answers /healthz, and /readyz as the service is ready or not', async () => {
    assert.deepEqual(JSON.parse((await call(`${server.url}/healthz`, 'GET')).body), { status: 'ok' });
    assert.equal((await call(`${server.url}/readyz`, 'GET')).status, 200);
    ready = false;
    assert.equal((await call(`${server.url}/readyz`, 'GET')).status, 503);
    ready = true;
  });

  it('serves /metrics in the Prometheus text format', async () => {
    const answer = await call(`${server.url}/metrics`, 'GET');
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.equal(sampleValue(parseExposition(answer.body), 'gitsync_fleet_mirrors'), 1);
  });

  it('lists mirrors and shows one; 404 for an unknown one or path, 405 for a wrong method', async () => {
    assert.deepEqual(JSON.parse((await call(`${server.url}/mirrors`, 'GET')).body), { mirrors: [{ id: 'one', running: false }] });
    assert.deepEqual(JSON.parse((await call(`${server.url}/mirrors/one`, 'GET')).body), { mirror: { id: 'one' }, runs: [] });
    assert.equal((await call(`${server.url}/mirrors/two`, 'GET')).status, 404);
    assert.equal((await call(`${server.url}/elsewhere`, 'GET')).status, 404);
    const wrong = await call(`${server.url}/mirrors`, 'DELETE');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers['allow'], 'GET');
    assert.equal((await call(`${server.url}/hooks/github`, 'GET')).status, 405);
  });

  it('triggers the mirrors of a signed push, and nothing for an unsigned or wrongly signed one (401)', async () => {
    const body = Buffer.from(JSON.stringify({ repository: { clone_url: 'https://github.com/org/one.git' } }));
    triggered.length = 0;
    const unsigned = await call(`${server.url}/hooks/github`, 'POST', { headers: { 'content-type': 'application/json', 'x-github-event': 'push' }, body });
    assert.equal(unsigned.status, 401);
    const wrong = await call(`${server.url}/hooks/github`, 'POST', { headers: { 'x-github-event': 'push', 'x-hub-signature-256': githubSignature(body, 'guess') }, body });
    assert.equal(wrong.status, 401);
    assert.deepEqual(triggered, []);
    const signed = await call(`${server.url}/hooks/github`, 'POST', { headers: { 'x-github-event': 'push', 'x-hub-signature-256': githubSignature(body, 'shh') }, body });
    assert.equal(signed.status, 202);
    assert.deepEqual(JSON.parse(signed.body), { status: 'queued', reason: 'queued', mirrors: { one: 'started' } });
    assert.deepEqual(triggered, [['one']]);
    // The generic endpoint is off here: 404, nothing triggered.
    assert.equal((await call(`${server.url}/hooks/one`, 'POST', { headers: { authorization: 'Bearer x' } })).status, 404);
    assert.deepEqual(triggered, [['one']]);
    const scraped = parseExposition((await call(`${server.url}/metrics`, 'GET')).body);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_hook_requests_total', { provider: 'github', status: '401' }), 2);
    assert.equal(sampleValue(scraped, 'gitsync_fleet_hook_requests_total', { provider: 'github', status: '202' }), 1);
  });

  it('refuses bodies over the limit with 413, declared or streamed, and triggers nothing', async () => {
    triggered.length = 0;
    const big = Buffer.alloc(5000, 'x');
    const declared = await call(`${server.url}/hooks/gitlab`, 'POST', { headers: { 'x-gitlab-token': 'glt', 'content-length': String(big.length) }, body: big });
    assert.equal(declared.status, 413);
    // Chunked, no Content-Length: refused once the bytes read pass the limit.
    const streamed = await call(`${server.url}/hooks/gitlab`, 'POST', { headers: { 'x-gitlab-token': 'glt' }, body: [Buffer.alloc(3000, '{'), Buffer.alloc(3000, '}')] }).catch((error: NodeJS.ErrnoException) => ({ status: -1, body: error.code ?? '', headers: {} }));
    assert.ok(streamed.status === 413 || streamed.body === 'EPIPE' || streamed.body === 'ECONNRESET', `refused: ${streamed.status} ${streamed.body}`);
    assert.deepEqual(triggered, []);
    // The server still answers.
    assert.equal((await call(`${server.url}/healthz`, 'GET')).status, 200);
  });

  it('refuses an address in use, naming it', async () => {
    const taken = `127.0.0.1:${server.port}`;
    await assert.rejects(
      startFleetServer(taken, { ready: () => true, mirrors: () => [], mirror: () => null, hookMirrors: () => [], hookSecrets: () => ({ github: null, gitlab: null, generic: null }), trigger: () => ({}), metrics }),
      (error: unknown) => error instanceof GitSyncError && error.code === 'USAGE' && error.message === `cannot listen on ${taken}: it is in use; choose another address (serve.listen in the manifest)`,
    );
  });

  it('reads listen addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:8787'), { host: '127.0.0.1', port: 8787 });
    assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    for (const bad of ['8787', 'host:', 'host:99999', '']) assert.throws(() => parseListen(bad), /is not an address to listen on/);
  });
});
