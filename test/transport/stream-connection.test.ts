import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { RemoteError, NetworkError } from '../../src/errors.js';
import { ListeningObserver } from '../../src/observe/observer.js';
import { packetText } from '../../src/wire/pktline.js';
import { spawnChannel, type ChildChannel } from '../../src/transport/child-channel.js';
import { StreamConnection, type StreamConnectionOptions } from '../../src/transport/stream-connection.js';
import { processesMatching, zombieChildren } from '../helpers/processes.js';

function child(command: string, args: string[]): ChildChannel {
  return spawnChannel({
    command,
    args,
    env: process.env,
    describeFailure: (exit) => new RemoteError(`${command} failed (${exit.code}): ${exit.stderr}`),
    describeSpawnError: (error) => new NetworkError(command, `cannot run ${command}: ${error.code}`),
  });
}

/** A connection closed when the test ends, even when an assertion failed first. */
function connect(t: TestContext, channel: ChildChannel, options: Partial<StreamConnectionOptions> = {}): StreamConnection {
  const connection = new StreamConnection(channel, { displayUrl: 'test', phase: 'source fetch', ...options });
  t.after(() => connection.close());
  return connection;
}

function alive(pid: number | undefined): boolean {
  try {
    process.kill(pid!, 0);
    return true;
  } catch {
    return false;
  }
}

describe('StreamConnection over a child process', () => {
  it('streams a large body while reading the answer (no pipe deadlock), counting every byte', async (t) => {
    const observer = new ListeningObserver({ stats: true });
    const connection = connect(t, child('cat', []), { observer });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const chunks = 256;
    async function* body(): AsyncGenerator<Buffer> {
      for (let i = 0; i < chunks; i++) yield chunk;
    }
    const reader = await connection.request(body(), { phase: 'target push' });
    let echoed = 0;
    for await (const piece of reader.rest()) {
      echoed += piece.length;
      if (echoed >= chunk.length * chunks) break;
    }
    await connection.close();
    assert.equal(echoed, chunk.length * chunks);
    const push = observer.stop()?.phases['target push'];
    assert.ok(push !== undefined, 'the push phase was counted');
    assert.equal(push.requests, 1);
    // The body plus the flush that ends the session on close.
    assert.equal(push.requestBytes, chunk.length * chunks + 4);
    assert.ok(push.responseBytes >= chunk.length * chunks);
  });

  it("fails the reader with the body's own error and stops the process", async (t) => {
    const channel = child('cat', []);
    const connection = connect(t, channel);
    const broken = new Error('source pack broke');
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from('0008abcd');
      throw broken;
    }
    const reader = await connection.request(body(), { phase: 'target push' });
    await assert.rejects(async () => {
      for (;;) if ((await reader.read()) === null) break;
    }, broken);
    await connection.close();
    assert.equal(alive(channel.pid), false);
    assert.deepEqual(await zombieChildren(), []);
  });

  it("does not count the peer's silence while the body's next bytes are awaited: a relay's stalled source is not the target's timeout (regression: fault matrix)", async (t) => {
    // A peer that answers once it has the whole request, as receive-pack answers a push once
    // it has the pack. The body pauses for several idle timeouts between its two bytes, as a
    // relay's pack does when the source stalls: the wait is on the source, and this peer, which
    // has nothing to say yet, must not time out (it did: TIMEOUT_IDLE named the target).
    const idleMillis = 1_000;
    const connection = connect(t, child('sh', ['-c', 'head -c 2 >/dev/null; echo answered']), { idleMillis, side: 'target' });
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from('a');
      await new Promise((resolve) => setTimeout(resolve, idleMillis * 3));
      yield Buffer.from('b');
    }
    const reader = await connection.request(body(), { phase: 'target push' });
    const answer: Buffer[] = [];
    for await (const piece of reader.rest()) answer.push(piece);
    assert.equal(Buffer.concat(answer).toString('utf8'), 'answered\n');
  });

  it("reports a failed exit with the process's stderr", async (t) => {
    const connection = connect(t, child('sh', ['-c', 'echo "fatal: nope" >&2; echo "hint: really" >&2; exit 3']));
    await assert.rejects(connection.advertisement.read(), { code: 'REMOTE_ERROR', message: /failed \(3\): fatal: nope; hint: really/ });
    await connection.close();
  });

  it('reports a program that cannot be started', async (t) => {
    const connection = connect(t, child('/nonexistent/program', []));
    await assert.rejects(connection.advertisement.read(), { code: 'NETWORK', message: /ENOENT/ });
    await connection.close();
  });

  it('ends with the process even when something it started keeps the pipe open', { timeout: 15_000 }, async (t) => {
    // The pipe stays open for 47 s: waiting for it would outlast the test's timeout.
    t.after(async () => {
      for (const { pid } of await processesMatching('sleep 47')) process.kill(pid);
    });
    const connection = connect(t, child('sh', ['-c', 'sleep 47 & printf 0008abcd0000']));
    assert.equal(packetText((await connection.advertisement.read())!), 'abcd');
    assert.deepEqual(await connection.advertisement.read(), { type: 'flush' });
    assert.equal(await connection.advertisement.read(), null);
    await connection.close();
  });

  it('keeps the bytes after a handshake line for the protocol', async (t) => {
    const connection = connect(t, child('printf', ['hello\\n0008abcd0000']));
    assert.equal(await connection.readLine(), 'hello');
    assert.equal(packetText((await connection.advertisement.read())!), 'abcd');
    assert.deepEqual(await connection.advertisement.read(), { type: 'flush' });
    await connection.close();
  });

  it('skips to the response-end packet before the next stateless request', async (t) => {
    const connection = connect(t, child('cat', []), { framing: { responseEnd: true, farewell: null } });
    const first = await connection.request(Buffer.from('000ahello\n0000000cignored\n0002'), { phase: 'source ls-refs' });
    assert.equal(packetText((await first.read())!), 'hello');
    assert.deepEqual(await first.read(), { type: 'flush' });
    const second = await connection.request(Buffer.from('000aworld\n00000002'), { phase: 'source fetch' });
    assert.equal(packetText((await second.read())!), 'world');
    await connection.close();
  });
});
