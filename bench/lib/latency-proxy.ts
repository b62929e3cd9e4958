/**
 * A TCP proxy on loopback that adds a network's round trip to every connection through it, so a
 * bench can show what round trips cost where the loopback has none: bytes each way are held
 * for half the round trip, and a new connection's first bytes to the server for one round trip
 * more (the TCP handshake a real client waits for before it can send). Order is kept each way.
 * Bandwidth is not limited.
 */
import net, { type AddressInfo, type Socket } from 'node:net';

export interface LatencyProxy {
  /** Where to connect instead of the upstream: `127.0.0.1:<port>`. */
  readonly port: number;
  close(): Promise<void>;
}

/** Forwards `from` to `to`, each chunk no earlier than `delayMillis` after it came and after `notBefore`. */
function delayed(from: Socket, to: Socket, delayMillis: number, notBefore: number): void {
  let last = notBefore;
  from.on('data', (chunk: Buffer) => {
    const at = Math.max(last, performance.now() + delayMillis);
    last = at;
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, at - performance.now());
  });
  from.on('end', () => {
    setTimeout(() => to.end(), Math.max(0, last - performance.now()) + 1);
  });
}

export async function startLatencyProxy(upstreamPort: number, roundTripMillis: number): Promise<LatencyProxy> {
  const sockets = new Set<Socket>();
  const half = roundTripMillis / 2;
  const server = net.createServer((client) => {
    const accepted = performance.now();
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    // What comes through goes on as it came: no coalescing of the proxy's own.
    upstream.setNoDelay(true);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    // The client's first bytes would leave after the handshake (one round trip) and arrive half
    // a round trip later.
    delayed(client, upstream, half, accepted + roundTripMillis + half);
    delayed(upstream, client, half, 0);
  });
  server.on('connection', (socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
