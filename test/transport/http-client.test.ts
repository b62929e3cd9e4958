/**
 * HttpClient on its own (transport/http-client.ts), against a plain loopback node:http server:
 * what the caller's abort signal does to an exchange whose answer has already come.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { GitSyncError } from '../../src/errors.js';
import { DEFAULT_HTTP_TIMEOUTS, HttpClient } from '../../src/transport/http-client.js';

describe('HttpClient', () => {
  let server: http.Server;
  let base: string;
  before(async () => {
    // A short answer, complete at once: the client's keep-alive pool may take the socket back.
    server = http.createServer((req, res) => {
      req.resume();
      res.end('000eunpack ok\n0000');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('an abort after the answer, its body read in part, is no uncaught error (regression: fault matrix)', async () => {
    // The relay aborts its controller after a push whose report did not parse, with the report's
    // body read in part. http.request's own `signal` option then destroyed the request's socket
    // with an AbortError that nothing listened for: an uncaught exception that killed the run.
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    const client = new HttpClient({ side: 'target', insecureSkipTlsVerify: false, proxyEnv: {}, timeouts: DEFAULT_HTTP_TIMEOUTS, observer: undefined, secrets: () => [] });
    try {
      const url = new URL(`${base}/target.git/git-receive-pack`);
      const controller = new AbortController();
      const exchange = await client.exchange('POST', url, Buffer.from('0000'), {}, 'target push', controller.signal);
      const body = client.countedBody(exchange, 'target push', url, null, controller.signal);
      const first = await body.next();
      assert.equal(first.done, false);
      controller.abort();
      // Whatever the socket does with the abort happens within a few turns of the event loop.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(uncaught.map(String), []);
      // What is left of the body ends, or fails with a typed error.
      await body.next().catch((error: unknown) => assert.ok(error instanceof GitSyncError, String(error)));
    } finally {
      process.off('uncaughtException', onUncaught);
      await client.close();
    }
  });
});
