/**
 * The distributed fleet's shared state in Redis (docs/fleet.md, "Distributed workers"): the same
 * runs and mirror statuses as FleetState keeps in SQLite, so `fleet status --queue` shows the same
 * table, written by whichever worker ran the mirror. Keys (under `gitsync:fleet:`):
 *
 * - `run-seq`: the last run id handed out (INCR);
 * - `run:<id>`: one run as JSON (the RunRow fields, plus the worker that ran it);
 * - `runs:<mirror>`: the mirror's run ids, newest first, at most `retainRuns`;
 * - `mirror:<mirror>`: a hash of lastRunId, lastSuccess, consecutiveFailures, failingSince;
 * - `mirrors`: the set of known mirror ids.
 *
 * Nothing secret is stored: error messages arrive redacted and URLs in them are redacted again.
 */
import type { Redis } from 'ioredis';
import { redactUrl } from '../../observe/redact.js';
import type { MirrorStatus, RunOutcome, RunRecord, RunRow, RunTrigger } from '../state.js';
import { KEY_PREFIX } from './connection.js';

export type { MirrorStatus, RunOutcome, RunRecord, RunTrigger };

/** One stored run: FleetState's RunRow, plus the worker that ran it. */
export interface QueueRunRow extends RunRow {
  /** `host:pid` of the worker process that ran it. */
  worker: string;
}

export const DEFAULT_RETAIN_RUNS = 1000;

const key = (...parts: string[]): string => [KEY_PREFIX, 'fleet', ...parts].join(':');

/** Pushes a run id on the mirror's list and drops (with their records) the ids past the limit. */
const PUSH_RUN = `
redis.call('LPUSH', KEYS[1], ARGV[1])
local limit = tonumber(ARGV[2])
while redis.call('LLEN', KEYS[1]) > limit do
  local old = redis.call('RPOP', KEYS[1])
  redis.call('DEL', ARGV[3] .. old)
end
return 1`;

/**
 * Finishes a run: KEYS run, mirror hash; ARGV the run's JSON, outcome, finishedAt, startedAt, id.
 * A success or no-op clears the failures, a failed or blocked run adds one (failing since the
 * first), an aborted one changes neither: FleetState's rule.
 */
const FINISH_RUN = `
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'lastRunId', ARGV[5])
local outcome = ARGV[2]
if outcome == 'success' or outcome == 'noop' then
  redis.call('HSET', KEYS[2], 'lastSuccess', ARGV[3], 'consecutiveFailures', 0)
  redis.call('HDEL', KEYS[2], 'failingSince')
elseif outcome == 'failed' or outcome == 'blocked' then
  redis.call('HINCRBY', KEYS[2], 'consecutiveFailures', 1)
  redis.call('HSETNX', KEYS[2], 'failingSince', ARGV[4])
end
return 1`;

/**
 * A mirror's hash and its newest runs, read at one instant (a run finishing in between would
 * otherwise show its outcome beside the failure count from before it): KEYS mirror hash, run
 * list; ARGV how many runs, the run keys' prefix.
 */
const SNAPSHOT = `
local hash = redis.call('HGETALL', KEYS[1])
local ids = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
local runs = {}
for i, id in ipairs(ids) do runs[i] = redis.call('GET', ARGV[2] .. id) or '' end
return {hash, runs}`;

type StateCommands = {
  gitsyncMirrorSnapshot(mirror: string, runs: string, limit: number, runPrefix: string): Promise<[string[], string[]]>;
  gitsyncPushRun(list: string, id: number, limit: number, runPrefix: string): Promise<number>;
  gitsyncFinishRun(run: string, mirror: string, json: string, outcome: string, finishedAt: number, startedAt: number, id: number): Promise<number>;
};

interface StoredRun extends Omit<QueueRunRow, 'startedAt' | 'finishedAt'> {
  startedAt: number;
  finishedAt: number | null;
}

function toRow(stored: StoredRun): QueueRunRow {
  return { ...stored, startedAt: new Date(stored.startedAt), finishedAt: stored.finishedAt === null ? null : new Date(stored.finishedAt) };
}

function redactText(text: string | null): string | null {
  return text === null ? null : text.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, (url) => redactUrl(url));
}

const date = (text: string | undefined): Date | null => (text === undefined || text === '' ? null : new Date(Number(text)));

export class RedisFleetState {
  private readonly redis: Redis & StateCommands;

  constructor(
    redis: Redis,
    private readonly retainRuns: number = DEFAULT_RETAIN_RUNS,
  ) {
    const commands = redis as Redis & StateCommands;
    if (typeof commands.gitsyncPushRun !== 'function') {
      redis.defineCommand('gitsyncPushRun', { numberOfKeys: 1, lua: PUSH_RUN });
      redis.defineCommand('gitsyncFinishRun', { numberOfKeys: 2, lua: FINISH_RUN });
      redis.defineCommand('gitsyncMirrorSnapshot', { numberOfKeys: 2, lua: SNAPSHOT });
    }
    this.redis = commands;
  }

