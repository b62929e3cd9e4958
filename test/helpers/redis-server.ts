/**
 * A real redis-server (the Debian package) for the distributed fleet's tests: on a free loopback
 * port, in a temporary directory, persistence off unless a test asks for it, stopped by close()
 * (or by the setup itself when it fails, so a failed start never leaves a server behind).
 *
 *   describe('queue', { skip: missingRedis() }, () => { ... });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './net.js';
import { stopChild } from './processes.js';
import { missingSystemTool, type Closable } from './system.js';

export const REDIS_SERVER_BINARY = '/usr/bin/redis-server';

/** A skip message off CI when redis-server is not installed; false when the tests run (always under CI). */
export function missingRedis(): string | false {
  return missingSystemTool(REDIS_SERVER_BINARY, 'redis-server');
}

export interface RedisServer extends Closable {
  /** `redis://127.0.0.1:PORT` (add `/DB` to pick a database). */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** What the server printed, for a failing test's message. */
  output(): string;
}

export interface RedisServerOptions {
  /** Keep an append-only file in the temporary directory (default: no persistence). */
  persistence?: boolean;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gitsync-redis-'));
  let child: ChildProcess | null = null;
  let log = '';
  try {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', options.persistence === true ? 'yes' : 'no', '--protected-mode', 'yes'];
    const started = spawn(REDIS_SERVER_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
    started.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
    let spawnError: Error | null = null;
    started.once('error', (error) => (spawnError = error));
    await waitForPort(port, {
      failed: () => (spawnError !== null ? `redis-server did not start: ${(spawnError as Error).message}` : started.exitCode !== null ? `redis-server exited with ${started.exitCode}: ${log.trim()}` : null),
    });
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      dir,
      output: () => log,
      async close() {
        await stopChild(started);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child !== null) await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
