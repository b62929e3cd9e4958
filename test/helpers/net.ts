/** Loopback ports for test servers: pick a free one, wait until a server accepts on it. */
import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Resolves once something accepts connections on the port; rejects after `timeoutMillis`, or as
 * soon as `failed()` returns a reason (the server process died), with that reason.
 */
export async function waitForPort(port: number, options: { timeoutMillis?: number; failed?: () => string | null } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMillis ?? 10_000);
  for (;;) {
    const reason = options.failed?.() ?? null;
    if (reason !== null) throw new Error(reason);
    if (await tryConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on 127.0.0.1:${port} within ${options.timeoutMillis ?? 10_000} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
