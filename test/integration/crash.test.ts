/**
 * Crash safety: `kill -9` of git-sync at seeded random moments of one-shot and batched runs, then
 * a rerun of the same command. Whatever the moment — listing, ancestry, mid-pack, between
 * batches, during the cutover — the rerun succeeds, the target equals the source (`git
 * for-each-ref`), `git fsck` is clean, no `refs/gitsync/` checkpoint ref is left, and no git
 * process is left running. The kill points are fractions of the bytes (HTTP: from the loopback
 * server's request log) or of the time (local target) a calibration run took; the seed is fixed,
 * so a failing point can be replayed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { isRpc, throttleResponse, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { processesMatching, waitUntilEmpty } from '../helpers/processes.js';
import { randomSource } from '../helpers/random.js';
import { runCli, startCli } from '../cli/run-cli.js';

const SEED = 20261201;
/** Kill points per scenario. */
const POINTS = 5;

/** Bytes moved so far across every request the server has seen. */
function bytesMoved(server: GitHttpServer): number {
  return server.requests.reduce((sum, entry) => sum + entry.requestBytes + entry.responseBytes, 0);
}

async function until(condition: () => boolean, done: Promise<unknown>): Promise<boolean> {
  let finished = false;
  void done.then(() => (finished = true));
  while (!condition()) {
    if (finished) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return true;
}

describe('crash safety: kill -9 at random moments, then a rerun converges', { timeout: 300_000 }, () => {
  let dir: TempDir;
  let source: FixtureRepo;
  let server: GitHttpServer;
  let targets = 0;
  const random = randomSource(SEED);

  before(async () => {
    dir = makeTempDir('gitsync-crash-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    for (let i = 0; i < 12; i++) await source.commit('main', { files: { [`f${i}.bin`]: pseudoRandomBytes(160 * 1024, `main-${i}`) } });
    for (let i = 0; i < 3; i++) await source.commit('topic', { parents: i === 0 ? ['main~4'] : undefined, files: { [`t${i}.bin`]: pseudoRandomBytes(120 * 1024, `topic-${i}`) } });
    await source.annotatedTag('v1', 'main~2', { message: 'v1' });
    // The source's packs are read at 3 MB/s, so a run lasts long enough to be cut anywhere.
    server = await startGitHttpServer({ root: dir.path, onRequest: [when(isRpc('git-upload-pack'), throttleResponse(3 * 1024 * 1024))] });
  });
  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  /** A bare target in `dir`, empty or holding the source's main as it was four commits ago. */
  async function target(behind: boolean): Promise<{ name: string; path: string }> {
    const name = `target-${++targets}`;
    const path = join(dir.path, `${name}.git`);
    await git(['init', '--quiet', '--bare', path]);
    if (behind) await git(['push', '--quiet', path, 'main~4:refs/heads/main'], { cwd: source.path });
    return { name, path };
  }

  async function assertConverged(path: string, args: readonly string[]): Promise<void> {
    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, `the rerun succeeds: ${rerun.stderr}`);
    const refs = await forEachRef(path);
    assert.deepEqual(refs, await forEachRef(source.path, ['refs/heads/', 'refs/tags/']));
    assert.deepEqual([...refs.keys()].filter((name) => name.startsWith('refs/gitsync/')), []);
    await fsck(path);
    await server.idle();
    assert.deepEqual(await waitUntilEmpty(() => processesMatching(path)), [], 'no git process left on the target');
  }

  const scenarios = [
    { name: 'one-shot sync into a target four commits behind (HTTP)', behind: true, extra: [] as string[] },
    { name: 'batched bootstrap under a 256 KiB body limit (HTTP)', behind: false, extra: ['--target-max-pack-bytes', '256KiB'] },
  ];
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const calibration = await target(scenario.behind);
      const args = (name: string): string[] => ['sync', '--tags', ...scenario.extra, server.url('source'), server.url(name)];
      server.clearLog();
      const first = await runCli(args(calibration.name));
      assert.equal(first.code, 0, first.stderr);
      const total = bytesMoved(server);
      let leftCheckpoints = 0;
      for (let point = 0; point < POINTS; point++) {
        const fraction = 0.05 + 0.9 * random();
        const killed = await target(scenario.behind);
        await server.idle();
        server.clearLog();
        const run = startCli(args(killed.name));
        const hit = await until(() => bytesMoved(server) >= fraction * total, run.done);
        run.kill('SIGKILL');
        const outcome = await run.done;
        // Killed mid-run by the byte count: every kill point lies inside the run.
        assert.ok(hit, `the run ended before ${Math.round(fraction * 100)}% of its bytes: ${outcome.stderr}`);
        const kept = [...(await forEachRef(killed.path)).keys()].filter((name) => name.startsWith('refs/gitsync/'));
        if (kept.length > 0) leftCheckpoints += 1;
        await assertConverged(killed.path, args(killed.name));
      }
      // The batched kills must have caught runs between checkpoints, so the reruns resumed.
      if (scenario.extra.length > 0) assert.ok(leftCheckpoints > 0, 'some kill left checkpoint refs for the rerun to resume from');
    });
  }

  it('one-shot sync into a local target, killed at random moments', async () => {
    const calibration = await target(true);
    const args = (path: string): string[] => ['sync', '--tags', server.url('source'), path];
    const started = performance.now();
    const first = await runCli(args(calibration.path));
    assert.equal(first.code, 0, first.stderr);
    const took = performance.now() - started;
    for (let point = 0; point < POINTS; point++) {
      const killed = await target(true);
      const run = startCli(args(killed.path));
      const timer = setTimeout(() => run.kill('SIGKILL'), Math.round((0.05 + 0.9 * random()) * took));
      await run.done;
      clearTimeout(timer);
      await assertConverged(killed.path, args(killed.path));
    }
  });
});
