/**
 * The fault-injection harness itself: the engine's framing, request classification and faults on
 * bytes made by hand, then every carrier (the HTTP proxy, the `git` and ssh wrappers, the git://
 * proxy) with the real git client on one end and the real server on the other, so the faults the
 * matrix (test/faults/) relies on are known to do what they say.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  Conversation,
  FaultEngine,
  Framer,
  pkt,
  type ConversationInfo,
  type Rule,
  type Sink,
  type Unit,
} from '../helpers/fault-engine.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startStreamFaults, type StreamFaults } from '../helpers/fault-streams.js';
import { createRepo, pseudoRandomBytes, type FixtureRepo } from '../helpers/fixtures.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { forEachRef, git, GitCommandError, isolatedGitEnv, makeTempDir, runGit } from '../helpers/git.js';
import { processesMatching, waitUntilEmpty } from '../helpers/processes.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/http-server.js';
import { SSHD_BINARY, startSshServer, type SshServer } from '../helpers/sshd.js';
import { missingSystemTool, startAll } from '../helpers/system.js';

const OID_A = 'a'.repeat(40);
const OID_B = 'b'.repeat(40);

/** A sink that records what it got and how the direction ended. */
function recordingSink(): Sink & { bytes(): Buffer; ending: string | null } {
  const chunks: Buffer[] = [];
  let goneNow!: () => void;
  const sink = {
    ending: null as string | null,
    gone: new Promise<void>((resolve) => (goneNow = resolve)),
    async write(chunk: Buffer) {
      chunks.push(Buffer.from(chunk));
    },
    end() {
      sink.ending ??= 'end';
    },
    fail() {
      sink.ending ??= 'fail';
    },
    close() {
      sink.ending ??= 'close';
      goneNow();
    },
    reset() {
      sink.ending ??= 'reset';
      goneNow();
    },
    bytes: () => Buffer.concat(chunks),
  };
  return sink;
}

async function* inChunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

function sideband(band: number, payload: Buffer): Buffer {
  return pkt(Buffer.concat([Buffer.from([band]), payload]));
}

/** A v2 fetch response: acknowledgments, then the packfile section in band-1 packets of `size`. */
function fetchResponse(pack: Buffer, size: number): Buffer {
  const parts = [pkt('packfile\n'), sideband(2, Buffer.from('Counting objects\n'))];
  for (let offset = 0; offset < pack.length; offset += size) parts.push(sideband(1, pack.subarray(offset, offset + size)));
  parts.push(Buffer.from('0000'));
  return Buffer.concat(parts);
}

const v2Info = (service: ConversationInfo['service'] = 'git-upload-pack'): ConversationInfo => ({
  carrier: 'stream',
  repo: 'repo',
  service,
  protocol: service === 'git-upload-pack' ? 'v2' : 'v0',
  advertisement: true,
});

