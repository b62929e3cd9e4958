/**
 * The queue URL (`--queue redis://HOST:PORT[/DB]`, docs/fleet.md, "Distributed workers") and the
 * Redis connections made from it. A password is never read from the URL (it would sit in the
 * process list and in shell history): it comes from `GITSYNC_REDIS_PASSWORD`, and a URL holding
 * one is refused without echoing it. bullmq and ioredis are imported here on demand only, so a
 * plain `git-sync sync` never loads them.
 */
import type { Redis } from 'ioredis';
import { QueueError, UsageError } from '../../errors.js';

export const REDIS_PASSWORD_ENV = 'GITSYNC_REDIS_PASSWORD';
export const DEFAULT_REDIS_PORT = 6379;
/** Every key git-sync writes starts with it: BullMQ's (`gitsync:mirrors:...`) and ours (`gitsync:fleet:...`). */
export const KEY_PREFIX = 'gitsync';
/** The one BullMQ queue every mirror's jobs go through. */
export const QUEUE_NAME = 'mirrors';

export interface QueueAddress {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  /** `redis://host:port/db`, for messages (never a password). */
  display: string;
}

/** Parses `redis://HOST[:PORT][/DB]` (or `rediss://` for TLS); USAGE errors name what is wrong. */
export function parseQueueUrl(text: string): QueueAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--queue '${text.replace(/\/\/[^/@]*@/, '//***@')}' is not a URL; write redis://HOST:PORT[/DB]`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`--queue must be a redis:// or rediss:// URL, not ${url.protocol}//; write redis://HOST:PORT[/DB]`);
  }
  if (url.password !== '') {
    throw new UsageError(`--queue holds a password; remove it from the URL and set ${REDIS_PASSWORD_ENV} in the environment instead`);
  }
  if (url.hostname === '') throw new UsageError(`--queue names no host; write redis://HOST:PORT[/DB]`);
  if (url.search !== '' || url.hash !== '') throw new UsageError(`--queue takes no query or fragment; write redis://HOST:PORT[/DB]`);
  const dbText = url.pathname.replace(/^\//, '');
  if (!/^\d{0,2}$/.test(dbText)) throw new UsageError(`--queue database '${dbText}' is not a number; write redis://HOST:PORT/DB (DB 0-15 on a default Redis)`);
  const port = url.port === '' ? DEFAULT_REDIS_PORT : Number(url.port);
  const db = dbText === '' ? 0 : Number(dbText);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port, db, tls: url.protocol === 'rediss:', display: `${url.protocol}//${url.hostname}:${port}/${db}` };
}

/** What both ioredis and BullMQ take to connect. */
export interface ConnectionSettings {
  host: string;
  port: number;
  db: number;
  password?: string;
  tls?: Record<string, never>;
  maxRetriesPerRequest: null;
  retryStrategy: (times: number) => number;
  lazyConnect?: boolean;
}

/** Connection settings for an address: BullMQ's blocking commands need `maxRetriesPerRequest: null`. */
export function redisOptions(address: QueueAddress, env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const password = env[REDIS_PASSWORD_ENV];
  return {
    host: address.host,
    port: address.port,
    db: address.db,
    ...(password === undefined || password === '' ? {} : { password }),
    ...(address.tls ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    // A worker outlives Redis restarts: ioredis reconnects, BullMQ picks up where it was.
    retryStrategy: (times: number) => Math.min(times * 200, 5_000),
  };
}

export type BullMq = typeof import('bullmq');

/** bullmq, loaded on first use. */
export function loadBullMq(): Promise<BullMq> {
  return import('bullmq');
}

/**
 * A connection, checked with PING within `timeoutMillis`: a Redis that cannot be reached is a
 * QueueError naming the URL and the cause, not a worker that retries silently forever.
 */
export async function connectRedis(address: QueueAddress, options: { timeoutMillis?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis({ ...redisOptions(address, options.env), lazyConnect: true });
  let lastError: Error | null = null;
  redis.on('error', (error: Error) => (lastError = error));
  const timeout = options.timeoutMillis ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(lastError ?? new Error(`no answer within ${timeout} ms`)), timeout);
      }),
    ]);
  } catch (error) {
    redis.disconnect();
    // ioredis rejects connect() with "Connection is closed"; the socket's own error says why.
    const cause: Error = lastError ?? (error instanceof Error ? error : new Error(String(error)));
    throw new QueueError(address.display, `cannot reach Redis at ${address.display}: ${describeRedisError(cause)}; start Redis there or fix --queue`, { cause });
  } finally {
    clearTimeout(timer);
  }
  return redis;
}

function describeRedisError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (/NOAUTH|WRONGPASS/.test(error.message)) return `authentication refused (set ${REDIS_PASSWORD_ENV})`;
  return error.message;
}
