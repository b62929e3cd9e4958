/**
 * `git-sync fleet serve` (docs/fleet.md, "Serve") as users run it: the real CLI as a child process
 * on a loopback port, mirrors between local paths and `git http-backend`, checked with git itself
 * (`git for-each-ref`, `git fsck`) and through the service's own endpoints. Times are never
 * asserted: the tests poll the service's state with generous timeouts; back-off is checked on
 * the times the service planned, not on how long anything took.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { githubSignature } from '../../src/fleet/webhooks.js';
import { runCli, startCli, type RunningCli } from '../cli/run-cli.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, git, makeTempDir, type TempDir } from '../helpers/git.js';
import { isRpc, throttleResponse, when } from '../helpers/http-faults.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { freePort, waitForPort } from '../helpers/net.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';

interface Answer {
  status: number;
  body: string;
}

function call(url: string, method = 'GET', headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface MirrorView {
  id: string;
  running: boolean;
  nextRun: string | null;
  backingOff: boolean;
  consecutiveFailures: number;
  lastOutcome: string | null;
  lastRunFinished: string | null;
  lastSuccess: string | null;
  lastError: { code: string; message: string | null } | null;
}

interface RunView {
  id: number;
  trigger: string;
  outcome: string | null;
  finishedAt: string | null;
}

/** Polls until `check` returns a value (not undefined); fails with `what` after `timeoutMillis`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMillis = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A serve child process and its endpoints. */
class Served {
  constructor(
    readonly cli: RunningCli,
    readonly url: string,
  ) {}

  async mirrors(): Promise<MirrorView[]> {
    const answer = await call(`${this.url}/mirrors`);
    assert.equal(answer.status, 200, answer.body);
    return (JSON.parse(answer.body) as { mirrors: MirrorView[] }).mirrors;
  }

  async mirror(id: string): Promise<{ mirror: MirrorView; runs: RunView[] }> {
    const answer = await call(`${this.url}/mirrors/${id}`);
    assert.equal(answer.status, 200, answer.body);
    return JSON.parse(answer.body) as { mirror: MirrorView; runs: RunView[] };
  }

  /** Resolves once the mirror's status satisfies `check`. */
  waitFor(id: string, what: string, check: (view: { mirror: MirrorView; runs: RunView[] }) => boolean, timeoutMillis?: number): Promise<{ mirror: MirrorView; runs: RunView[] }> {
    return until(`${id}: ${what}`, async () => {
      const view = await this.mirror(id);
      return check(view) ? view : undefined;
    }, timeoutMillis);
  }
}

async function serve(manifest: string, port: number, extra: readonly string[] = [], env: Record<string, string> = {}): Promise<Served> {
  const cli = startCli(['fleet', 'serve', manifest, ...extra], env);
  let exited: string | null = null;
  void cli.done.then((run) => (exited = `serve exited with ${run.code}: ${run.stderr}`));
  try {
    await waitForPort(port, { timeoutMillis: 30_000, failed: () => exited });
  } catch (error) {
    cli.kill('SIGKILL');
    await cli.done;
    throw error;
  }
  return new Served(cli, `http://127.0.0.1:${port}`);
}

async function sameRefs(target: string, source: string): Promise<boolean> {
  const [a, b] = await Promise.all([forEachRef(target), forEachRef(source, ['refs/heads/', 'refs/tags/'])]);
  return JSON.stringify([...a]) === JSON.stringify([...b]);
}

