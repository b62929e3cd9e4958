/**
 * What a user sees with `--progress`: a live line on a terminal that moves while a long relay
 * runs and ends with a summary, stdout untouched (clean JSON with `--json`), and nothing at all
 * off a terminal unless `-v` asks for it. The terminal is a real pseudo-terminal from `script`
 * (util-linux), the relay a real one through `git http-backend`, slowed to 8 MiB/s so it lasts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRepo, pseudoRandomBytes } from '../helpers/fixtures.js';
import { isRpc, throttleResponse, when } from '../helpers/http-faults.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { missingCommand } from '../helpers/system.js';
import { BIN, runCli } from './run-cli.js';

const MIB = 1024 * 1024;

/** util-linux's script(1) (Debian's bsdutils, installed by .ci/run); BSD script takes other flags. */
const onTerminal = { skip: missingCommand('script', 'bsdutils') };

interface TerminalRun {
  code: number;
  /** Everything the program wrote to the terminal (its stderr; stdout when not redirected). */
  screen: string;
}

/** Runs `git-sync args` on a pseudo-terminal; with `stdoutFile`, stdout goes to that file instead. */
function runOnTerminal(args: readonly string[], env: Record<string, string>, stdoutFile?: string): Promise<TerminalRun> {
  const quoted = [process.execPath, BIN, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  // A pseudo-terminal starts with no size; give it a roomy one, as a terminal window would.
  const command = `stty cols 200 rows 40; exec ${quoted}${stdoutFile === undefined ? '' : ` > '${stdoutFile}'`}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (screen += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (screen += text));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, screen }));
  });
}

/** The terminal's text without escape sequences, split into lines at \r and \n. */
function screenLines(screen: string): string[] {
  // eslint-disable-next-line no-control-regex
  const plain = screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  return plain.split(/\r?\n|\r/).map((line) => line.trimEnd()).filter((line) => line.length > 0);
}

function mib(text: string): number {
  const [value, unit] = text.split(' ');
  const scale: Record<string, number> = { B: 1, KiB: 1024, MiB: MIB, GiB: 1024 * MIB };
  return Number(value) * scale[unit];
}

describe('git-sync --progress (CLI)', () => {
  let server: GitHttpServer;
  let scratch: TempDir;

  before(async () => {
    server = await startGitHttpServer({
      onRequest: when((req) => isRpc('git-upload-pack')(req) && (req.url ?? '').startsWith('/big.git/'), throttleResponse(8 * MIB)),
    });
    scratch = makeTempDir('gitsync-progress-');
    const big = await createRepo({ parentDir: server.root, name: 'big' });
    await big.commit('main', { files: { 'one.bin': pseudoRandomBytes(8 * MIB, 1) } });
    await big.commit('main', { files: { 'two.bin': pseudoRandomBytes(8 * MIB, 2) } });
    await big.commit('main', { files: { 'three.bin': pseudoRandomBytes(8 * MIB, 3) } });
    const small = await createRepo({ parentDir: server.root, name: 'small' });
    await small.commit('main', { files: { 'a.txt': 'a\n' } });
    for (const name of ['terminal', 'again', 'piped', 'piped-verbose']) await createRepo({ parentDir: server.root, name });
  });
  after(async () => {
    await server.close();
    await scratch.remove();
  });

  it('draws a live line that moves during a long relay and ends with a summary; stdout stays clean JSON', onTerminal, async () => {
    const out = path.join(scratch.path, 'result.json');
    const run = await runOnTerminal(['sync', '--json', '--progress', server.url('big'), server.url('terminal')], { TERM: 'xterm' }, out);
    assert.equal(run.code, 0, run.screen);

    const json = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(json.relayMode, 'bootstrap');
    assert.equal(json.pushed, 1);
    assert.equal(json.stats, null, 'progress counts bytes, but stats stay out of the result unless asked for');
    assert.ok(!run.screen.includes('"operation"'), 'the JSON went to stdout, not the terminal');
    assert.doesNotMatch(run.screen, /Warning|error:/);

    // The line is redrawn in place (log-update erases the previous frame) ...
    assert.match(run.screen, /\x1b\[2K/);
    const host = `127.0.0.1:${server.port}`;
    const lines = screenLines(run.screen);
    const status = lines.filter((line) => line.startsWith(`${host} → `) && line.includes(' · pushing'));
    // ... and the bytes received from the source grow from frame to frame.
    const amounts = [...new Set(status.map((line) => mib(/^\S+ → ([\d.]+ \w+) @/.exec(line)![1])))];
    assert.ok(amounts.length >= 3, `expected the line to move, saw:\n${status.join('\n')}`);
    assert.deepEqual([...amounts].sort((a, b) => a - b), amounts, 'byte counts only grow');
    assert.match(status[0], new RegExp(`^${host} → [\\d.]+ \\w+ @ [\\d.]+ \\w+/s · [\\d.]+ \\w+ @ [\\d.]+ \\w+/s → ${host} · pushing · \\d+:\\d\\d$`));

    const last = lines[lines.length - 1];
    const summary = new RegExp(`^git-sync: done in \\d+:\\d\\d: ${host} → ([\\d.]+ \\w+) @ [\\d.]+ \\w+/s avg · ([\\d.]+ \\w+) @ [\\d.]+ \\w+/s avg → ${host}$`).exec(last);
    assert.ok(summary, `the last line is the summary: ${last}`);
    assert.ok(mib(summary[1]) >= 24 * MIB && mib(summary[2]) >= 24 * MIB, last);
    assert.match(run.screen, /\x1b\[32m/, 'colour on a terminal without NO_COLOR');
  });

  it('respects NO_COLOR and shows -v lines above the live line', onTerminal, async () => {
    const run = await runOnTerminal(['sync', '-v', '--progress', server.url('small'), server.url('again')], { TERM: 'xterm', NO_COLOR: '1' });
    assert.equal(run.code, 0, run.screen);
    assert.doesNotMatch(run.screen, /\x1b\[\d*(;\d+)*m/, 'no colour codes with NO_COLOR');
    const lines = screenLines(run.screen);
    assert.ok(lines.includes('git-sync: relay: bootstrap (empty-target-managed-refs)'), lines.join('\n'));
    assert.ok(lines.some((line) => /^git-sync: done in \d+:\d\d: /.test(line)));
    assert.ok(lines.some((line) => /^CREATE refs\/heads\/main - [0-9a-f]{8} -> new$/.test(line)), 'the result follows on stdout');
  });

  it('prints nothing off a terminal unless -v asks, then lines and a summary', async () => {
    const quiet = await runCli(['sync', '--progress', '--json', server.url('small'), server.url('piped')]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
    assert.equal(JSON.parse(quiet.stdout).pushed, 1);

    const verbose = await runCli(['sync', '--progress', '-v', server.url('small'), server.url('piped-verbose')]);
    assert.equal(verbose.code, 0, verbose.stderr);
    assert.match(verbose.stderr, /^git-sync: relay: bootstrap \(empty-target-managed-refs\)$/m);
    assert.match(verbose.stderr, /^git-sync: push: 1 ref command\(s\), relaying 1 want\(s\) against 0 have\(s\), atomic$/m);
    assert.match(verbose.stderr, /^git-sync: done in \d+:\d\d: 127\.0\.0\.1:\d+ → /m);
    assert.doesNotMatch(verbose.stderr, /\x1b/, 'no escape codes in a pipe');
    assert.doesNotMatch(verbose.stdout, /git-sync:/, 'stdout holds only the result');
  });
});
