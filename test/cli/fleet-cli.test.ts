/**
 * `git-sync fleet run` and `fleet status` (docs/fleet.md) against real servers: a manifest of
 * eight mirrors over local paths, `git http-backend`, `git daemon` and sshd (one failing, one
 * blocked, one with two targets), run once; the targets checked with git, the state read back,
 * the per-host cap observed from the HTTP server's side; manifest errors and secrets refused.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FleetState } from '../../src/fleet/state.js';
import { cloneRepo, createRepo } from '../helpers/fixtures.js';
import { forEachRef, fsck, makeTempDir, type TempDir } from '../helpers/git.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { startGitHttpServer, type GitHttpServer, type Middleware } from '../helpers/http-server.js';
import { sampleRepo, type SampleRepo } from '../helpers/sample-repo.js';
import { SSHD_BINARY, startSshServer, type SshServer } from '../helpers/sshd.js';
import { missingSystemTool, startAll } from '../helpers/system.js';
import { repoRoot } from '../helpers/streams.js';
import { runCli, startCli } from './run-cli.js';

const PUBLISHED = ['refs/heads/', 'refs/tags/'];

/**
 * Counts, on the server's side, how many mirrors have a request in flight at once (each
 * mirror's repositories are named `<mirror>-...`), and slows every request down so that
 * mirrors started together overlap.
 */
function hostWatch(): { middleware: Middleware; peak: () => number } {
  const inFlight = new Map<string, number>();
  let peak = 0;
  const middleware: Middleware = (req, res, next) => {
    const mirror = /^\/([a-z0-9]+)-[^/]*\.git\//.exec(req.url ?? '')?.[1] ?? 'other';
    inFlight.set(mirror, (inFlight.get(mirror) ?? 0) + 1);
    peak = Math.max(peak, inFlight.size);
    res.on('close', () => {
      const left = inFlight.get(mirror)! - 1;
      if (left === 0) inFlight.delete(mirror);
      else inFlight.set(mirror, left);
    });
    setTimeout(next, 150);
  };
  return { middleware, peak: () => peak };
}

