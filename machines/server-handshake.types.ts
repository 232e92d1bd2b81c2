/** Events, commands and context pieces of the server-handshake machine (pure data, JSON-serialisable). */
import type { AnySqlState } from '../src/protocol/sqlstate.js';
import type { ServerTlsMode, ServerTlsNegotiation } from './server-tls-policy.js';

export type { ServerTlsMode, ServerTlsNegotiation } from './server-tls-policy.js';
export type ServerAuthMethod = 'cleartext' | 'md5' | 'scram-sha-256';

export interface ServerFailure {
  /** Stable reason code (log field and metric label). */
  reason: string;
  /** SQLSTATE the waiting client gets: one of gatehouse's own (08001/08006/08P01), or the server's own for a refused login. */
  sqlstate: AnySqlState;
  message: string;
  /** The failure happened during or because of TLS: counted in pg_doorman_server_tls_handshake_errors_total. */
  tlsError: boolean;
}

export type ServerEvent =
  | { type: 'socket.connected' }
  | { type: 'socket.connectFailed'; message: string }
  /** The single byte answering SSLRequest; `trailingBytes` counts the bytes that came with it, in the same read. */
  | { type: 'backend.sslReply'; reply: 'S' | 'N' | 'E' | 'other'; trailingBytes: number }
  | {
      type: 'tls.established';
      protocol: string;
      cipher: string;
      /** The chain verified against server_tls_ca_cert (only the configured CAs, never the system store). */
      authorized: boolean;
      authorizationError: string | null;
      /** null when the certificate matches server_host, else why not. */
      hostnameError: string | null;
    }
  | { type: 'tls.failed'; reason: string }
  | { type: 'backend.authRequest'; method: ServerAuthMethod | 'unsupported'; detail: string }
  /** AuthenticationOk; `scramProofPending`: a SCRAM exchange began and the server never sent a verified server signature. */
  | { type: 'backend.authOk'; scramProofPending: boolean }
  | { type: 'backend.error'; sqlstate: AnySqlState; message: string }
  /** ReadyForQuery; `trailingBytes` counts what the server sent after it, already read (nothing may follow during startup). */
  | { type: 'backend.ready'; trailingBytes: number }
  | { type: 'backend.protocolViolation'; message: string }
  | { type: 'auth.failed'; message: string }
  | { type: 'socket.closed' }
  | { type: 'timer.expired'; timer: 'connect' };

export type ServerCommand =
  | { type: 'connect' }
  | { type: 'reconnect' }
  | { type: 'send.sslRequest' }
  | { type: 'tls.start'; direct: boolean }
  | { type: 'send.startup' }
  | { type: 'auth.respond'; method: ServerAuthMethod }
  | { type: 'fail'; failure: ServerFailure }
  | { type: 'ready' };