  /** Records a run as started by `worker`; returns its id. */
  async startRun(mirrorId: string, startedAt: Date, trigger: RunTrigger, worker: string): Promise<number> {
    const id = await this.redis.incr(key('run-seq'));
    const run: StoredRun = {
      id,
      mirrorId,
      trigger,
      startedAt: startedAt.getTime(),
      finishedAt: null,
      outcome: null,
      reason: null,
      relayMode: null,
      bytesFromSource: null,
      bytesToTarget: null,
      refsChanged: null,
      errorCode: null,
      errorMessage: null,
      worker,
    };
    await this.redis.set(key('run', String(id)), JSON.stringify(run));
    await this.redis.sadd(key('mirrors'), mirrorId);
    await this.redis.gitsyncPushRun(key('runs', mirrorId), id, this.retainRuns, `${key('run')}:`);
    return id;
  }

  async finishRun(runId: number, record: RunRecord): Promise<void> {
    const text = await this.redis.get(key('run', String(runId)));
    if (text === null) return;
    const started = JSON.parse(text) as StoredRun;
    const run: StoredRun = {
      ...started,
      finishedAt: record.finishedAt.getTime(),
      outcome: record.outcome,
      reason: redactText(record.reason),
      relayMode: record.relayMode,
      bytesFromSource: record.bytesFromSource,
      bytesToTarget: record.bytesToTarget,
      refsChanged: record.refsChanged,
      errorCode: record.errorCode,
      errorMessage: redactText(record.errorMessage),
    };
    await this.redis.gitsyncFinishRun(key('run', String(runId)), key('mirror', started.mirrorId), JSON.stringify(run), record.outcome, run.finishedAt!, started.startedAt, runId);
  }

  /**
   * Records as aborted every unfinished run of the mirror: called by the worker that has just
   * taken the mirror's lock, so whoever ran them is gone (its lease expired) or finished.
   */
  async abandonOpenRuns(mirrorId: string, now: Date): Promise<number> {
    let count = 0;
    for (const run of await this.recentRuns(mirrorId, 20)) {
      if (run.finishedAt !== null) continue;
      await this.finishRun(run.id, {
        finishedAt: now,
        outcome: 'aborted',
        reason: `the worker running it (${run.worker}) stopped before the run ended`,
        relayMode: null,
        bytesFromSource: null,
        bytesToTarget: null,
        refsChanged: 0,
        errorCode: 'ABORTED',
        errorMessage: `the worker running it (${run.worker}) stopped before the run ended; its lease expired`,
      });
      count += 1;
    }
    return count;
  }

  /** The mirror's newest runs first, at most `limit`. */
  async recentRuns(mirrorId: string, limit = 20): Promise<QueueRunRow[]> {
    const ids = await this.redis.lrange(key('runs', mirrorId), 0, limit - 1);
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => key('run', id)));
    return texts.filter((text): text is string => text !== null).map((text) => toRow(JSON.parse(text) as StoredRun));
  }

  /** The `ids` given (known or not), in their order, or every known mirror by id; `nextRuns` from the producer's schedules. */
  async mirrorStatuses(options: { ids?: readonly string[]; nextRuns?: ReadonlyMap<string, Date> } = {}): Promise<MirrorStatus[]> {
    const ids = options.ids === undefined ? (await this.redis.smembers(key('mirrors'))).sort() : [...options.ids];
    const statuses: MirrorStatus[] = [];
    for (const id of ids) statuses.push(await this.mirrorStatus(id, options.nextRuns?.get(id) ?? null));
    return statuses;
  }

  async mirrorStatus(id: string, nextRun: Date | null = null): Promise<MirrorStatus> {
    const [pairs, texts] = await this.redis.gitsyncMirrorSnapshot(key('mirror', id), key('runs', id), 20, `${key('run')}:`);
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < pairs.length; i += 2) hash[pairs[i]!] = pairs[i + 1]!;
    const runs = texts.filter((text) => text !== '').map((text) => toRow(JSON.parse(text) as StoredRun));
    const lastRun = runs.find((run) => run.outcome !== null) ?? null;
    const running = runs.find((run) => run.outcome === null) ?? null;
    return {
      id,
      lastRun,
      lastOutcome: lastRun?.outcome ?? null,
      lastReason: lastRun?.reason ?? null,
      lastSuccess: date(hash['lastSuccess']),
      consecutiveFailures: Number(hash['consecutiveFailures'] ?? 0),
      failingSince: date(hash['failingSince']),
      nextRun,
      runningSince: running?.startedAt ?? null,
    };
  }

  /** Forgets mirrors no longer in the manifest, with their runs; returns the ids forgotten. */
  async syncMirrors(ids: readonly string[]): Promise<string[]> {
    const wanted = new Set(ids);
    const gone = (await this.redis.smembers(key('mirrors'))).filter((id) => !wanted.has(id));
    for (const id of gone) {
      const runIds = await this.redis.lrange(key('runs', id), 0, -1);
      if (runIds.length > 0) await this.redis.del(...runIds.map((run) => key('run', run)));
      await this.redis.del(key('runs', id), key('mirror', id));
      await this.redis.srem(key('mirrors'), id);
    }
    if (wanted.size > 0) await this.redis.sadd(key('mirrors'), ...wanted);
    return gone;
  }
}
