import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { git, makeTempDir, type TempDir } from '../helpers/git.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { zombieChildren } from '../helpers/processes.js';
import { installTestRemoteHelpers } from '../helpers/remote-helper.js';
import { sampleRepo } from '../helpers/sample-repo.js';
import { assertRelays } from './conformance.js';

describe('relaying a pack between stateful transports', () => {
  let dir: TempDir;
  let daemon: GitDaemon;
  let sourcePath: string;
  const savedPath = process.env['PATH'];

  before(async () => {
    dir = makeTempDir('gitsync-relay-');
    // The daemon is assigned as soon as it is up, so `after` stops it even when the rest fails.
    const [, { binDir }, { repo }] = await Promise.all([startGitDaemon().then((started) => (daemon = started)), installTestRemoteHelpers(), sampleRepo(dir.path)]);
    sourcePath = repo.path;
    process.env['PATH'] = `${binDir}:${savedPath ?? ''}`;
  });
  after(async () => {
    process.env['PATH'] = savedPath;
    await daemon?.close();
    await dir?.remove();
    assert.deepEqual(await zombieChildren(), []);
  });

  it('local to a local path that does not exist yet (created as a bare repository)', async () => {
    const target = join(dir.path, 'created', 'mirror.git');
    await assertRelays(sourcePath, sourcePath, target, target);
  });

  it('git:// to git:// (receive-pack enabled on the daemon)', async () => {
    await git(['clone', '--quiet', '--mirror', sourcePath, join(daemon.root, 'source.git')]);
    await git(['init', '--quiet', '--bare', join(daemon.root, 'target.git')]);
    await assertRelays(daemon.url('source'), sourcePath, daemon.url('target'), join(daemon.root, 'target.git'));
  });

  it("a remote helper's stateless-connect to a remote helper's connect", async () => {
    const target = join(dir.path, 'helper-target.git');
    await git(['init', '--quiet', '--bare', target]);
    await assertRelays(`teststateless://${sourcePath}`, sourcePath, `testproto://${target}`, target);
  });
});
