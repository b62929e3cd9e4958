/**
 * A reader that goes away (`git-sync sync ... | head`): the CLI's pipes close under it. The run
 * must go on and end with its own exit code, without a stack trace (docs/usage.md, "Output").
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createRepo } from '../helpers/fixtures.js';
import { forEachRef, makeTempDir, type TempDir } from '../helpers/git.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';
import { BIN, cliEnv } from './run-cli.js';

interface ClosedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What reached stderr while it stayed open. */
  stderr: string;
}

/**
 * Runs `bin/git-sync` with its stdout (and, when asked, its stderr) closed by the reader before
 * the program has started: every write to it fails with EPIPE.
 */
function runWithClosedPipes(args: readonly string[], closeStderr: boolean): Promise<ClosedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    if (closeStderr) child.stderr.destroy();
    else child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('git-sync with its output pipe closed by the reader', () => {
  let dir: TempDir;
  let sample: SampleRepo;

  before(async () => {
    dir = makeTempDir('gitsync-pipe-');
    sample = await sampleRepo(dir.path);
  });
  after(async () => dir.remove());

  it('--help exits 0 without a stack trace', async () => {
    const run = await runWithClosedPipes(['sync', '--help'], false);
    assert.equal(run.signal, null);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
  });

  it('a sync still completes, exits 0 and leaves the target current', async () => {
    const target = await createRepo({ parentDir: dir.path, name: 'closed-stdout' });
    const run = await runWithClosedPipes(['sync', '--tags', sample.repo.path, target.path], false);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /EPIPE|at .*\.mjs/);
    assert.deepEqual(await forEachRef(target.path, ['refs/heads/', 'refs/tags/']), await forEachRef(sample.repo.path, ['refs/heads/', 'refs/tags/']));
  });

  it('a failing run keeps its exit code with both pipes closed', async () => {
    const target = await createRepo({ parentDir: dir.path, name: 'closed-both' });
    // Usage error (exit 2): the source does not exist.
    const missing = await runWithClosedPipes(['sync', `${dir.path}/no-such.git`, target.path], true);
    assert.equal(missing.signal, null);
    assert.notEqual(missing.code, 0);
    const reference = await runWithClosedPipes(['sync', `${dir.path}/no-such.git`, target.path], false);
    assert.equal(missing.code, reference.code);
    assert.doesNotMatch(reference.stderr, /EPIPE|at .*\.mjs/);
    assert.match(reference.stderr, /^error: /m);
  });
});
