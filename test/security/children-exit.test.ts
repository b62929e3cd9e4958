/**
 * Issue 20, item 11: the processes a run starts (ssh, git for local paths and their hooks,
 * remote helpers) lead their own process groups, out of reach of the terminal's Ctrl-C; they
 * are ended on every exit path: SIGINT, SIGTERM, and a library host that exits mid-run
 * (docs/security.md, "git's own protocol rules").
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startCli } from '../cli/run-cli.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { forEachRef, makeTempDir, type TempDir } from '../helpers/git.js';
import { waitUntilEmpty, waitUntilPresent } from '../helpers/processes.js';
import { repoRoot } from '../helpers/streams.js';

/** Whether `pid` is a live process (a zombie is not). */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pid a stand-in program wrote to `file`, once it has. */
async function pidFrom(file: string): Promise<number> {
  await waitUntilPresent(async () => (existsSync(file) && readFileSync(file, 'utf8').trim() !== '' ? [true] : []), 30_000);
  return Number(readFileSync(file, 'utf8').trim());
}

describe('children are ended on every exit path', () => {
  let dir: TempDir;
  let source: FixtureRepo;
  /** Processes the stand-ins started, killed by the test if git-sync left them running. */
  const started: number[] = [];
  before(async () => {
    dir = makeTempDir('gitsync-children-exit-');
    source = await createRepo({ parentDir: dir.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
  });
  afterEach(async () => {
    for (const pid of started.splice(0)) if (await alive(pid)) process.kill(pid, 'SIGKILL');
  });
  after(() => dir.remove());

  /** Runs the CLI, waits for the stand-in's pid, sends `signal`, and checks that the stand-in ends. */
  async function interrupt(args: string[], env: Record<string, string>, pidFile: string, signal: NodeJS.Signals, exitCode: number): Promise<void> {
    const cli = startCli(args, env);
    const pid = await pidFrom(pidFile);
    started.push(pid);
    assert.equal(await alive(pid), true);
    cli.kill(signal);
    const run = await cli.done;
    assert.equal(run.code, exitCode, run.stderr);
    assert.match(run.stderr, new RegExp(`^error: interrupted by ${signal}`, 'm'));
    assert.deepEqual(await waitUntilEmpty(async () => ((await alive(pid)) ? [pid] : []), 10_000), [], `process ${pid} outlived git-sync`);
  }

  it('SIGINT while ssh (GIT_SSH_COMMAND) is connecting: exit 130, ssh ended', async () => {
    const pidFile = path.join(dir.path, 'ssh.pid');
    await interrupt(['probe', 'ssh://hostile.invalid/repo.git'], { GIT_SSH_COMMAND: `echo $$ > '${pidFile}'; exec sleep 300 #` }, pidFile, 'SIGINT', 130);
  });

  it('SIGTERM while a remote helper runs: exit 143, helper ended', async () => {
    const bin = path.join(dir.path, 'bin');
    await mkdir(bin, { recursive: true });
    const pidFile = path.join(dir.path, 'helper.pid');
    writeFileSync(path.join(bin, 'git-remote-hang'), `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 300\n`);
    chmodSync(path.join(bin, 'git-remote-hang'), 0o755);
    await interrupt(['probe', 'hang://example.invalid/repo.git'], { PATH: `${bin}${path.delimiter}${process.env.PATH}` }, pidFile, 'SIGTERM', 143);
  });

  it("SIGINT while a local target's pre-receive hook runs: the hook is ended, no ref moves", async () => {
    const target = await createRepo({ parentDir: dir.path, name: 'target' });
    const pidFile = path.join(dir.path, 'hook.pid');
    const hook = path.join(target.path, 'hooks', 'pre-receive');
    writeFileSync(hook, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 300\n`);
    chmodSync(hook, 0o755);
    await interrupt(['sync', source.path, target.path], {}, pidFile, 'SIGINT', 130);
    assert.equal((await forEachRef(target.path)).size, 0);
  });

  it('a program using the library that exits mid-run leaves no child behind', async () => {
    const pidFile = path.join(dir.path, 'library-ssh.pid');
    const program = [
      `const { probe } = await import(${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'index.js'))});`,
      `const { existsSync, readFileSync } = await import('node:fs');`,
      `probe({ source: { url: 'ssh://hostile.invalid/repo.git' } }).catch(() => undefined);`,
      // Once the pid is written, not once the file exists: the shell creates it before it writes,
      // and a host that exits in between ends the stand-in before it has said who it is.
      `setInterval(() => { if (existsSync(${JSON.stringify(pidFile)}) && readFileSync(${JSON.stringify(pidFile)}, 'utf8').trim() !== '') process.exit(0); }, 20);`,
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], {
      env: { ...process.env, GIT_SSH_COMMAND: `echo $$ > '${pidFile}'; exec sleep 300 #` },
      stdio: 'ignore',
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    const pid = await pidFrom(pidFile);
    started.push(pid);
    assert.deepEqual(await waitUntilEmpty(async () => ((await alive(pid)) ? [pid] : []), 10_000), [], `process ${pid} outlived its host`);
  });
});
