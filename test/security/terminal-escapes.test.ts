/**
 * Issue 20, item 4: nothing a server sends can drive the user's terminal (docs/security.md,
 * "Clean terminals and valid ref names"). A hostile server puts escape sequences (window title,
 * colours, screen clears), carriage returns and 8-bit CSIs (U+009B) in every place git-sync shows:
 * ref names and capabilities, `ERR` packets, sideband progress and errors, hook output and
 * report-status reasons on push, HTTP error bodies and headers. The real CLI runs against it and
 * its stdout and stderr must hold no control character but the line feeds it ends lines with.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProgress, type ProgressTerminal } from '../../src/cli/progress.js';
import { createRepo, type FixtureRepo } from '../helpers/fixtures.js';
import { makeTempDir, type TempDir } from '../helpers/git.js';
import { advertisementSteps, hostilePipe, pktLine, startHostileHttp, type HostileStep } from '../helpers/hostile-server.js';
import { runCli } from '../cli/run-cli.js';

const OID = 'a'.repeat(40);
const ESC = '\u001b';
const BEL = '\u0007';
const CSI8 = '\u009b';
const RLO = '\u202e';

/** Any character a terminal acts on, but LF: C0, DEL, C1, line separators, bidi controls. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/u;

function assertClean(text: string, what: string): void {
  const found = RAW_CONTROL.exec(text);
  assert.equal(found, null, `${what} holds the raw control character U+${found?.[0].codePointAt(0)?.toString(16).padStart(4, '0')}:\n${JSON.stringify(text)}`);
}

/** A smart-HTTP receive-pack advertisement of an empty repository. */
function emptyReceivePackAdvertisement(capabilities: string): HostileStep[] {
  return [{ pkt: '# service=git-receive-pack\n' }, { flush: true }, ...advertisementSteps([], capabilities)];
}

