import assert from 'node:assert/strict';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probe } from '../../src/index.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { processesMatching, waitUntilEmpty, waitUntilPresent, zombieChildren } from '../helpers/processes.js';
import { installTestRemoteHelpers, type TestRemoteHelpers } from '../helpers/remote-helper.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { itProbesAndFetches } from './conformance.js';

describe('remote helpers (git-remote-<scheme> on PATH)', () => {
  let helpers: TestRemoteHelpers;
  let dir: TempDir;
  let repoPath: string;
  const savedPath = process.env['PATH'];

  before(async () => {
    dir = makeTempDir('gitsync-helper-');
    [helpers, { repo: { path: repoPath } }] = await Promise.all([installTestRemoteHelpers(), sampleRepo(dir.path)]);
    process.env['PATH'] = `${helpers.binDir}${delimiter}${savedPath ?? ''}`;
  });
  after(async () => {
    process.env['PATH'] = savedPath;
    await dir?.remove();
    assert.deepEqual(await zombieChildren(), []);
  });

  // v2 goes through stateless-connect, v1 through connect.
  itProbesAndFetches('testproto://', () => ({ url: `testproto://${repoPath}`, repoPath }));
  itProbesAndFetches('stateless-connect only', () => ({ url: `teststateless://${repoPath}`, repoPath }), ['v2']);

  it('names the helper that is missing from PATH', async () => {
    await assert.rejects(probe({ source: { url: 'nosuchproto://example.com/repo.git' } }), {
      code: 'UNSUPPORTED',
      message: /git-remote-nosuchproto not found on PATH/,
    });
  });

  it('names the helper that offers neither stateless-connect nor connect', async () => {
    await assert.rejects(probe({ source: { url: `testnone://${repoPath}` } }), {
      code: 'UNSUPPORTED',
      message: /git-remote-testnone does not offer stateless-connect/,
    });
  });

  it('explains that stateless-connect carries only protocol v2', async () => {
    await assert.rejects(probe({ source: { url: `teststateless://${repoPath}` }, protocol: 'v1' }), {
      code: 'UNSUPPORTED',
      message: /git-remote-teststateless offers only stateless-connect, which carries protocol v2/,
    });
  });

  it('pushes only through a helper that offers connect', async () => {
    const viaConnect = await probe({ source: { url: repoPath }, target: { url: `testproto://${repoPath}` } });
    assert.ok(viaConnect.target?.capabilities.includes('report-status'));
    await assert.rejects(probe({ source: { url: repoPath }, target: { url: `teststateless://${repoPath}` } }), {
      code: 'UNSUPPORTED',
      message: /git-remote-teststateless offers only stateless-connect, which git-sync can use for fetching but not for pushing/,
    });
  });

  it("includes the helper's own words when it fails", async () => {
    await assert.rejects(probe({ source: { url: `testproto://${join(dir.path, 'missing.git')}` } }), {
      code: 'REMOTE_ERROR',
      message: /git-remote-testproto failed .*does not appear to be a git repository/,
    });
  });

  it('abort kills a helper that never answers', async () => {
    const controller = new AbortController();
    const marker = `testhang://${dir.path}/hang.git`;
    const pending = probe({ source: { url: marker }, signal: controller.signal });
    await waitUntilPresent(() => processesMatching(marker));
    controller.abort();
    await assert.rejects(pending, { code: 'ABORTED' });
    assert.deepEqual(await waitUntilEmpty(() => processesMatching(marker)), []);
    assert.deepEqual(await zombieChildren(), []);
  });
});
