/**
 * Keep-alive connections shared by many runs (docs/architecture.md, "Connections kept across
 * runs"). A run on its own keeps its HTTP connections for itself and closes them when it ends,
 * so the next run against the same host pays the TCP handshake and, over HTTPS, the TLS one
 * again: two round trips or more per side before its first request. A fleet runs thousands of
 * mirrors against a few hosts; one pool, passed to every run (`CommonOptions.connectionPool`),
 * lets a run take a connection the previous one left idle.
 *
 * What a pooled connection can carry is decided by its key: scheme, proxy, TLS verification and
 * the tunnel's connect timeout. Credentials are not part of it: HTTP sends them with each
 * request, never with the connection, so runs with different tokens can share one safely.
 *
 * Idle connections are closed after `idleMillis` (default 4 s, below the keep-alive timeouts
 * servers use: Apache's 5 s, nginx's 75 s), or sooner when the server's `Keep-Alive: timeout=`
 * says so, so that a connection is rarely taken just as its server closes it. When that happens
 * anyway, the request, if its body can be sent again, goes again on a new connection
 * (http-client.ts, `staleConnection`). Idle connections never keep the process alive.
 */
import type http from 'node:http';

export interface ConnectionPoolOptions {
  /** How long a connection may wait idle for its next request before it is closed (default 4000 ms). */
  idleMillis?: number;
}

export const DEFAULT_POOL_IDLE_MILLIS = 4000;

/** The options every pooled agent is made with. */
export interface PooledAgentOptions {
  keepAlive: true;
  /** The socket timeout: a free socket that stays idle this long is destroyed by its agent. */
  timeout: number;
}

export class ConnectionPool {
  readonly idleMillis: number;
  private readonly agents = new Map<string, http.Agent>();
  private closed = false;

  constructor(options: ConnectionPoolOptions = {}) {
    const idle = options.idleMillis ?? DEFAULT_POOL_IDLE_MILLIS;
    if (!Number.isInteger(idle) || idle < 1) throw new RangeError(`connection pool idleMillis must be a positive integer, not ${String(options.idleMillis)}`);
    this.idleMillis = idle;
  }

  /**
   * The agent for connections of this `key` (http-client.ts builds it from the scheme, proxy and
   * TLS settings), made by `make` on first use. Null once the pool is closed: the caller then
   * keeps connections of its own, as without a pool.
   */
  agent(key: string, make: (options: PooledAgentOptions) => http.Agent): http.Agent | null {
    if (this.closed) return null;
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = make({ keepAlive: true, timeout: this.idleMillis });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Connections waiting for a request, across every key. */
  idleConnections(): number {
    let count = 0;
    for (const agent of this.agents.values()) for (const sockets of Object.values(agent.freeSockets)) count += sockets?.length ?? 0;
    return count;
  }

  /**
   * Closes every connection, idle or not (requests still running on them fail), and pools
   * nothing from now on. Call it once the runs that use the pool are over.
   */
  close(): void {
    this.closed = true;
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