describe('fault engine: framing and classification', () => {
  it('splits pkt-lines the same whatever the chunking, and passes a bare pack on raw', () => {
    const stream = Buffer.concat([pkt('one\n'), Buffer.from('0000'), Buffer.from('0001'), pkt('two\n'), Buffer.from('PACK\x00\x00\x00\x02rest')]);
    for (const size of [1, 3, 7, stream.length]) {
      const framer = new Framer();
      const units: Unit[] = [];
      for (let offset = 0; offset < stream.length; offset += size) units.push(...framer.push(stream.subarray(offset, offset + size)));
      units.push(...framer.end());
      assert.deepEqual(units.slice(0, 4).map((unit) => unit.type), ['data', 'flush', 'delim', 'data']);
      assert.ok(units.slice(4).every((unit) => unit.type === 'raw'), `size ${size}`);
      assert.deepEqual(Buffer.concat(units.map((unit) => unit.bytes)), stream);
    }
  });

  it('tells ls-refs, fetches and a farewell apart on one stateful v2 connection', async () => {
    const engine = new FaultEngine();
    const conversation = new Conversation(engine, v2Info());
    const requests = Buffer.concat([
      pkt('command=ls-refs\n'), Buffer.from('0001'), pkt('peel\n'), Buffer.from('0000'),
      pkt('command=fetch\n'), Buffer.from('0001'), pkt(`want ${OID_A}\n`), pkt('done\n'), Buffer.from('0000'),
      pkt('command=fetch\n'), Buffer.from('0001'), pkt(`want ${OID_B}\n`), pkt('done\n'), Buffer.from('0000'),
      Buffer.from('0000'),
    ]);
    const sink = recordingSink();
    await conversation.pipeRequest(inChunks(requests, 5), sink);
    assert.deepEqual(sink.bytes(), requests);
    assert.deepEqual(conversation.exchanges.map((e) => `${e.phase}#${e.index}`), ['advertisement#1', 'ls-refs#1', 'fetch#1', 'fetch#2']);
    const lsRefs = pkt('command=ls-refs\n').length + 4 + pkt('peel\n').length + 4;
    const fetch = pkt('command=fetch\n').length + 4 + pkt(`want ${OID_A}\n`).length + pkt('done\n').length + 4;
    assert.deepEqual(conversation.exchanges.map((e) => e.requestBytes), [0, lsRefs, fetch, fetch]);
  });

  it('reads a v1 fetch as one request through its flush and `done`, and a push as commands then a raw pack', async () => {
    const engine = new FaultEngine();
    const fetch = new Conversation(engine, { ...v2Info(), protocol: 'v0' });
    const v1 = Buffer.concat([pkt(`want ${OID_A} side-band-64k\n`), Buffer.from('0000'), pkt(`have ${OID_B}\n`), pkt('done\n')]);
    await fetch.pipeRequest(inChunks(v1, 4), recordingSink());
    assert.deepEqual(fetch.exchanges.map((e) => [e.phase, e.requestBytes]), [['advertisement', 0], ['fetch', v1.length]]);

    const push = new Conversation(engine, v2Info('git-receive-pack'));
    const pack = Buffer.from('PACK0000rest of a pack: 0000 and 0001 are not pkt-lines here');
    const body = Buffer.concat([pkt(`${OID_A} ${OID_B} refs/heads/main\0report-status\n`), Buffer.from('0000'), pack]);
    const sink = recordingSink();
    await push.pipeRequest(inChunks(body, 6), sink);
    assert.deepEqual(sink.bytes(), body);
    assert.deepEqual(push.exchanges.map((e) => [e.phase, e.requestBytes]), [['advertisement', 0], ['push', body.length]]);
  });
});

