// Ports on 127.0.0.1: a free one to bind, and whether something accepts on one.
// A TCP port nobody listens on right now. Another process may still take it before the caller binds it,
// so callers that bind later (a PostgreSQL child) must be ready to retry with a fresh port.
import net from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`could not read the port the kernel gave for ${host}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`; with `timeoutMs`, a connect that hangs that long counts as no. */
export function tcpAccepts(port: number, timeoutMs?: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    if (timeoutMs !== undefined) socket.setTimeout(timeoutMs);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