describe('security: server text reaches the terminal escaped (issue 20, item 4)', () => {
  let temp: TempDir;
  let source: FixtureRepo;

  before(async () => {
    temp = makeTempDir('gitsync-escapes-');
    source = await createRepo({ parentDir: temp.path, name: 'source' });
    await source.commit('main', { files: { 'a.txt': 'a\n' } });
  });
  after(async () => temp.remove());

  it('probe shows ref names, capabilities and HEAD with their control characters escaped, and JSON escapes them as \\u', async () => {
    const refs = [
      ['refs/heads/main', OID],
      [`refs/heads/csi${CSI8}31m`, OID],
      [`refs/heads/rtl${RLO}txt.exe`, OID],
    ] as const;
    const peer = await hostilePipe({ uploadPack: advertisementSteps(refs, `ofs-delta symref=HEAD:refs/heads/main agent=evil${ESC}]0;owned${BEL}`) });
    try {
      const text = await runCli(['probe', '--protocol', 'v1', peer.url], peer.env);
      assert.equal(text.code, 0, text.stderr);
      assertClean(text.stdout, 'stdout');
      assertClean(text.stderr, 'stderr');
      assert.match(text.stdout, /^a{40} refs\/heads\/csi<U\+009B>31m$/m);
      assert.match(text.stdout, /^a{40} refs\/heads\/rtl<U\+202E>txt\.exe$/m);
      assert.match(text.stdout, /^capabilities: .*agent=evil\^\[\]0;owned\^G/m);

      const json = await runCli(['probe', '--protocol', 'v1', '--json', peer.url], peer.env);
      assert.equal(json.code, 0, json.stderr);
      assertClean(json.stdout, 'JSON stdout');
      assert.match(json.stdout, /csi\\u009b31m/);
      const parsed = JSON.parse(json.stdout) as { refs: { name: string }[]; source: { capabilities: string[] } };
      assert.deepEqual(parsed.refs.map((ref) => ref.name).sort(), refs.map(([name]) => name).sort(), 'JSON keeps the names exact');
      assert.ok(parsed.source.capabilities.includes(`agent=evil${ESC}]0;owned${BEL}`));
    } finally {
      await peer.close();
    }
  });

  it('an ERR packet is one escaped error line: no title, no carriage return over it', async () => {
    const peer = await hostilePipe({ uploadPack: [{ pkt: `ERR no access${ESC}]0;owned${BEL}\r${ESC}[2Kerror: all fine\n` }] });
    try {
      const run = await runCli(['probe', '--protocol', 'v1', peer.url], peer.env);
      assert.equal(run.code, 1);
      assertClean(run.stderr, 'stderr');
      assert.deepEqual(run.stderr.split('\n').filter(Boolean), [`error: remote error: no access^[]0;owned^G^M^[[2Kerror: all fine [source, discover]`]);
    } finally {
      await peer.close();
    }
  });

  it("what an ssh child says on stderr (the remote end's words) is escaped in the error line", async () => {
    const command = `printf 'fatal: \\033]0;owned\\007 denied\\r\\n\\033[2Kall fine' >&2; exit 128; :`;
    const run = await runCli(['probe', '--retries', '0', 'ssh://hostile.invalid/repo.git'], { GIT_SSH_COMMAND: command, GIT_SSH_VARIANT: 'ssh' });
    assert.equal(run.code, 1);
    assertClean(run.stderr, 'stderr');
    assert.match(run.stderr, /^error: .*fatal: \^\[\]0;owned\^G denied.*\^\[\[2Kall fine/m);
  });

  it('sideband progress (-v) and a sideband error are escaped', async () => {
    const peer = await hostilePipe({
      uploadPack: [
        ...advertisementSteps([['refs/heads/main', OID]], 'side-band-64k ofs-delta'),
        { read: 'until-flush' },
        { pkt: 'NAK\n' },
        { band: 2, data: `${ESC}]0;owned${BEL}Counting objects: 1, done.\n` },
        { band: 2, data: `${CSI8}2JCompressing objects: 50%\r` },
        { band: 2, data: `${ESC}[1ACompressing objects: 100%, done.\n` },
        { band: 3, data: `fatal${ESC}[31m: gone\r\n` },
      ],
    });
    try {
      const run = await runCli(['fetch', '--protocol', 'v1', '-v', peer.url], peer.env);
      assert.equal(run.code, 1);
      assertClean(run.stderr, 'stderr');
      assert.match(run.stderr, /^source: \^\[\]0;owned\^GCounting objects: 1, done\.$/m);
      assert.match(run.stderr, /^source: \^\[\[1ACompressing objects: 100%, done\.$/m);
      assert.match(run.stderr, /^error: remote error: fatal\^\[\[31m: gone \[source, fetch\]$/m);
    } finally {
      await peer.close();
    }
  });

  it('hook output (-v) and report-status reasons from a target are escaped', async () => {
    const report = Buffer.concat([pktLine('unpack ok\n'), pktLine(`ng refs/heads/main denied${ESC}[31m by\r${ESC}]0;owned${BEL}policy\n`), Buffer.from('0000')]);
    const target = await startHostileHttp({
      advertisement: emptyReceivePackAdvertisement('report-status side-band-64k ofs-delta'),
      receivePack: [{ read: 'all' }, { band: 2, data: `hook: ${ESC}]0;owned${BEL}checking${CSI8}2J\n` }, { band: 1, data: report }, { flush: true }],
    });
    try {
      const run = await runCli(['sync', '-v', '--branch', 'main', source.path, target.url]);
      assert.equal(run.code, 1, run.stderr);
      assertClean(run.stdout, 'stdout');
      assertClean(run.stderr, 'stderr');
      assert.match(run.stderr, /^target: hook: \^\[\]0;owned\^Gchecking<U\+009B>2J$/m);
      assert.match(run.stderr, /^error: target rejected ref: refs\/heads\/main \(denied\^\[\[31m by\^M\^\[\]0;owned\^Gpolicy\)/m);
      assert.ok(target.requests.some((line) => line.startsWith('POST /repo.git/git-receive-pack')), target.requests.join('\n'));
    } finally {
      await target.close();
    }
  });

  it('an HTTP error body and a request-id header (8-bit CSI) are escaped, in the error and the HTTP trace', async () => {
    const server = await startHostileHttp({
      status: 500,
      headers: { 'content-type': 'text/plain', 'x-request-id': `req${CSI8}31m` },
      advertisement: [{ send: `upstream${ESC}]0;owned${BEL} failed\r\n${ESC}[2Kerror: fake line\n` }],
    });
    try {
      const run = await runCli(['probe', '--retries', '0', server.url], { GITSYNC_HTTP_TRACE: '1' });
      assert.equal(run.code, 1);
      assertClean(run.stderr, 'stderr');
      const errors = run.stderr.split('\n').filter((line) => line.startsWith('error:'));
      assert.equal(errors.length, 1, run.stderr);
      assert.match(errors[0]!, /HTTP 500: upstream\^\[\]0;owned\^G failed \^\[\[2Kerror: fake line/);
      assert.match(errors[0]!, /x-request-id: req<U\+009B>31m/i);
      assert.match(run.stderr, /^git-sync: http source < 500 GET .*\[x-request-id: req<U\+009B>31m\]$/im);
    } finally {
      await server.close();
    }
  });

  it('the live display on a terminal escapes server lines, decisions and labels, and keeps its own drawing', async () => {
    let written = '';
    const terminal: ProgressTerminal = { write: (text: string) => (written += text), columns: 200, rows: 24 };
    const view = await startProgress({
      progress: true,
      verbose: true,
      terminal,
      stderr: () => assert.fail('a terminal view writes to the terminal'),
      env: { NO_COLOR: '1' },
      labels: { source: `host${ESC}]0;label${BEL}`, target: 'mirror' },
    });
    assert.ok(view !== null);
    view.listener({ kind: 'server', side: 'source', message: `${ESC}]0;owned${BEL}Counting`, transient: true });
    view.listener({ kind: 'server', side: 'target', message: `hook ${ESC}[2J${CSI8}31m done`, transient: false });
    view.listener({ kind: 'decision', message: `plan: refs/heads/x${RLO}y` });
    view.listener({ kind: 'transfer', side: 'source', bytesSent: 0, bytesReceived: 10, elapsedMillis: 10, final: true });
    await new Promise((resolve) => setTimeout(resolve, 150));
    view.finish(false);
    assert.match(written, /\^\[\]0;owned\^GCounting/);
    assert.match(written, /target: hook \^\[\[2J<U\+009B>31m done/);
    assert.match(written, /plan: refs\/heads\/x<U\+202E>y/);
    assert.match(written, /host\^\[\]0;label\^G/);
    for (const raw of [`${ESC}]0;`, `${ESC}[2J`, CSI8, RLO]) assert.ok(!written.includes(raw), `raw ${JSON.stringify(raw)} reached the terminal`);
  });
});
