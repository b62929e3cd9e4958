/**
 * The fleet's state (docs/fleet.md, "State"): every run of every mirror, and per mirror its last
 * success, consecutive failures, when it started failing and its next run, in an embedded SQLite
 * database (better-sqlite3, WAL: `fleet status` reads while `fleet serve` writes). Times are
 * stored as milliseconds since the epoch. Nothing stored here is a secret: error messages arrive
 * redacted (runner.ts) and are redacted again before they are written.
 */
import { mkdirSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LocalStorageError } from '../errors.js';
import { redactUrl } from '../observe/redact.js';

export type RunTrigger = 'schedule' | 'manual' | 'hook' | 'once';
export type RunOutcome = 'success' | 'noop' | 'failed' | 'blocked' | 'aborted';

/** How a run ended, as finishRun records it. */
export interface RunRecord {
  finishedAt: Date;
  outcome: RunOutcome;
  /** Why, in a few words: the blocked refs, the error's first words; null for a plain success. */
  reason: string | null;
  /** The relay the library chose (`bootstrap`, `incremental`, `none`, ...; several targets: each, comma-separated). */
  relayMode: string | null;
  bytesFromSource: number | null;
  bytesToTarget: number | null;
  /** Refs created, updated or deleted on the target(s). */
  refsChanged: number;
  errorCode: string | null;
  /** Redacted before it is stored. */
  errorMessage: string | null;
}

/** One stored run. */
export interface RunRow {
  id: number;
  mirrorId: string;
  trigger: RunTrigger;
  startedAt: Date;
  /** Null while it runs. */
  finishedAt: Date | null;
  outcome: RunOutcome | null;
  reason: string | null;
  relayMode: string | null;
  bytesFromSource: number | null;
  bytesToTarget: number | null;
  refsChanged: number | null;
  errorCode: string | null;
  errorMessage: string | null;
}

export interface MirrorStatus {
  id: string;
  lastRun: RunRow | null;
  lastOutcome: RunOutcome | null;
  lastReason: string | null;
  lastSuccess: Date | null;
  /** Failed or blocked runs since the last success (aborted runs do not count either way). */
  consecutiveFailures: number;
  /** The start of the first failed or blocked run since the last success. */
  failingSince: Date | null;
  nextRun: Date | null;
  /** When the run going on now started, or null when none is. */
  runningSince: Date | null;
}

