import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { probe } from '../../src/index.js';
import { daemonRequest, type GitDaemonEndpoint } from '../../src/transport/daemon.js';
import { parseEndpoint } from '../../src/transport/endpoint.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { freePort } from '../helpers/net.js';
import { zombieChildren } from '../helpers/processes.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { itProbesAndFetches } from './conformance.js';

function daemonEndpoint(url: string): GitDaemonEndpoint {
  const endpoint = parseEndpoint(url);
  assert.ok(endpoint.kind === 'git');
  return endpoint;
}

describe('git:// request line', () => {
  it('names the service, path and host in one pkt-line, with version=2 as an extra parameter', () => {
    assert.equal(
      daemonRequest('git-upload-pack', daemonEndpoint('git://myserver.com/project.git'), 'v1').toString('latin1'),
      '0033git-upload-pack /project.git\0host=myserver.com\0',
    );
    assert.equal(
      daemonRequest('git-receive-pack', daemonEndpoint('git://[::1]:9419/~alice/p.git'), 'v2').toString('latin1'),
      '003dgit-receive-pack ~alice/p.git\0host=[::1]:9419\0\0version=2\0',
    );
  });
});

describe('git:// transport against git daemon', () => {
  let daemon: GitDaemon;
  let repoPath: string;

  before(async () => {
    daemon = await startGitDaemon();
    repoPath = (await sampleRepo(daemon.root)).repo.path;
  });
  after(async () => {
    await daemon?.close();
    assert.deepEqual(await zombieChildren(), []);
  });

  itProbesAndFetches('git://', () => ({ url: daemon.url('source'), repoPath }));

  it('counts the request line as bytes sent', async () => {
    const result = await probe({ source: { url: daemon.url('source') }, protocol: 'v1', stats: true });
    // The request line plus the closing flush.
    const line = daemonRequest('git-upload-pack', daemonEndpoint(daemon.url('source')), 'v1');
    assert.equal(result.stats?.phases['source info-refs']?.requestBytes, line.length + 4);
  });

  it("reads a target's receive-pack capabilities", async () => {
    const result = await probe({ source: { url: daemon.url('source') }, target: { url: daemon.url('source') } });
    assert.ok(result.target?.capabilities.includes('report-status'));
  });

  it("passes on the daemon's refusal of a repository it does not serve", async () => {
    await assert.rejects(probe({ source: { url: daemon.url('missing') } }), {
      code: 'REMOTE_ERROR',
      message: /access denied or repository not exported: \/missing\.git/,
    });
    const informative = await startGitDaemon({ root: daemon.root, informativeErrors: true });
    try {
      await assert.rejects(probe({ source: { url: informative.url('missing') } }), { code: 'REMOTE_ERROR', message: /no such repository/ });
    } finally {
      await informative.close();
    }
  });

  it('explains a server that hangs up without a word', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      await assert.rejects(probe({ source: { url: `git://127.0.0.1:${port}/x.git` } }), { code: 'NETWORK', message: /closed the connection/ });
    } finally {
      server.close();
    }
  });

  it('reports a refused connection', async () => {
    const port = await freePort();
    await assert.rejects(probe({ source: { url: `git://127.0.0.1:${port}/x.git` } }), { code: 'NETWORK', message: /ECONNREFUSED/ });
  });
});
