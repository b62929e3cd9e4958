import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { HTTP_TRACE_CHANNEL, formatHttpTrace, probe, type HttpTraceEvent } from '../../src/index.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { sampleRepo } from '../helpers/sample-repo.js';

const TOKEN = 'tok-trace-4b3a2918';

describe('HTTP trace events', () => {
  let server: GitHttpServer;

  before(async () => {
    server = await startGitHttpServer({ basicAuth: { username: 'git', password: TOKEN } });
    await sampleRepo(server.root);
  });
  after(() => server.close());

  it('formats one line per request and per response', () => {
    const request: HttpTraceEvent = { type: 'request', side: 'target', method: 'POST', url: 'https://h/r.git/git-receive-pack', proxy: null };
    assert.equal(formatHttpTrace(request), 'http target > POST https://h/r.git/git-receive-pack');
    const response: HttpTraceEvent = {
      type: 'response', side: 'source', method: 'GET', url: 'https://h/r.git/info/refs?service=git-upload-pack', status: 301,
      requestBytes: 0, responseBytes: 12, durationMillis: 4.6, requestIds: { 'x-request-id': 'abc' }, location: 'https://g/r.git/info/refs?service=git-upload-pack', error: null,
    };
    assert.equal(formatHttpTrace(response), 'http source < 301 GET https://h/r.git/info/refs?service=git-upload-pack -> https://g/r.git/info/refs?service=git-upload-pack sent=0 received=12 5ms [x-request-id: abc]');
    assert.match(formatHttpTrace({ ...response, status: 0, location: null, error: 'TIMEOUT' }), /^http source < error TIMEOUT GET /);
  });

  it('publishes every exchange with redacted URLs and no credentials, and the library itself prints nothing', async () => {
    const events: HttpTraceEvent[] = [];
    const listener = (message: unknown): void => {
      events.push(message as HttpTraceEvent);
    };
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const saved = process.env.GITSYNC_HTTP_TRACE;
    process.env.GITSYNC_HTTP_TRACE = '1';
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    diagnosticsChannel.subscribe(HTTP_TRACE_CHANNEL, listener);
    try {
      const result = await probe({ source: { url: server.url('source', { username: 'git', password: TOKEN }) } });
      assert.equal(result.source.head, 'refs/heads/main');
    } finally {
      diagnosticsChannel.unsubscribe(HTTP_TRACE_CHANNEL, listener);
      process.stderr.write = write;
      if (saved === undefined) delete process.env.GITSYNC_HTTP_TRACE;
      else process.env.GITSYNC_HTTP_TRACE = saved;
    }
    assert.deepEqual(written, [], 'the library never prints, whatever the environment says');
    // The ls-refs goes out right behind the advertisement's GET (docs/architecture.md, "One round
    // trip for a listing"): both requests first, then their answers in whichever order they came.
    const lines = events.map((event) => `${event.type} ${event.method} ${event.type === 'response' ? event.status : ''}`);
    assert.deepEqual(lines.slice(0, 2), ['request GET ', 'request POST ']);
    assert.deepEqual(lines.slice(2).sort(), ['response GET 200', 'response POST 200']);
    const text = JSON.stringify(events);
    assert.ok(!text.includes(TOKEN) && !text.includes(Buffer.from(`git:${TOKEN}`).toString('base64')));
    assert.ok(!/authorization/i.test(text));
    for (const event of events) assert.match(event.url, /^http:\/\/127\.0\.0\.1:\d+\/source\.git\//);
  });
});