describe('git-sync fleet (CLI)', { skip: missingSystemTool(SSHD_BINARY, 'openssh-server') }, () => {
  let dir: TempDir;
  let http: GitHttpServer;
  let daemon: GitDaemon;
  let sshd: SshServer;
  let sample: SampleRepo;
  const watch = hostWatch();
  let manifestPath: string;
  let statePath: string;

  before(async () => {
    dir = makeTempDir('gitsync-fleet-cli-');
    [http, daemon, sshd] = await startAll(() => startGitHttpServer({ onRequest: watch.middleware }), () => startGitDaemon(), () => startSshServer());
    sample = await sampleRepo(dir.path, 'source');
    for (const name of ['m2-src', 'm6-src', 'm8-src']) await cloneRepo(sample.repo, { parentDir: http.root, name });
    await createRepo({ parentDir: http.root, name: 'm3-dst' });
    await createRepo({ parentDir: http.root, name: 'm6-dst' });
    await cloneRepo(sample.repo, { parentDir: daemon.root, name: 'm4-src' });
    const diverged = await cloneRepo(sample.repo, { parentDir: dir.path, name: 'diverged' });
    await diverged.commit('main', { parents: [`${sample.main}~1`], files: { 'x.txt': 'diverged' } });
    manifestPath = path.join(dir.path, 'mirrors.yaml');
    statePath = path.join(dir.path, 'mirrors.state.db');
    await writeFile(
      manifestPath,
      `# eight mirrors, every transport
defaults:
  tags: true
  timeout: 2m
mirrors:
  - id: m1-local
    source: source.git
    target: out/m1.git
  - id: m2-http-source
    source: ${http.url('m2-src')}
    target: out/m2.git
  - id: m3-http-target
    source: source.git
    target: ${http.url('m3-dst')}
  - id: m4-daemon
    source: ${daemon.url('m4-src')}
    target: out/m4.git
  - id: m5-ssh
    source: ${sshd.url(sample.repo.path)}
    target: out/m5.git
  - id: m6-two-targets
    source: ${http.url('m6-src')}
    targets: [out/m6.git, ${http.url('m6-dst')}]
  - id: m7-missing
    source: ${http.url('m7-missing')}
    target: out/m7.git
  - id: m8-diverged
    source: ${http.url('m8-src')}
    target: diverged.git
`,
    );
  });
  after(async () => {
    await Promise.all([http?.close(), daemon?.close(), sshd?.close()]);
    await dir?.remove();
  });

  it('runs eight mirrors once: exit 1, a result per mirror, the targets verified by git, the state recorded', async () => {
    const run = await runCli(['fleet', 'run', '--json', '--concurrency', '8', '--per-host', '2', manifestPath], { GIT_SSH_COMMAND: sshd.sshCommand });
    assert.equal(run.code, 1, run.stderr);
    const json = JSON.parse(run.stdout);
    assert.equal(json.error, null);
    assert.equal(json.state, statePath);
    const outcomes = Object.fromEntries(json.mirrors.map((m: { id: string; outcome: string }) => [m.id, m.outcome]));
    assert.deepEqual(outcomes, {
      'm1-local': 'success',
      'm2-http-source': 'success',
      'm3-http-target': 'success',
      'm4-daemon': 'success',
      'm5-ssh': 'success',
      'm6-two-targets': 'success',
      'm7-missing': 'failed',
      'm8-diverged': 'blocked',
    });
    assert.deepEqual(json.counts, { success: 6, noop: 0, failed: 1, blocked: 1, aborted: 0 });
    const byId = new Map<string, any>(json.mirrors.map((m: { id: string }) => [m.id, m]));
    assert.equal(byId.get('m6-two-targets').targets.length, 2);
    assert.deepEqual(byId.get('m6-two-targets').targets.map((t: { relayMode: string }) => t.relayMode), ['bootstrap', 'bootstrap']);
    assert.equal(byId.get('m7-missing').error.code, 'HTTP_STATUS');
    assert.equal(byId.get('m8-diverged').error.code, 'REF_BLOCKED');
    assert.equal(byId.get('m8-diverged').reason, '1 ref(s) blocked');
    for (const mirror of json.mirrors) {
      assert.equal(typeof mirror.runId, 'number');
      assert.ok(Date.parse(mirror.finishedAt) >= Date.parse(mirror.startedAt));
      if (mirror.outcome === 'success') assert.ok(mirror.refsChanged > 0 && mirror.bytesFromSource > 0 && mirror.bytesToTarget > 0, mirror.id);
    }

    // Every target that succeeded holds the source's branches and tags, and is sound.
    const expected = await forEachRef(sample.repo.path, PUBLISHED);
    const targets = ['m1', 'm2', 'm4', 'm5', 'm6'].map((m) => path.join(dir.path, 'out', `${m}.git`)).concat([path.join(http.root, 'm3-dst.git'), path.join(http.root, 'm6-dst.git')]);
    for (const target of targets) {
      assert.deepEqual(await forEachRef(target, PUBLISHED), expected, target);
      await fsck(target);
    }
    // The blocked target was left as it was; the failing one was never created.
    assert.notEqual((await forEachRef(path.join(dir.path, 'diverged.git'), ['refs/heads/main'])).get('refs/heads/main'), sample.main);
    assert.equal(existsSync(path.join(dir.path, 'out', 'm7.git')), false);

    // No more than two mirrors ever had the HTTP server busy at once (and the cap was reached).
    assert.equal(watch.peak(), 2);

    // One structured log line per run on stderr.
    const lines = run.stderr.trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(lines.map((line: { mirror: string }) => line.mirror).sort(), Object.keys(outcomes).sort());
    assert.equal(lines.find((line: { mirror: string }) => line.mirror === 'm7-missing').level, 50);

    const state = FleetState.open(statePath);
    try {
      for (const [id, outcome] of Object.entries(outcomes)) {
        const runs = state.recentRuns(id, 10);
        assert.equal(runs.length, 1, id);
        assert.equal(runs[0]!.outcome, outcome, id);
        assert.equal(runs[0]!.trigger, 'once');
        assert.equal(runs[0]!.id, byId.get(id).runId);
      }
      assert.equal(state.recentRuns('m1-local', 1)[0]!.relayMode, 'bootstrap');
      assert.equal(state.recentRuns('m6-two-targets', 1)[0]!.relayMode, 'bootstrap,bootstrap');
      assert.equal(state.recentRuns('m7-missing', 1)[0]!.errorCode, 'HTTP_STATUS');
      const missing = state.mirrorStatus('m7-missing')!;
      assert.equal(missing.consecutiveFailures, 1);
      assert.equal(missing.lastSuccess, null);
      assert.ok(missing.failingSince !== null);
      assert.ok(state.mirrorStatus('m1-local')!.lastSuccess !== null);
    } finally {
      state.close();
    }
  });

  it('runs them again: the mirrors in step are no-ops; status shows each at a glance, as text and JSON', async () => {
    const again = await runCli(['fleet', 'run', '--log', 'text', manifestPath], { GIT_SSH_COMMAND: sshd.sshCommand });
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stdout, /^MIRROR +OUTCOME +TARGETS +REFS +DURATION +REASON$/m);
    assert.match(again.stdout, /^m1-local +noop +1 +0 +\d+\.\ds +-$/m);
    assert.match(again.stdout, /^m6-two-targets +noop +2 +0 /m);
    assert.match(again.stdout, /^m7-missing +failed +1 +0 +\S+ +HTTP_STATUS$/m);
    assert.match(again.stdout, /^m8-diverged +blocked +1 +0 +\S+ +1 ref\(s\) blocked$/m);
    assert.match(again.stdout, /^fleet: 8 mirror\(s\) success=0 noop=6 blocked=1 failed=1 aborted=0 in \S+$/m);
    assert.match(again.stderr, /^fleet: m7-missing failed refs=0 \S+: .*m7-missing/m);

    const text = await runCli(['fleet', 'status', manifestPath]);
    assert.equal(text.code, 0, text.stderr);
    const rows = text.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^MIRROR +LAST SUCCESS +AGE +LAST OUTCOME +NEXT RUN +FAILING SINCE$/);
    assert.equal(rows.length, 9);
    assert.match(text.stdout, /^m1-local +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\d+s +noop +- +-$/m);
    assert.match(text.stdout, /^m7-missing +- +- +failed \(HTTP_STATUS\) +- +\d{4}-\d\d-\d\dT\S+Z \(2 run\(s\)\)$/m);
    assert.match(text.stdout, /^m8-diverged +- +- +blocked \(1 ref\(s\) blocked\) +- +\S+Z \(2 run\(s\)\)$/m);

    const json = await runCli(['fleet', 'status', '--json', '--state', statePath]);
    assert.equal(json.code, 0, json.stderr);
    const status = JSON.parse(json.stdout);
    assert.equal(status.error, null);
    assert.equal(status.mirrors.length, 8);
    const m1 = status.mirrors.find((m: { id: string }) => m.id === 'm1-local');
    assert.equal(m1.lastOutcome, 'noop');
    assert.equal(m1.consecutiveFailures, 0);
    assert.equal(m1.failingSince, null);
    assert.equal(typeof m1.ageSeconds, 'number');
    assert.equal(m1.lastRun.relayMode, 'none');
    const m7 = status.mirrors.find((m: { id: string }) => m.id === 'm7-missing');
    assert.equal(m7.consecutiveFailures, 2);
    assert.equal(m7.lastSuccess, null);
    assert.equal(m7.lastRun.errorCode, 'HTTP_STATUS');
  });

  it('stops on SIGTERM: the running mirror is aborted and recorded so, the exit code is 143 (128 + SIGTERM)', async () => {
    // A server that never answers: the run is in flight until it is stopped.
    const stalled: Middleware = () => undefined;
    const slow = await startGitHttpServer({ onRequest: stalled });
    try {
      await cloneRepo(sample.repo, { parentDir: slow.root, name: 'stall-src' });
      const file = path.join(dir.path, 'stall.yaml');
      await writeFile(file, `mirrors:\n  - {id: stalled, source: "${slow.url('stall-src')}", target: out/stalled.git}\n`);
      const running = startCli(['fleet', 'run', '--json', '--state', path.join(dir.path, 'stall.db'), file]);
      while (slow.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      running.kill('SIGTERM');
      const run = await running.done;
      assert.equal(run.code, 143, run.stderr);
      const json = JSON.parse(run.stdout);
      assert.deepEqual(json.counts, { success: 0, noop: 0, failed: 0, blocked: 0, aborted: 1 });
      assert.equal(json.mirrors[0].error.code, 'ABORTED');
      assert.equal(existsSync(path.join(dir.path, 'out', 'stalled.git')), false);
      const state = FleetState.open(path.join(dir.path, 'stall.db'));
      try {
        const status = state.mirrorStatus('stalled')!;
        assert.equal(status.lastOutcome, 'aborted');
        assert.equal(status.runningSince, null);
        assert.equal(status.consecutiveFailures, 0);
      } finally {
        state.close();
      }
    } finally {
      await slow.close();
    }
  });

  it('refuses a manifest with a mistake, naming the file, line and field (exit 2)', async () => {
    const bad = path.join(dir.path, 'bad.yaml');
    await writeFile(bad, 'mirrors:\n  - source: a.git\n    target: b.git\n    schedul: 5m\n');
    const run = await runCli(['fleet', 'run', bad]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, `error: ${bad}:4:5: mirrors[0].schedul: unknown field 'schedul'; did you mean 'schedule'?\n`);
    const json = await runCli(['fleet', 'run', '--json', bad]);
    assert.equal(json.code, 2);
    assert.equal(JSON.parse(json.stdout).error.code, 'MANIFEST_INVALID');
    assert.equal(existsSync(path.join(dir.path, 'bad.state.db')), false);
  });

  it('refuses a manifest that holds a secret, without printing it (exit 2)', async () => {
    const secret = 'glpat-s3cr3tfleetvalue';
    const file = path.join(dir.path, 'secret.yaml');
    await writeFile(file, `mirrors:\n  - source: a.git\n    target: https://oauth2:${secret}@gitlab.example.com/r.git\n`);
    for (const args of [['fleet', 'run', file], ['fleet', 'run', '--json', file], ['fleet', 'status', file]]) {
      const run = await runCli(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, /secret\.yaml:3:13: mirrors\[0\]\.target: the URL holds a password; a manifest never holds secrets/);
      assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret));
    }
    const field = path.join(dir.path, 'token.yaml');
    await writeFile(field, `mirrors:\n  - source: a.git\n    target: b.git\n    token: ${secret}\n`);
    const run = await runCli(['fleet', 'run', field]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /token\.yaml:4:5: mirrors\[0\]\.token: 'token' would hold a secret/);
    assert.ok(!run.stderr.includes(secret));
  });

  it('shows a manifest nothing has run yet as never run, without creating a database', async () => {
    const file = path.join(dir.path, 'fresh.yaml');
    await writeFile(file, 'mirrors:\n  - {id: one, source: a.git, target: b.git}\n');
    const run = await runCli(['fleet', 'status', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^one +- +- +never run +- +-$/m);
    assert.equal(existsSync(path.join(dir.path, 'fresh.state.db')), false);
    const none = await runCli(['fleet', 'status', '--state', path.join(dir.path, 'nothing.db')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^error: no fleet state at .*nothing\.db: run `git-sync fleet run`/);
  });

  it('never loads SQLite or pino for a one-shot sync, only for fleet commands', async () => {
    // A preload that lists, at exit, the CommonJS modules the process loaded.
    const probe = path.join(dir.path, 'loaded.cjs');
    await writeFile(probe, "process.on('exit', () => process.stderr.write('LOADED ' + Object.keys(require.cache).join(' ') + '\\n'));\n");
    const sync = await runCli(['sync', 'source.git', 'out/lazy.git'], { NODE_OPTIONS: `--require ${probe}` }, dir.path);
    assert.equal(sync.code, 0, sync.stderr);
    const syncLoaded = /^LOADED (.*)$/m.exec(sync.stderr)![1]!;
    assert.doesNotMatch(syncLoaded, /better-sqlite3|[/]pino[/]/);
    const fleet = await runCli(['fleet', 'status', '--state', statePath], { NODE_OPTIONS: `--require ${probe}` });
    assert.equal(fleet.code, 0, fleet.stderr);
    assert.match(/^LOADED (.*)$/m.exec(fleet.stderr)![1]!, /better-sqlite3/);
    // The YAML parser is bundled: it must sit only in what the entry imports on demand.
    const entry = readFileSync(path.join(repoRoot, 'dist', 'git-sync.mjs'), 'utf8');
    const eager = [entry, ...[...entry.matchAll(/^import [^;]*? from "\.\/(chunks\/[^"]+)";?$/gm)].map((m) => readFileSync(path.join(repoRoot, 'dist', m[1]!), 'utf8'))];
    for (const text of eager) assert.doesNotMatch(text, /YAMLParseError|better-sqlite3|from "pino"/);
    assert.match(entry, /import\("\.\/chunks\/fleet-[^"]+"\)/);
  });
});
