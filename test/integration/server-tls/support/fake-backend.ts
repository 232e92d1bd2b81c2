// A scripted PostgreSQL impostor on a real socket, for answers a real server will not give on demand:
// it accepts TLS with 'S' and then sends bytes that are not TLS at all.
import net from 'node:net';
import { PROTOCOL_3_0, SSL_REQUEST_CODE } from '../../../fixtures/raw-socket.js';

export interface FakeBackend {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** StartupMessages received in plain, on any connection (a fallback to plain would send one). */
  plainStartups: number;
  close(): Promise<void>;
}

/** Garbage where a TLS ServerHello should be: the first byte is not a TLS record type. */
export const NOT_TLS = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');

/** Answers an SSLRequest with 'S', then answers whatever comes next (the ClientHello) with NOT_TLS and closes. */
export async function startSThenGarbageBackend(): Promise<FakeBackend> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, plainStartups: 0 };
  const server = net.createServer((socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let acceptedTls = false;
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (acceptedTls) {
        socket.end(NOT_TLS);
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 8) return;
      const code = buffered.readInt32BE(4);
      if (code === PROTOCOL_3_0) state.plainStartups += 1;
      if (code === SSL_REQUEST_CODE) {
        acceptedTls = true;
        buffered = Buffer.alloc(0);
        socket.write('S');
        return;
      }
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return state.connections;
    },
    get plainStartups() {
      return state.plainStartups;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
