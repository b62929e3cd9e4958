/**
 * How many mirror runs go at once (docs/fleet.md, "Concurrency"): at most `global` in all, and
 * at most `perHost` touching any one host, so a fleet never hits one server with more than that
 * many runs at a time. A run holds a slot on every host it touches (its source's and its
 * targets'); local paths touch no host. Waiting runs start in the order they asked, except that
 * one whose host is full lets the next one whose hosts are free go first.
 */
import { AbortedError, throwIfAborted } from '../errors.js';

export interface HostLimits {
  /** Runs at once in all (at least 1). */
  global: number;
  /** Runs at once touching one host (at least 1). */
  perHost: number;
}

interface Waiter {
  hosts: string[];
  grant: () => void;
}

/**
 * The host a source or target talks to, `hostname:port` for URLs and scp-like addresses; null
 * for a local path or `file://` (no server to spare).
 */
export function hostOf(location: string): string | null {
  try {
    const url = new URL(location);
    if (url.protocol === 'file:') return null;
    if (url.hostname === '') return null;
    return `${url.hostname.toLowerCase()}${url.port === '' ? '' : `:${url.port}`}`;
  } catch {
    // scp-like `user@host:path` (git's rule: a colon before any slash); otherwise a local path.
    const scp = /^(?:[^@/]+@)?([^:/]+):/.exec(location);
    return scp === null ? null : scp[1]!.toLowerCase();
  }
}

export class HostLimiter {
  private running = 0;
  private readonly perHost = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(readonly limits: HostLimits) {
    if (!(limits.global >= 1) || !(limits.perHost >= 1)) throw new RangeError('HostLimiter: both limits must be at least 1');
  }

  /** Runs in progress now, and per host. */
  get active(): { global: number; perHost: ReadonlyMap<string, number> } {
    return { global: this.running, perHost: this.perHost };
  }

  /** Runs `task` once a slot is free on every host of `locations`; the slots are freed after. */
  async run<T>(locations: readonly string[], task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(locations, signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Waits for the slots; resolves to the function that gives them back (call it once). */
  acquire(locations: readonly string[], signal?: AbortSignal): Promise<() => void> {
    throwIfAborted(signal);
    const hosts = [...new Set(locations.map(hostOf).filter((host): host is string => host !== null))];
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        hosts,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser(hosts));
        },
      };
      const onAbort = (): void => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(new AbortedError('waiting for a free slot: aborted', { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.dispatch();
    });
  }

  private fits(hosts: readonly string[]): boolean {
    return this.running < this.limits.global && hosts.every((host) => (this.perHost.get(host) ?? 0) < this.limits.perHost);
  }

  private dispatch(): void {
    for (let i = 0; i < this.waiting.length && this.running < this.limits.global; ) {
      const waiter = this.waiting[i]!;
      if (!this.fits(waiter.hosts)) {
        i += 1;
        continue;
      }
      this.waiting.splice(i, 1);
      this.running += 1;
      for (const host of waiter.hosts) this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
      waiter.grant();
    }
  }

  private releaser(hosts: readonly string[]): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      for (const host of hosts) {
        const left = (this.perHost.get(host) ?? 1) - 1;
        if (left === 0) this.perHost.delete(host);
        else this.perHost.set(host, left);
      }
      this.dispatch();
    };
  }
}
