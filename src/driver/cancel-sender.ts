/**
 * Sends a CancelRequest for a server connection on a new socket. A backend connection that used
 * TLS gets its cancel through the same TLS negotiation (SSLRequest + handshake, or direct TLS) and
 * the same verification: the backend's cancel key never crosses the network in plain when the
 * session itself was encrypted (PgDoorman's docs call plain cancels a limitation).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { SERVER_TLS_POLICY, usesDirectTls } from '../../machines/server-tls-policy.js';
import { encodeCancelRequest, encodeSslRequest } from '../protocol/index.js';
import type { ServerConnection } from '../pool/server-connection.js';
import { hostnameError, serverTlsConnectOptions } from '../tls/server-tls.js';

const CANCEL_TIMEOUT_MS = 5000;

export function sendCancel(server: ServerConnection, logger: Logger): Promise<void> {
  const key = server.backendKey;
  if (!key) return Promise.resolve();
  const packet = encodeCancelRequest(key.processId, key.secretKey);
  const { host, port, mode, negotiation, material } = server.route;
  const encrypted = server.tls !== null && material !== null;
  return new Promise((resolve) => {
    const raw = netConnect({ host, port });
    let socket: Socket = raw;
    const give = (why: string) => {
      logger.warn({ server: server.id, host, port, reason: why }, 'cancel request not sent');
      socket.destroy();
    };
    raw.setTimeout(CANCEL_TIMEOUT_MS, () => give('timeout'));
    raw.on('error', (err) => give(err.message));
    raw.on('close', () => resolve());
    const overTls = () => {
      const secure = tlsConnect({ socket: raw, ...serverTlsConnectOptions(material!, host) });
      socket = secure;
      secure.on('error', (err) => give(`TLS: ${err.message}`));
      secure.once('secureConnect', () => {
        if (SERVER_TLS_POLICY[mode].verifiesChain && !secure.authorized) return give(`certificate verify failed: ${secure.authorizationError}`);
        const mismatch = SERVER_TLS_POLICY[mode].verifiesHostname ? hostnameError(host, secure.getPeerCertificate()) : null;
        if (mismatch) return give(`hostname mismatch: ${mismatch}`);
        secure.end(packet);
      });
    };
    raw.once('connect', () => {
      if (!encrypted) return void raw.end(packet);
      if (usesDirectTls(mode, negotiation)) return overTls();
      raw.once('data', (reply: Buffer) => {
        raw.pause();
        if (reply.length !== 1 || reply[0] !== 0x53) return give('server did not accept TLS for the cancel request');
        overTls();
      });
      raw.write(encodeSslRequest());
    });
  });
}
