// A TCP tap between gatehouse and PostgreSQL: forwards bytes both ways untouched and records how each
// backend connection began, so a test can see what gatehouse put on the wire (a plain StartupMessage,
// an SSLRequest followed by a TLS handshake or by a plain login, direct TLS, a plain CancelRequest).
import net from 'node:net';
import { PROTOCOL_3_0, SSL_REQUEST_CODE } from '../../../fixtures/raw-socket.js';

const CANCEL_REQUEST_CODE = 80877102;
const GSSENC_REQUEST_CODE = 80877104;
const TLS_HANDSHAKE_RECORD = 0x16;

export type Opening = 'startup' | 'ssl-request' | 'cancel' | 'gssenc-request' | 'tls-record' | 'other' | 'nothing';

export interface TappedConnection {
  openedAt: number;
  /** What gatehouse sent first. */
  opening: Opening;
  /** The backend's first byte, as a character ('S', 'N', 'E' for an ErrorResponse, …); '' if it sent nothing. */
  backendFirst: string;
  /** After an SSLRequest: what gatehouse sent next ('tls-record' = a TLS record, 'startup' = plain login). */
  afterSslRequest: Opening;
  /** Bytes gatehouse sent over this connection. */
  bytesFromGatehouse: number;
}

export interface Tap {
  port: number;
  connections: TappedConnection[];
  close(): Promise<void>;
}

function classify(data: Buffer): Opening {
  if (data.length === 0) return 'nothing';
  if (data[0] === TLS_HANDSHAKE_RECORD) return 'tls-record';
  if (data.length < 8) return 'other';
  switch (data.readInt32BE(4)) {
    case SSL_REQUEST_CODE:
      return 'ssl-request';
    case CANCEL_REQUEST_CODE:
      return 'cancel';
    case GSSENC_REQUEST_CODE:
      return 'gssenc-request';
    case PROTOCOL_3_0:
      return 'startup';
    default:
      return 'other';
  }
}

/** Listens on 127.0.0.1 (kernel-picked port) and forwards every connection to 127.0.0.1:targetPort. */
export async function startTap(targetPort: number): Promise<Tap> {
  const connections: TappedConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((front) => {
    const record: TappedConnection = { openedAt: Date.now(), opening: 'nothing', backendFirst: '', afterSslRequest: 'nothing', bytesFromGatehouse: 0 };
    connections.push(record);
    let head = Buffer.alloc(0);
    const back = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [front, back]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        front.destroy();
        back.destroy();
      });
    }
    front.on('data', (chunk: Buffer) => {
      record.bytesFromGatehouse += chunk.length;
      if (head.length < 16) {
        head = Buffer.concat([head, chunk]);
        record.opening = classify(head);
        if (record.opening === 'ssl-request') record.afterSslRequest = classify(head.subarray(8));
      }
      back.write(chunk);
    });
    back.on('data', (chunk: Buffer) => {
      if (record.backendFirst === '') record.backendFirst = String.fromCharCode(chunk[0]);
      front.write(chunk);
    });
    front.on('end', () => back.end());
    back.on('end', () => front.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