describe('fleet serve', { timeout: 600_000 }, () => {
  let dir: TempDir;
  let server: GitHttpServer;
  let local: FixtureRepo;
  let hooked: FixtureRepo;
  let slow: FixtureRepo;

  before(async () => {
    dir = makeTempDir('gitsync-serve-');
    server = await startGitHttpServer({
      root: dir.path,
      // The slow source's packs trickle, so a run of it is in progress long enough to reload under it.
      onRequest: [when((req) => (req.url ?? '').startsWith('/slow.git/') && isRpc('git-upload-pack')(req), throttleResponse(256 * 1024))],
    });
    local = await createRepo({ parentDir: dir.path, name: 'local' });
    await local.commit('main', { files: { 'a.txt': 'a\n' } });
    await local.annotatedTag('v1', 'main', { message: 'v1' });
    hooked = await createRepo({ parentDir: dir.path, name: 'hooked' });
    await hooked.commit('main', { files: { 'h.txt': 'h\n' } });
    slow = await createRepo({ parentDir: dir.path, name: 'slow' });
    for (let i = 0; i < 6; i++) await slow.commit('main', { files: { [`s${i}.bin`]: pseudoRandomBytes(200 * 1024, `slow-${i}`) } });
    for (const name of ['hooked-target', 'slow-target']) await git(['init', '--quiet', '--bare', join(dir.path, `${name}.git`)]);
  });
  after(async () => {
    await server?.close();
    await dir?.remove();
  });

  it('runs mirrors on their schedules, backs a failing one off and recovers it, answers hooks, metrics and reloads', async () => {
    const port = await freePort();
    const manifest = join(dir.path, 'mirrors.yaml');
    const broken = join(dir.path, 'broken.git');
    const write = (mirrors: string): Promise<void> =>
      writeFile(
        manifest,
        `serve:\n  listen: 127.0.0.1:${port}\n  hooks:\n    github-secret-env: HOOK_SECRET\n    generic-token-env: HOOK_TOKEN\nstate:\n  path: ${join(dir.path, 'serve.db')}\nmirrors:\n${mirrors}`,
      );
    const mirrorsBefore = [
      `  - id: local\n    source: ${local.path}\n    target: ${join(dir.path, 'local-target.git')}\n    tags: true\n    schedule: 1s\n`,
      `  - id: failing\n    source: ${broken}\n    target: ${join(dir.path, 'broken-target.git')}\n    tags: true\n    schedule: 1s\n`,
      `  - id: hooked\n    source: ${server.url('hooked')}\n    target: ${server.url('hooked-target')}\n    schedule: 1h\n`,
      `  - id: slow\n    source: ${server.url('slow')}\n    target: ${server.url('slow-target')}\n    schedule: 2s\n`,
    ];
    await write(mirrorsBefore.join(''));
    const served = await serve(manifest, port, ['--max-backoff', '4s', '--no-watch'], { HOOK_SECRET: 'it-is-a-secret', HOOK_TOKEN: 'generic-secret' });
    try {
      assert.equal((await call(`${served.url}/healthz`)).status, 200);
      assert.equal((await call(`${served.url}/readyz`)).status, 200);
      assert.deepEqual((await served.mirrors()).map((mirror) => mirror.id), ['local', 'failing', 'hooked', 'slow']);

      // A few cycles: the local mirror syncs again and again, the failing one backs off.
      await served.waitFor('local', 'three successful runs', (view) => view.runs.filter((run) => run.outcome === 'success' || run.outcome === 'noop').length >= 3);
      assert.ok(await sameRefs(join(dir.path, 'local-target.git'), local.path));
      const failing = await served.waitFor('failing', 'two failures in a row, backing off', (view) => view.mirror.consecutiveFailures >= 2 && view.mirror.nextRun !== null && !view.mirror.running);
      assert.equal(failing.mirror.backingOff, true);
      assert.equal(failing.mirror.lastOutcome, 'failed');
      // The planned wait after k failures is at least 2^k periods (capped at --max-backoff 4s).
      const waited = Date.parse(failing.mirror.nextRun!) - Date.parse(failing.mirror.lastRunFinished!);
      assert.ok(waited >= Math.min(4000, 1000 * 2 ** failing.mirror.consecutiveFailures), `the next attempt is planned ${waited} ms after the last failure`);
      assert.ok(failing.mirror.lastError !== null);

      // Fixed: the next attempt succeeds and the mirror is back on its schedule.
      await git(['clone', '--quiet', '--bare', local.path, broken]);
      const recovered = await served.waitFor('failing', 'a success after the fix', (view) => view.mirror.lastOutcome === 'success' && view.mirror.consecutiveFailures === 0);
      assert.equal(recovered.mirror.backingOff, false);
      assert.ok(await sameRefs(join(dir.path, 'broken-target.git'), broken));

      // Hooks: unsigned and wrongly signed pushes are refused and run nothing; a signed one runs at once.
      await served.waitFor('hooked', 'no run in progress', (view) => !view.mirror.running);
      const pushed = await hooked.commit('main', { files: { 'h.txt': 'pushed\n' } });
      const payload = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', repository: { clone_url: server.url('hooked'), html_url: `${server.baseUrl}/hooked` } }));
      const unsigned = await call(`${served.url}/hooks/github`, 'POST', { 'content-type': 'application/json', 'x-github-event': 'push' }, payload);
      assert.equal(unsigned.status, 401);
      const forged = await call(`${served.url}/hooks/github`, 'POST', { 'x-github-event': 'push', 'x-hub-signature-256': githubSignature(payload, 'not-the-secret') }, payload);
      assert.equal(forged.status, 401);
      assert.equal((await call(`${served.url}/hooks/hooked`, 'POST', { authorization: 'Bearer wrong' })).status, 401);
      assert.deepEqual((await served.mirror('hooked')).runs.filter((run) => run.trigger === 'hook'), [], 'the refused hooks ran nothing');
      const signed = await call(`${served.url}/hooks/github`, 'POST', { 'x-github-event': 'push', 'x-hub-signature-256': githubSignature(payload, 'it-is-a-secret') }, payload);
      assert.equal(signed.status, 202, signed.body);
      assert.deepEqual(Object.keys((JSON.parse(signed.body) as { mirrors: Record<string, string> }).mirrors), ['hooked']);
      // (Its first scheduled run may have come meanwhile and taken the commit: then the hook's is a no-op.)
      await served.waitFor('hooked', 'a run triggered by the hook', (view) => view.runs.some((run) => run.trigger === 'hook' && (run.outcome === 'success' || run.outcome === 'noop')));
      assert.equal((await forEachRef(join(dir.path, 'hooked-target.git'))).get('refs/heads/main'), pushed);

      // The metrics, as Prometheus reads them.
      const metricsAnswer = await call(`${served.url}/metrics`);
      assert.equal(metricsAnswer.status, 200);
      const metrics = parseExposition(metricsAnswer.body);
      assert.ok((sampleValue(metrics, 'gitsync_fleet_runs_total', { mirror: 'local', outcome: 'noop' }) ?? 0) + (sampleValue(metrics, 'gitsync_fleet_runs_total', { mirror: 'local', outcome: 'success' }) ?? 0) >= 3);
      assert.ok((sampleValue(metrics, 'gitsync_fleet_runs_total', { mirror: 'failing', outcome: 'failed' }) ?? 0) >= 2);
      const failureCodes = metrics.samples.filter((sample) => sample.name === 'gitsync_fleet_run_failures_total' && sample.labels.mirror === 'failing');
      assert.ok(failureCodes.length >= 1 && failureCodes.every((sample) => /^[A-Z_]+$/.test(sample.labels.code!)), JSON.stringify(failureCodes));
      assert.equal(sampleValue(metrics, 'gitsync_fleet_hook_requests_total', { provider: 'github', status: '401' }), 2);
      assert.equal(sampleValue(metrics, 'gitsync_fleet_hook_requests_total', { provider: 'github', status: '202' }), 1);
      assert.equal(sampleValue(metrics, 'gitsync_fleet_hook_requests_total', { provider: 'generic', status: '401' }), 1);
      assert.equal(sampleValue(metrics, 'gitsync_fleet_mirrors'), 4);
      assert.ok(sampleValue(metrics, 'gitsync_fleet_runs_in_flight')! >= 0);
      assert.ok((sampleValue(metrics, 'gitsync_fleet_bytes_total', { mirror: 'hooked', direction: 'target' }) ?? 0) > 0);
      assert.ok((sampleValue(metrics, 'gitsync_fleet_run_duration_seconds_count', { outcome: 'failed' }) ?? 0) >= 2);
      for (const id of ['local', 'failing', 'hooked', 'slow']) assert.ok(sampleValue(metrics, 'gitsync_fleet_mirror_staleness_seconds', { mirror: id })! >= 0, id);
      assert.ok(sampleValue(metrics, 'gitsync_fleet_mirror_last_success_timestamp_seconds', { mirror: 'local' })! > 0);

      // Reload under a running sync: `local` removed, `added` added; the slow run goes on to the end.
      for (let i = 0; i < 5; i++) await slow.commit('main', { files: { [`more${i}.bin`]: pseudoRandomBytes(200 * 1024, `more-${i}`) } });
      const running = await served.waitFor('slow', 'a run in progress', (view) => view.mirror.running && view.runs[0]?.outcome === null, 120_000);
      const runId = running.runs[0]!.id;
      const added = await createRepo({ parentDir: dir.path, name: 'added' });
      await added.commit('main', { files: { 'n.txt': 'new\n' } });
      await write(
        [
          mirrorsBefore[1]!,
          mirrorsBefore[2]!,
          mirrorsBefore[3]!,
          `  - id: added\n    source: ${added.path}\n    target: ${join(dir.path, 'added-target.git')}\n    schedule: 1s\n`,
        ].join(''),
      );
      served.cli.kill('SIGHUP');
      await until('the reload', async () => {
        const ids = (await served.mirrors()).map((mirror) => mirror.id);
        return ids.join() === 'failing,hooked,slow,added' ? ids : undefined;
      });
      assert.equal((await call(`${served.url}/mirrors/local`)).status, 404);
      await served.waitFor('added', 'a successful run', (view) => view.mirror.lastOutcome === 'success');
      assert.ok(await sameRefs(join(dir.path, 'added-target.git'), added.path));
      const finished = await served.waitFor('slow', `run ${runId} finished`, (view) => view.runs.some((run) => run.id === runId && run.outcome !== null), 120_000);
      assert.equal(finished.runs.find((run) => run.id === runId)!.outcome, 'success', 'the run in progress during the reload was not dropped');
      // (That run may have started before the last commits landed: the next one brings them.)
      await until('the slow target level with its source', async () => ((await sameRefs(join(dir.path, 'slow-target.git'), slow.path)) ? true : undefined));
      const afterReload = parseExposition((await call(`${served.url}/metrics`)).body);
      assert.deepEqual(afterReload.samples.filter((sample) => sample.labels.mirror === 'local'), [], 'the removed mirror left no series');
    } finally {
      served.cli.kill('SIGTERM');
    }
    const exit = await served.cli.done;
    assert.equal(exit.code, 0, exit.stderr);
    // One JSON line per run, never a secret.
    assert.equal(exit.stdout, '');
    const lines = exit.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(lines.some((line) => line['event'] === 'stopped'));
    const hookRuns = lines.filter((line) => line['mirror'] === 'hooked' && line['trigger'] === 'hook' && 'outcome' in line);
    assert.equal(hookRuns.length, 1, 'one log line for the one hook-triggered run');
    for (const secret of ['it-is-a-secret', 'generic-secret']) assert.ok(!exit.stdout.includes(secret) && !exit.stderr.includes(secret), 'no secret in the logs');
  });

  it('refuses to start, in one line and exit 2, on a bad manifest, an unset hook secret or a taken address', async () => {
    const port = await freePort();
    const manifest = join(dir.path, 'refused.yaml');
    const mirrors = `state:\n  path: ${join(dir.path, 'refused.db')}\nmirrors:\n  - source: ${local.path}\n    target: ${join(dir.path, 'refused-target.git')}\n`;
    await writeFile(manifest, `serve:\n  listen: 127.0.0.1:${port}\n  hooks:\n    github-secret-env: UNSET_HOOK_SECRET\n${mirrors}`);
    const unset = await runCli(['fleet', 'serve', manifest], { UNSET_HOOK_SECRET: undefined });
    assert.equal(unset.code, 2);
    assert.equal(unset.stderr, `error: ${manifest}: serve.hooks.github-secret-env names UNSET_HOOK_SECRET, which is not set; export UNSET_HOOK_SECRET with the hook's secret, or remove serve.hooks.github-secret-env\n`);
    await writeFile(manifest, `serve:\n  listen: 127.0.0.1:${port}\n  hooks:\n    github-secretenv: X\n${mirrors}`);
    const bad = await runCli(['fleet', 'serve', manifest]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: .*refused\.yaml:4:\d+: serve\.hooks\.github-secretenv: unknown field 'github-secretenv'; did you mean 'github-secret-env'\?/);
    const taken = await startGitHttpServer({ root: dir.path });
    try {
      await writeFile(manifest, `serve:\n  listen: 127.0.0.1:${taken.port}\n${mirrors}`);
      const busy = await runCli(['fleet', 'serve', manifest]);
      assert.equal(busy.code, 2);
      assert.equal(busy.stderr, `error: cannot listen on 127.0.0.1:${taken.port}: it is in use; choose another address (serve.listen in the manifest)\n`);
    } finally {
      await taken.close();
    }
    assert.equal(existsSync(join(dir.path, 'refused-target.git')), false, 'nothing ran');
  });

  it('picks up a manifest edit by itself (file watch)', async () => {
    const port = await freePort();
    const manifest = join(dir.path, 'watched.yaml');
    const head = `serve:\n  listen: 127.0.0.1:${port}\nstate:\n  path: ${join(dir.path, 'watched.db')}\nmirrors:\n  - id: one\n    source: ${local.path}\n    target: ${join(dir.path, 'watched-one.git')}\n    schedule: 1h\n`;
    await writeFile(manifest, head);
    const served = await serve(manifest, port);
    try {
      // As an editor saves: a new file renamed over the old one.
      await writeFile(`${manifest}.tmp`, `${head}  - id: two\n    source: ${local.path}\n    target: ${join(dir.path, 'watched-two.git')}\n    schedule: 1s\n`);
      await rename(`${manifest}.tmp`, manifest);
      await served.waitFor('two', 'a successful run', (view) => view.mirror.lastOutcome === 'success');
      // A broken edit is refused; the service goes on with what it had.
      await writeFile(manifest, `${head}  - id: three\n    sourse: nowhere\n`);
      await until('the broken edit refused', async () => (/"event":"reload-refused".*MANIFEST_INVALID/.test(served.cli.output().stderr) ? true : undefined));
      assert.deepEqual((await served.mirrors()).map((mirror) => mirror.id), ['one', 'two']);
    } finally {
      served.cli.kill('SIGTERM');
    }
    const exit = await served.cli.done;
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /"event":"reload-refused".*MANIFEST_INVALID/);
  });

  it('stops on SIGTERM during a batched run, then resumes it after a restart and converges', async () => {
    const limited = await startGitHttpServer({ root: dir.path, maxRequestBytes: 256 * 1024, onRequest: [when(isRpc('git-upload-pack'), throttleResponse(512 * 1024))] });
    try {
      const big = await createRepo({ parentDir: dir.path, name: 'big' });
      for (let i = 0; i < 12; i++) await big.commit('main', { files: { [`f${i}.bin`]: pseudoRandomBytes(160 * 1024, `big-${i}`) } });
      await big.annotatedTag('v1', 'main~3', { message: 'v1' });
      const target = join(dir.path, 'big-target.git');
      await git(['init', '--quiet', '--bare', target]);
      const port = await freePort();
      const manifest = join(dir.path, 'batched.yaml');
      await writeFile(
        manifest,
        `serve:\n  listen: 127.0.0.1:${port}\nstate:\n  path: ${join(dir.path, 'batched.db')}\nmirrors:\n  - id: big\n    source: ${limited.url('big')}\n    target: ${limited.url('big-target')}\n    tags: true\n    target-max-pack-bytes: 256KiB\n    schedule: 10s\n`,
      );
      const first = await serve(manifest, port, ['--stop-grace', '1ms']);
      try {
        await until('a checkpoint on the target', async () => {
          const refs = await forEachRef(target);
          return [...refs.keys()].some((name) => name.startsWith('refs/gitsync/')) ? true : undefined;
        });
      } finally {
        first.cli.kill('SIGTERM');
      }
      const stopped = await first.cli.done;
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /"event":"aborting"/);
      assert.match(stopped.stderr, /"mirror":"big".*"outcome":"aborted"/);
      const kept = [...(await forEachRef(target)).keys()];
      assert.ok(kept.some((name) => name.startsWith('refs/gitsync/')), 'the aborted batched run left its checkpoints');
      assert.ok(!kept.includes('refs/heads/main'), 'the real refs have not moved yet');
      await fsck(target);

      // The status after the stop: the run is recorded as aborted.
      const status = await runCli(['fleet', 'status', manifest, '--json']);
      assert.equal(status.code, 0, status.stderr);
      const stoppedStatus = (JSON.parse(status.stdout) as { mirrors: { id: string; lastOutcome: string; runningSince: string | null; lastRun: { errorCode: string | null } }[] }).mirrors;
      assert.deepEqual(stoppedStatus.map((mirror) => [mirror.id, mirror.lastOutcome, mirror.runningSince, mirror.lastRun.errorCode]), [['big', 'aborted', null, 'ABORTED']]);

      // Restarted: the mirror was never synced, so it runs at once, resumes and converges.
      const second = await serve(manifest, port);
      try {
        await second.waitFor('big', 'a successful run after the restart', (view) => view.mirror.lastOutcome === 'success', 180_000);
      } finally {
        second.cli.kill('SIGTERM');
      }
      const exit = await second.cli.done;
      assert.equal(exit.code, 0, exit.stderr);
      const refs = await forEachRef(target);
      assert.deepEqual(refs, await forEachRef(big.path, ['refs/heads/', 'refs/tags/']));
      assert.deepEqual([...refs.keys()].filter((name) => name.startsWith('refs/gitsync/')), []);
      await fsck(target);
      const after = await runCli(['fleet', 'status', manifest, '--json']);
      assert.equal(after.code, 0, after.stderr);
      const final = (JSON.parse(after.stdout) as { mirrors: { id: string; lastOutcome: string; consecutiveFailures: number; lastSuccess: string | null }[] }).mirrors;
      assert.equal(final.length, 1);
      assert.ok(final[0]!.lastOutcome === 'success' || final[0]!.lastOutcome === 'noop', final[0]!.lastOutcome);
      assert.equal(final[0]!.consecutiveFailures, 0);
      assert.ok(final[0]!.lastSuccess !== null);
      // The table users read.
      const table = await runCli(['fleet', 'status', manifest]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^big\s+\S+Z\s/m);
    } finally {
      await limited.close();
    }
  });
});
