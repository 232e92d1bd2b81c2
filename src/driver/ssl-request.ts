/**
 * gatehouse asking PostgreSQL for TLS (server logins and cancels alike): send the SSLRequest and
 * report the one-byte answer as a fact. Reading stops at once: what follows 'S' is the TLS
 * handshake, read by the TLS layer; whatever came with the reply byte is counted, never read on
 * (the machine judges it: CVE-2021-23222).
 */
import type { Socket } from 'node:net';
import { encodeSslRequest } from '../protocol/index.js';

export interface SslReply {
  type: 'backend.sslReply';
  reply: 'S' | 'N' | 'E' | 'other';
  trailingBytes: number;
}

export function requestSsl(socket: Socket, report: (event: SslReply) => void): void {
  socket.once('data', (chunk: Buffer) => {
    socket.pause();
    const byte = String.fromCharCode(chunk[0]);
    const reply = byte === 'S' || byte === 'N' || byte === 'E' ? byte : 'other';
    report({ type: 'backend.sslReply', reply, trailingBytes: chunk.length - 1 });
  });
  socket.write(encodeSslRequest());
}
