/** Option and result types shared by the public verbs. */
import type { Measurement } from '../observe/memory.js';
import type { ProgressEvent } from '../observe/progress.js';
import type { StatsReport } from '../observe/stats.js';
import type { ConnectionPool } from '../transport/connection-pool.js';
import type { HttpTimeouts } from '../transport/http.js';
import type { SideCredentials } from '../transport/open.js';
import type { ProtocolPreference } from '../types.js';

export interface EndpointOptions extends SideCredentials {
  /** A URL or path git accepts (docs/usage.md, "Sources and targets"). */
  url: string;
}

export type { ProgressEvent } from '../observe/progress.js';

export interface CommonOptions {
  /** Source-side protocol: `auto` (v2 when the server speaks it), `v1` or `v2`. */
  protocol?: ProtocolPreference;
  /** Count requests and bytes per phase (`stats` in the result). */
  stats?: boolean;
  /** Sample RSS and heap while the operation runs (`measurement` in the result). */
  measureMemory?: boolean;
  signal?: AbortSignal;
  /**
   * Told what the run is doing while it works: the servers' progress lines, decisions and why,
   * phases (push request or batch `i/N`), and bytes moved per side (ProgressEvent).
   */
  onProgress?: (event: ProgressEvent) => void;
  /** How often `transfer` events report moving byte counts (default 200 ms). */
  progressIntervalMillis?: number;
  /**
   * While waiting on a server, this long without progress either way ends the run
   * (TIMEOUT_IDLE): progress is a whole packet from the server or bytes it took, so a server
   * that trickles a byte now and then is stalled. Connecting and waiting for response headers
   * are bounded by it too (TIMEOUT_CONNECT, TIMEOUT_HEADERS). Default 120 000
   * (DEFAULT_IDLE_TIMEOUT_MILLIS).
   */
  idleTimeoutMillis?: number;
  /** The whole run, retries included, ends after this long (TIMEOUT_DEADLINE). Default: none. */
  deadlineMillis?: number | null;
  /**
   * Transient failures (connection reset or refused, HTTP 429/502/503/504, a stall) are tried
   * again this many times where that is safe (docs/usage.md, "Timeouts and retries"). Default 2;
   * 0 disables.
   */
  retries?: number;
  /** The first retry's base delay; each next one doubles it, with jitter (default 1000 ms). */
  retryDelayMillis?: number;
  /** Finer HTTP timeouts than `idleTimeoutMillis`; they win over it. */
  timeouts?: Partial<HttpTimeouts>;
  /**
   * The most bytes one ref listing of a server (its advertisement, an `ls-refs` answer) may
   * take; past it the run fails with RESPONSE_TOO_LARGE, naming the side. Default 32 MiB
   * (DEFAULT_MAX_REF_LISTING_BYTES).
   */
  maxRefListingBytes?: number;
  /** Resolves relative local paths; defaults to the process's working directory. */
  cwd?: string;
  /**
   * Where `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` are read and `git credential` runs; defaults to
   * the process's environment.
   */
  env?: NodeJS.ProcessEnv;
  /**
   * The transports this run may use, by git's protocol names (`https`, `http`, `ssh`, `git`,
   * `file`, a remote helper's scheme): exactly these, whatever `GIT_ALLOW_PROTOCOL` and git's
   * `protocol.*.allow` configuration say. Default: git's own rules (docs/security.md, "git's
   * own protocol rules"); a program that takes URLs from others should pass its own list.
   */
  allowedProtocols?: readonly string[] | null;
  /**
   * HTTP(S) connections to keep for the next run (`new ConnectionPool()`, docs/api.md): a
   * program that runs many syncs against the same hosts (a fleet) passes one pool to all of
   * them, and each run takes the connections the last one left idle instead of opening new ones.
   * Default: the run keeps its own connections and closes them when it ends.
   */
  connectionPool?: ConnectionPool | null;
}

/** Which source refs an operation reads (docs/usage.md, "Commands", §3). */
export interface RefSelection {
  /** Short branch names; all branches when absent or empty. */
  branches?: readonly string[];
  tags?: boolean;
  allRefs?: boolean;
  excludeRefPrefixes?: readonly string[];
}

export interface Observed {
  stats: StatsReport | null;
  measurement: Measurement | null;
}