describe('fault engine: faults', () => {
  const pack = pseudoRandomBytes(3000, 'pack');

  async function respond(rules: Rule[], response: Buffer, chunk = 1000): Promise<{ sink: ReturnType<typeof recordingSink>; engine: FaultEngine }> {
    const engine = new FaultEngine();
    engine.arm(rules);
    const conversation = new Conversation(engine, v2Info());
    const sink = recordingSink();
    const request = Buffer.concat([pkt('command=fetch\n'), Buffer.from('0001'), pkt('done\n'), Buffer.from('0000')]);
    await conversation.pipeRequest(inChunks(request, 100), recordingSink());
    await conversation.pipeResponse(inChunks(response, chunk), sink);
    return { sink, engine };
  }

  it('flips exactly one pack byte inside a band-1 payload, framing untouched', async () => {
    const response = fetchResponse(pack, 700);
    const { sink, engine } = await respond([{ select: { phase: 'fetch' }, direction: 'response', fault: { kind: 'flip', packOffset: 1500 } }], response, 333);
    const got = sink.bytes();
    assert.equal(got.length, response.length);
    const differing = [...got.keys()].filter((i) => got[i] !== response[i]);
    assert.equal(differing.length, 1);
    // Pack byte 1500 is byte 100 of the third band-1 packet (700 + 700 + 100).
    const thirdPacket = response.indexOf(sideband(1, pack.subarray(1400, 2100)));
    assert.equal(differing[0], thirdPacket + 5 + 100);
    assert.equal(got[differing[0]!], response[differing[0]!]! ^ 0xff);
    assert.deepEqual(engine.log.map((e) => e.faults), [[], ['response: flip pack byte 1500']]);
  });

  it('closes, resets or truncates after exactly n bytes; stalls and goes on, or stops when the peer goes', async () => {
    const response = fetchResponse(pack, 700);
    for (const kind of ['close', 'reset', 'truncate'] as const) {
      const { sink } = await respond([{ select: { phase: 'fetch' }, direction: 'response', fault: { kind, at: { bytes: 1234 } } }], response, 500);
      assert.deepEqual(sink.bytes(), response.subarray(0, 1234), kind);
      assert.equal(sink.ending, kind === 'truncate' ? 'end' : kind);
    }
    const { sink: stalled } = await respond([{ select: { phase: 'fetch' }, direction: 'response', fault: { kind: 'stall', at: { packBytes: 10 }, millis: 20 } }], response);
    assert.deepEqual(stalled.bytes(), response);
    assert.equal(stalled.ending, 'end');
  });

  it('sends an ERR pkt-line or a malformed length at a pkt-line, then ends as a failing server', async () => {
    const response = fetchResponse(pack, 700);
    const { sink } = await respond([{ select: { phase: 'fetch' }, direction: 'response', fault: { kind: 'err', at: { packets: 1 }, message: 'boom' } }], response);
    assert.deepEqual(sink.bytes(), Buffer.concat([pkt('packfile\n'), pkt('ERR boom\n')]));
    assert.equal(sink.ending, 'fail');
    const { sink: bad } = await respond([{ select: { phase: 'fetch' }, direction: 'response', fault: { kind: 'bad-length', at: { packets: 0 } } }], response);
    assert.match(bad.bytes().toString('latin1'), /^00zz/);
  });

  it('cuts a report-status inside its sideband packet, re-framed, or garbles `ok` lines', async () => {
    const report = Buffer.concat([pkt('unpack ok\n'), pkt('ok refs/heads/main\n'), Buffer.from('0000')]);
    const response = Buffer.concat([sideband(1, report), Buffer.from('0000')]);
    const run = async (rule: Rule): Promise<ReturnType<typeof recordingSink>> => {
      const engine = new FaultEngine();
      engine.arm([rule]);
      const conversation = new Conversation(engine, v2Info('git-receive-pack'));
      await conversation.pipeRequest(inChunks(Buffer.concat([pkt(`${OID_A} ${OID_B} refs/heads/main\0report-status\n`), Buffer.from('0000')]), 50), recordingSink());
      const sink = recordingSink();
      await conversation.pipeResponse(inChunks(response, 7), sink);
      return sink;
    };
    const cut = await run({ select: { phase: 'push' }, direction: 'response', fault: { kind: 'cut-report', reportBytes: 14 } });
    assert.deepEqual(cut.bytes(), sideband(1, pkt('unpack ok\n')));
    assert.equal(cut.ending, 'close');
    const garbled = await run({ select: { phase: 'push' }, direction: 'response', fault: { kind: 'garble-report' } });
    assert.deepEqual(garbled.bytes(), Buffer.from(response.toString('latin1').replace('ok refs/', 'xx refs/'), 'latin1'));
  });

  it('applies a rule to the exchange it selects only, as many times as it says', async () => {
    const engine = new FaultEngine();
    const armed = engine.arm([{ select: { repo: 'repo', phase: 'fetch', index: 2 }, direction: 'request', fault: { kind: 'close', at: { bytes: 0 } } }]);
    const conversation = new Conversation(engine, v2Info());
    const fetch = Buffer.concat([pkt('command=fetch\n'), Buffer.from('0001'), pkt('done\n'), Buffer.from('0000')]);
    const sink = recordingSink();
    await conversation.pipeRequest(inChunks(Buffer.concat([fetch, fetch, fetch]), 64), sink);
    assert.deepEqual(sink.bytes(), fetch, 'the second fetch is closed at its first byte, the third never comes');
    assert.equal(sink.ending, 'close');
    assert.deepEqual(armed.fired.map((e) => `${e.phase}#${e.index}`), ['fetch#2']);
    armed.disarm();
    assert.equal(engine.armed, false);
  });

  it("selects a request by its first pkt-line, and says which repositories its armed rules name", async () => {
    const engine = new FaultEngine();
    const armed = engine.arm([{ select: { repo: 'target', phase: 'push', firstLine: /^(?!0{40} )\S+ \S+ refs\/gitsync\// }, direction: 'request', fault: { kind: 'close', at: { bytes: 0 } } }]);
    assert.deepEqual([...(engine.armedRepos as ReadonlySet<string>)], ['target']);
    const push = async (old: string): Promise<string | null> => {
      const conversation = new Conversation(engine, { ...v2Info('git-receive-pack'), repo: 'target', advertisement: false });
      const sink = recordingSink();
      await conversation.pipeRequest(inChunks(Buffer.concat([pkt(`${old} ${OID_B} refs/gitsync/bootstrap/heads/main\0report-status\n`), Buffer.from('0000')]), 50), sink);
      return sink.ending;
    };
    assert.equal(await push('0'.repeat(40)), 'end', 'a checkpoint ref created: not selected');
    assert.equal(await push(OID_A), 'close', 'a checkpoint ref moved on: selected');
    const recording = engine.arm([]);
    assert.equal(engine.armedRepos, 'all');
    recording.disarm();
    armed.disarm();
    assert.equal(engine.armed, false);
  });
});

/** A source with a few commits of incompressible content, and an empty target, under `root`. */
async function repos(root: string): Promise<{ source: FixtureRepo; target: FixtureRepo }> {
  const source = await createRepo({ parentDir: root, name: 'source' });
  for (let i = 0; i < 3; i++) await source.commit('main', { files: { [`blob-${i}.bin`]: pseudoRandomBytes(20_000, `blob${i}`) } });
  const target = await createRepo({ parentDir: root, name: 'target' });
  return { source, target };
}

async function gitFails(args: string[], options: Parameters<typeof runGit>[1] = {}): Promise<string> {
  try {
    await runGit(args, options);
  } catch (error) {
    assert.ok(error instanceof GitCommandError);
    return error.stderr;
  }
  assert.fail(`git ${args.join(' ')} succeeded`);
}

/** Runs git under `rules` (disarmed whatever happens), expecting it to fail: its stderr, and where the rules fired. */
async function failsUnder(engine: FaultEngine, rules: Rule[], args: string[], options: Parameters<typeof runGit>[1] = {}): Promise<{ stderr: string; fired: number }> {
  const armed = engine.arm(rules);
  try {
    return { stderr: await gitFails(args, options), fired: armed.fired.length };
  } finally {
    armed.disarm();
  }
}

describe('fault proxy in front of git http-backend, with the git client', () => {
  let server: GitHttpServer;
  let proxy: FaultProxy;
  let source: FixtureRepo;
  const engine = new FaultEngine();

  before(async () => {
    server = await startGitHttpServer();
    proxy = await startFaultProxy({ upstream: server.baseUrl, engine });
    ({ source } = await repos(server.root));
  });
  after(async () => {
    await proxy?.close();
    await server?.close();
  });

  it('carries clones (v0 and v2) and pushes, and tells their exchanges apart', async () => {
    for (const protocol of ['0', '2']) {
      engine.clearLog();
      const dir = makeTempDir();
      await git(['clone', '--quiet', '--bare', proxy.url('source'), `${dir.path}/copy.git`], { config: { 'protocol.version': protocol } });
      assert.deepEqual(await forEachRef(`${dir.path}/copy.git`, ['refs/heads/']), await forEachRef(source.path, ['refs/heads/']));
      const phases = engine.log.map((e) => `${e.service} ${e.phase}#${e.index} ${e.protocol}`);
      assert.deepEqual(phases, protocol === '2'
        ? ['git-upload-pack advertisement#1 v2', 'git-upload-pack ls-refs#1 v2', 'git-upload-pack fetch#1 v2']
        : ['git-upload-pack advertisement#1 v0', 'git-upload-pack fetch#1 v0']);
      await dir.remove();
    }
    engine.clearLog();
    await git(['push', '--quiet', proxy.url('target'), 'main:refs/heads/main'], { cwd: source.path });
    assert.deepEqual(engine.exchangesOf('target').map((e) => `${e.service} ${e.phase}`), ['git-receive-pack advertisement', 'git-receive-pack push']);
    assert.equal((await forEachRef(`${server.root}/target.git`)).get('refs/heads/main'), await source.revParse('main'));
  });

  it('breaks what git sees: a flipped pack byte, an ERR, a 503 with Retry-After, a hang-up, an early 413', async () => {
    const clone = (protocol = '2'): string[] => ['-c', `protocol.version=${protocol}`, 'clone', '--quiet', '--bare', proxy.url('source'), `${makeTempDir().path}/copy.git`];
    const flipped = await failsUnder(engine, [{ select: { repo: 'source', phase: 'fetch' }, direction: 'response', fault: { kind: 'flip', packOffset: 5000 } }], clone());
    assert.match(flipped.stderr, /pack|index-pack|inflate|corrupt|SHA1|checksum/i);
    assert.equal(flipped.fired, 1);

    const err = await failsUnder(engine, [{ select: { repo: 'source', phase: 'advertisement' }, direction: 'response', fault: { kind: 'err', at: { packets: 0 }, message: 'no way' } }], clone('0'));
    assert.match(err.stderr, /remote error: no way/);

    server.clearLog();
    const unavailable = await failsUnder(engine, [{ select: { repo: 'source', phase: 'advertisement' }, direction: 'response', fault: { kind: 'status', status: 503, retryAfter: 1 } }], clone());
    assert.match(unavailable.stderr, /503/);
    assert.equal(server.requests.length, 0, 'the server was never asked');

    const hungUp = await failsUnder(engine, [{ select: { repo: 'source', phase: 'advertisement' }, direction: 'response', fault: { kind: 'hang-up' } }], clone());
    assert.match(hungUp.stderr, /empty reply/i);

    const before_ = await forEachRef(`${server.root}/target.git`);
    await source.commit('main', { files: { 'big.bin': pseudoRandomBytes(300_000, 'big') } });
    const refused = await failsUnder(
      engine,
      [{ select: { repo: 'target', phase: 'push' }, direction: 'response', fault: { kind: 'early-status', status: 413, afterRequestBytes: 50_000 } }],
      ['-c', 'http.postBuffer=65536', 'push', '--quiet', proxy.url('target'), 'main:refs/heads/main'],
      { cwd: source.path },
    );
    assert.match(refused.stderr, /413|hung up|disconnect/i);
    assert.equal(refused.fired, 1);
    await proxy.idle();
    await server.idle();
    assert.deepEqual(await forEachRef(`${server.root}/target.git`), before_);
  });

  it('lets a push land, then answers a gateway error: the target moved though git was told it failed', async () => {
    const before_ = await forEachRef(`${server.root}/target.git`);
    const gateway = await failsUnder(
      engine,
      [{ select: { repo: 'target', phase: 'push' }, direction: 'response', fault: { kind: 'status-after-upstream', status: 502 } }],
      ['push', '--quiet', proxy.url('target'), 'main:refs/heads/main'],
      { cwd: source.path },
    );
    assert.match(gateway.stderr, /502/);
    await server.idle();
    assert.notDeepEqual(await forEachRef(`${server.root}/target.git`), before_);
    assert.equal((await forEachRef(`${server.root}/target.git`)).get('refs/heads/main'), await source.revParse('main'));
  });
});

describe('stream carriers: the git wrapper, the git:// proxy, the ssh wrapper', () => {
  const engine = new FaultEngine();
  let streams: StreamFaults;
  let daemon: GitDaemon;
  let root: string;
  let source: FixtureRepo;
  let env: Record<string, string>;
  /** The git client finds its exec-path's `git` before PATH: name the wrapper outright. */
  const uploadPack = (): string => `--upload-pack=${streams.binDir}/git upload-pack`;

  before(async () => {
    [streams, daemon] = await startAll(() => startStreamFaults({ engine }), () => startGitDaemon());
    root = daemon.root;
    ({ source } = await repos(root));
    env = { PATH: `${streams.binDir}:${process.env['PATH']}` };
  });
  after(async () => {
    await streams?.close();
    await daemon?.close();
  });

  it('runs upload-pack and receive-pack from PATH through the engine while armed, exit status included', async () => {
    const armed = engine.arm([]);
    engine.clearLog();
    const out = await git(['ls-remote', uploadPack(), source.path], { env });
    assert.match(out, /refs\/heads\/main/);
    await git(['push', '--quiet', `--receive-pack=${streams.binDir}/git receive-pack`, `${root}/target.git`, 'main:refs/heads/main'], { cwd: source.path, env });
    assert.deepEqual(engine.log.map((e) => `${e.repo} ${e.phase}`), ['source advertisement', 'source ls-refs', 'target advertisement', 'target push']);
    // A repository that does not exist: the real upload-pack's failure comes back as it was.
    assert.match(await gitFails(['ls-remote', uploadPack(), `${root}/nope.git`], { env }), /does not appear to be a git repository/);
    armed.disarm();
    await streams.idle();
    assert.equal(streams.openConversations(), 0);
  });

  it('kills, cuts and corrupts a local service as the rules say', async () => {
    const clone = (): string[] => ['clone', '--bare', '--no-local', uploadPack(), source.path, `${makeTempDir().path}/copy.git`];
    const killed = await failsUnder(engine, [{ select: { repo: 'source', phase: 'fetch' }, direction: 'response', fault: { kind: 'reset', at: { packBytes: 100 } } }], clone(), { env });
    assert.match(killed.stderr, /early EOF|unexpected|hung up|index-pack/i);
    assert.equal(killed.fired, 1);
    const flipped = await failsUnder(engine, [{ select: { repo: 'source', phase: 'fetch' }, direction: 'response', fault: { kind: 'flip', packOffset: 200 } }], clone(), { env });
    assert.match(flipped.stderr, /pack|inflate|corrupt|index-pack/i);
    const truncated = await failsUnder(
      engine,
      [{ select: { repo: 'source', phase: 'advertisement' }, direction: 'response', fault: { kind: 'truncate', at: { packets: 1 } } }],
      ['ls-remote', uploadPack(), source.path],
      { env },
    );
    assert.match(truncated.stderr, /expected flush|hung up|unexpected|EOF/i);
    assert.equal(truncated.fired, 1);
    await streams.idle();
    assert.equal(streams.openConversations(), 0);
  });

  it('intercepts only the repositories an armed rule names; a stall lets go once its client is killed', async () => {
    const notThis = engine.arm([{ select: { repo: 'elsewhere', phase: 'fetch' }, direction: 'response', fault: { kind: 'close', at: { bytes: 0 } } }]);
    try {
      engine.clearLog();
      assert.match(await git(['ls-remote', uploadPack(), source.path], { env }), /refs\/heads\/main/);
      assert.deepEqual(engine.log, [], 'source is named by no rule: the real upload-pack ran directly');
    } finally {
      notThis.disarm();
    }
    // A fetch request stalled for ever in the hub; then its client goes (killed, as git-sync
    // kills a transport it gave up on): the hub must let go, and stop the real upload-pack.
    const stalled = engine.arm([{ select: { repo: 'source', phase: 'fetch' }, direction: 'request', fault: { kind: 'stall', at: { packets: 1 } } }]);
    const client = spawn('git', ['clone', '--bare', '--no-local', uploadPack(), source.path, `${makeTempDir().path}/copy.git`], {
      env: { ...isolatedGitEnv(), ...env },
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => client.once('close', resolve));
    try {
      while (stalled.fired.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      process.kill(-client.pid!, 'SIGKILL');
      await exited;
      await streams.idle(['source']);
      assert.equal(streams.openConversations(['source']), 0);
      assert.deepEqual(await waitUntilEmpty(() => processesMatching(source.path)), []);
    } finally {
      stalled.disarm();
      if (client.exitCode === null && client.signalCode === null) process.kill(-client.pid!, 'SIGKILL');
    }
  });

  it('proxies git daemon and breaks it', async () => {
    const proxy = await streams.daemonProxy(daemon.port);
    try {
      assert.match(await git(['ls-remote', proxy.url('source')]), /refs\/heads\/main/);
      const closed = await failsUnder(
        engine,
        [{ select: { repo: 'source', phase: 'fetch' }, direction: 'response', fault: { kind: 'close', at: { packBytes: 100 } } }],
        ['clone', '--bare', proxy.url('source'), `${makeTempDir().path}/copy.git`],
      );
      assert.match(closed.stderr, /early EOF|unexpected|hung up|index-pack/i);
      assert.equal(closed.fired, 1);
      await streams.idle();
      assert.equal(streams.openConversations(), 0);
    } finally {
      await proxy.close();
    }
  });

  describe('over ssh', { skip: missingSystemTool(SSHD_BINARY, 'openssh-server') }, () => {
    let sshd: SshServer;
    let sshStreams: StreamFaults;
    before(async () => {
      sshd = await startSshServer();
      sshStreams = await startStreamFaults({ engine, realSshCommand: sshd.sshCommand });
    });
    after(async () => {
      await sshStreams?.close();
      await sshd?.close();
    });

    it('carries ssh through the engine, and a reset looks like a lost connection', async () => {
      const sshEnv = { GIT_SSH_COMMAND: sshStreams.sshCommand! };
      const recording = engine.arm([]);
      try {
        assert.match(await git(['ls-remote', sshd.url(source.path)], { env: sshEnv }), /refs\/heads\/main/);
      } finally {
        recording.disarm();
      }
      assert.deepEqual(engine.log.slice(-2).map((e) => `${e.carrier} ${e.repo} ${e.phase}`), ['stream source advertisement', 'stream source ls-refs']);
      const closed = await failsUnder(
        engine,
        [{ select: { repo: 'source', phase: 'fetch' }, direction: 'response', fault: { kind: 'close', at: { packBytes: 100 } } }],
        ['clone', '--bare', sshd.url(source.path), `${makeTempDir().path}/copy.git`],
        { env: sshEnv },
      );
      assert.match(closed.stderr, /closed by remote host|early EOF|hung up/i);
      assert.equal(closed.fired, 1);
      await sshStreams.idle();
    });
  });
});