export interface PruneOptions {
  /** Runs kept per mirror (the newest); null: no limit by count. */
  retainRuns: number | null;
  /** Finished runs older than this many days are deleted; null: no limit by age. */
  retainDays: number | null;
  now?: Date;
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mirrors (
  id TEXT PRIMARY KEY,
  next_run INTEGER,
  last_run_id INTEGER,
  last_success INTEGER,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  failing_since INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mirror_id TEXT NOT NULL,
  trigger TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  outcome TEXT,
  reason TEXT,
  relay_mode TEXT,
  bytes_from_source INTEGER,
  bytes_to_target INTEGER,
  refs_changed INTEGER,
  error_code TEXT,
  error_message TEXT,
  owner_host TEXT NOT NULL,
  owner_pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_mirror ON runs (mirror_id, id);
CREATE INDEX IF NOT EXISTS runs_by_end ON runs (finished_at);
`;

interface RunColumns {
  id: number;
  mirror_id: string;
  trigger: string;
  started_at: number;
  finished_at: number | null;
  outcome: string | null;
  reason: string | null;
  relay_mode: string | null;
  bytes_from_source: number | null;
  bytes_to_target: number | null;
  refs_changed: number | null;
  error_code: string | null;
  error_message: string | null;
}

interface MirrorColumns {
  id: string;
  next_run: number | null;
  last_success: number | null;
  consecutive_failures: number;
  failing_since: number | null;
}

const date = (millis: number | null): Date | null => (millis === null ? null : new Date(millis));

function toRun(row: RunColumns): RunRow {
  return {
    id: row.id,
    mirrorId: row.mirror_id,
    trigger: row.trigger as RunTrigger,
    startedAt: new Date(row.started_at),
    finishedAt: date(row.finished_at),
    outcome: row.outcome as RunOutcome | null,
    reason: row.reason,
    relayMode: row.relay_mode,
    bytesFromSource: row.bytes_from_source,
    bytesToTarget: row.bytes_to_target,
    refsChanged: row.refs_changed,
    errorCode: row.error_code,
    errorMessage: row.error_message,
  };
}

/** URLs in free text, each redacted (a last line of defence: messages arrive redacted). */
function redactText(text: string | null): string | null {
  return text === null ? null : text.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, (url) => redactUrl(url));
}

/** Is the process that started a run still alive? Only answerable on the same host. */
function ownerAlive(host: string, pid: number): boolean {
  if (host !== hostname()) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FleetState {
  private constructor(
    /** The database file. */
    readonly path: string,
    private readonly db: Database.Database,
  ) {}

  /**
   * Opens (creating when missing, unless `mustExist`) the database at `file`, in WAL mode.
   * Runs left unfinished by a process that is gone are recorded as aborted.
   */
  static open(file: string, options: { mustExist?: boolean } = {}): FleetState {
    const absolute = path.resolve(file);
    const directory = path.dirname(absolute);
    if (options.mustExist === true && !existsSync(absolute)) {
      throw new LocalStorageError(directory, `no fleet state at ${absolute}: run \`git-sync fleet run\` (or serve) with this manifest first, or name the database with --state`);
    }
    let db: Database.Database;
    try {
      mkdirSync(directory, { recursive: true });
      db = new Database(absolute);
      db.pragma('journal_mode = WAL');
      // `fleet status` or a second `fleet run` may write while serve does: wait for the lock.
      db.pragma('busy_timeout = 5000');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      const version = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get();
      if (version === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
      else if (Number(version.value) > SCHEMA_VERSION) {
        db.close();
        throw new LocalStorageError(directory, `the fleet state at ${absolute} was written by a newer git-sync (schema ${version.value}); upgrade git-sync or use another --state`);
      }
    } catch (error) {
      if (error instanceof LocalStorageError) throw error;
      throw new LocalStorageError(directory, `cannot open the fleet state at ${absolute}: ${(error as Error).message}; check the path and its permissions`, { cause: error });
    }
    const state = new FleetState(absolute, db);
    state.recoverAbandoned();
    return state;
  }

  /** Records a run as started; returns its id. The mirror is known from now on. */
  startRun(mirrorId: string, startedAt: Date, trigger: RunTrigger): number {
    return this.db.transaction(() => {
      this.db.prepare('INSERT INTO mirrors (id) VALUES (?) ON CONFLICT (id) DO NOTHING').run(mirrorId);
      const info = this.db
        .prepare('INSERT INTO runs (mirror_id, trigger, started_at, owner_host, owner_pid) VALUES (?, ?, ?, ?, ?)')
        .run(mirrorId, trigger, startedAt.getTime(), hostname(), process.pid);
      return Number(info.lastInsertRowid);
    })();
  }

  /**
   * Records how a run ended, and the mirror's standing: a success or no-op clears its failures;
   * a failed or blocked run adds one (failing since the first); an aborted one changes neither.
   */
  finishRun(runId: number, record: RunRecord): void {
    this.db.transaction(() => {
      const run = this.db.prepare<[number], { mirror_id: string; started_at: number }>('SELECT mirror_id, started_at FROM runs WHERE id = ?').get(runId);
      if (run === undefined) return;
      this.db
        .prepare(
          `UPDATE runs SET finished_at = ?, outcome = ?, reason = ?, relay_mode = ?, bytes_from_source = ?, bytes_to_target = ?,
           refs_changed = ?, error_code = ?, error_message = ? WHERE id = ?`,
        )
        .run(
          record.finishedAt.getTime(),
          record.outcome,
          redactText(record.reason),
          record.relayMode,
          record.bytesFromSource,
          record.bytesToTarget,
          record.refsChanged,
          record.errorCode,
          redactText(record.errorMessage),
          runId,
        );
      const mirror = this.db.prepare('UPDATE mirrors SET last_run_id = ? WHERE id = ?');
      mirror.run(runId, run.mirror_id);
      if (record.outcome === 'success' || record.outcome === 'noop') {
        this.db.prepare('UPDATE mirrors SET last_success = ?, consecutive_failures = 0, failing_since = NULL WHERE id = ?').run(record.finishedAt.getTime(), run.mirror_id);
      } else if (record.outcome === 'failed' || record.outcome === 'blocked') {
        this.db
          .prepare('UPDATE mirrors SET consecutive_failures = consecutive_failures + 1, failing_since = COALESCE(failing_since, ?) WHERE id = ?')
          .run(run.started_at, run.mirror_id);
      }
    })();
  }

  /** When the mirror runs next (a scheduler's plan), or null: not scheduled. */
  setNextRun(mirrorId: string, at: Date | null): void {
    this.db
      .prepare('INSERT INTO mirrors (id, next_run) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET next_run = excluded.next_run')
      .run(mirrorId, at === null ? null : at.getTime());
  }

  /** Every known mirror, by id. */
  mirrorStatuses(): MirrorStatus[] {
    const rows = this.db.prepare<[], MirrorColumns>('SELECT id, next_run, last_success, consecutive_failures, failing_since FROM mirrors ORDER BY id').all();
    return rows.map((row) => this.status(row));
  }

  mirrorStatus(id: string): MirrorStatus | null {
    const row = this.db.prepare<[string], MirrorColumns>('SELECT id, next_run, last_success, consecutive_failures, failing_since FROM mirrors WHERE id = ?').get(id);
    return row === undefined ? null : this.status(row);
  }

  /** The mirror's newest runs first, at most `limit`. */
  recentRuns(mirrorId: string, limit = 20): RunRow[] {
    return this.db
      .prepare<[string, number], RunColumns>('SELECT * FROM runs WHERE mirror_id = ? ORDER BY id DESC LIMIT ?')
      .all(mirrorId, limit)
      .map(toRun);
  }

  /**
   * Makes the known mirrors exactly `ids`: new ones are added, ones no longer in the manifest
   * forgotten with their runs. Returns the ids forgotten.
   */
  syncMirrors(ids: readonly string[]): string[] {
    return this.db.transaction(() => {
      const wanted = new Set(ids);
      const insert = this.db.prepare('INSERT INTO mirrors (id) VALUES (?) ON CONFLICT (id) DO NOTHING');
      for (const id of wanted) insert.run(id);
      const gone = this.db
        .prepare<[], { id: string }>('SELECT id FROM mirrors')
        .all()
        .map((row) => row.id)
        .filter((id) => !wanted.has(id));
      for (const id of gone) {
        this.db.prepare('DELETE FROM runs WHERE mirror_id = ?').run(id);
        this.db.prepare('DELETE FROM mirrors WHERE id = ?').run(id);
      }
      return gone;
    })();
  }

  /**
   * Retention: deletes finished runs beyond the newest `retainRuns` of each mirror and those
   * that ended more than `retainDays` ago. A mirror's last run is always kept (its status
   * shows it). Returns how many runs were deleted.
   */
  prune(options: PruneOptions): number {
    const now = (options.now ?? new Date()).getTime();
    return this.db.transaction(() => {
      let deleted = 0;
      const keepLast = 'id NOT IN (SELECT last_run_id FROM mirrors WHERE last_run_id IS NOT NULL)';
      if (options.retainRuns !== null) {
        deleted += this.db
          .prepare(
            `DELETE FROM runs WHERE finished_at IS NOT NULL AND ${keepLast} AND id IN (
               SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY mirror_id ORDER BY id DESC) AS rank FROM runs) WHERE rank > ?)`,
          )
          .run(options.retainRuns).changes;
      }
      if (options.retainDays !== null) {
        deleted += this.db
          .prepare(`DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ? AND ${keepLast}`)
          .run(now - options.retainDays * 86_400_000).changes;
      }
      return deleted;
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private status(row: MirrorColumns): MirrorStatus {
    const runs = this.db.prepare<[string], RunColumns>('SELECT * FROM runs WHERE mirror_id = ? AND outcome IS NOT NULL ORDER BY id DESC LIMIT 1').get(row.id);
    const running = this.db.prepare<[string], { started_at: number }>('SELECT started_at FROM runs WHERE mirror_id = ? AND outcome IS NULL ORDER BY id DESC LIMIT 1').get(row.id);
    const lastRun = runs === undefined ? null : toRun(runs);
    return {
      id: row.id,
      lastRun,
      lastOutcome: lastRun?.outcome ?? null,
      lastReason: lastRun?.reason ?? null,
      lastSuccess: date(row.last_success),
      consecutiveFailures: row.consecutive_failures,
      failingSince: date(row.failing_since),
      nextRun: date(row.next_run),
      runningSince: running === undefined ? null : new Date(running.started_at),
    };
  }

  /** Runs whose process on this host is gone (killed, crashed) are recorded as aborted. */
  private recoverAbandoned(): void {
    const open = this.db.prepare<[], { id: number; owner_host: string; owner_pid: number }>('SELECT id, owner_host, owner_pid FROM runs WHERE outcome IS NULL').all();
    for (const run of open) {
      if (ownerAlive(run.owner_host, run.owner_pid)) continue;
      this.finishRun(run.id, {
        finishedAt: new Date(),
        outcome: 'aborted',
        reason: 'the process running it ended',
        relayMode: null,
        bytesFromSource: null,
        bytesToTarget: null,
        refsChanged: 0,
        errorCode: 'ABORTED',
        errorMessage: 'the process running it ended before the run did',
      });
    }
  }
}
