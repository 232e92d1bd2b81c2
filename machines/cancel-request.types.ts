/** Events, commands and context pieces of the cancel-request machine (pure data, JSON-serialisable; never the cancel key). */
import type { ServerTlsMode, ServerTlsNegotiation } from './server-tls-policy.js';

export interface CancelRequestInput {
  /** The server_tls_mode the cancelled session's connection was made with. */
  mode: ServerTlsMode;
  negotiation: ServerTlsNegotiation;
  /**
   * The cancelled session's backend connection is encrypted. Its cancel key then travels only
   * encrypted too; a plain session's key already crossed the network in plain (in BackendKeyData).
   */
  sessionTls: boolean;
  /**
   * Present when the cancel goes to another gatehouse instance, the general.peer_id its key names, instead of to
   * PostgreSQL (src/proxy/peer-cancel.ts). The peer link is plain, so sessionTls is false then.
   */
  peer?: number;
}

export interface CancelFailure {
  /** Stable reason code (log field and the outcome label of gatehouse_cancel_requests_total). */
  reason: string;
  message: string;
  /** Failed during or because of TLS: counted in pg_doorman_server_tls_handshake_errors_total. */
  tlsError: boolean;
}

export type CancelEvent =
  | { type: 'socket.connected' }
  | { type: 'socket.connectFailed'; message: string }
  /** The single byte answering SSLRequest; `trailingBytes` counts the bytes that came with it. */
  | { type: 'backend.sslReply'; reply: 'S' | 'N' | 'E' | 'other'; trailingBytes: number }
  | {
      type: 'tls.established';
      protocol: string;
      cipher: string;
      /** The chain verified against server_tls_ca_cert. */
      authorized: boolean;
      authorizationError: string | null;
      /** null when the certificate matches server_host, else why not. */
      hostnameError: string | null;
    }
  | { type: 'tls.failed'; reason: string }
  /** The connection closed; `hadError`: it ended with a transmission error (a reset), not an orderly close. */
  | { type: 'socket.closed'; hadError: boolean }
  | { type: 'timer.expired'; timer: 'cancel' };

export type CancelCommand =
  | { type: 'connect' }
  | { type: 'send.sslRequest' }
  | { type: 'tls.start'; direct: boolean }
  /** Write the CancelRequest (only the driver holds the key); the server closes the connection when it has read it. */
  | { type: 'send.cancel' }
  | { type: 'sent' }
  | { type: 'fail'; failure: CancelFailure };
