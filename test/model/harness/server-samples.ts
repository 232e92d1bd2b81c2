/**
 * Event samples for the server-handshake model, each matching what the real server driver reports
 * when the scripted backend does the corresponding thing.
 */
import type { ServerEvent } from '../../../machines/server-handshake.js';
import { authenticationOk, encodeErrorResponse } from '../../../src/protocol/index.js';

export const SERVER_USER = 'app_user';
export const SERVER_PASSWORD = 'pool secret';
export const STARTUP_PARAMETERS = { user: SERVER_USER, database: 'appdb', application_name: 'gatehouse-model' };
/** The bytes after 'S' that a man in the middle injected (CVE-2021-23222). */
export const INJECTED_AFTER_S = Buffer.from('Z\u0000\u0000', 'latin1');
/** What a man in the middle pre-loads after an 'N' under prefer: an AuthenticationOk nobody asked for yet. */
export const INJECTED_AFTER_N = authenticationOk();
/** What a server sends after ReadyForQuery during startup that it must not: a DataRow answering no query. */
export const BYTES_AFTER_READY = Buffer.from([0x44, 0, 0, 0, 6, 0, 0]);
/** How a server that rejects SSLRequest outright (a pre-7.0 server, or a broken proxy) answers: a whole ErrorResponse. */
export const SSL_REQUEST_ERROR = encodeErrorResponse({ severity: 'FATAL', sqlstate: '08P01', message: 'unsupported frontend protocol 1234.5679' });
export const BACKEND_ERROR_SQLSTATES = ['28000', '57P03', '53300'] as const;

export type BackendCertChoice = 'trusted' | 'untrusted' | 'other-host';

function established(choice: BackendCertChoice): ServerEvent {
  return {
    type: 'tls.established',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    authorized: choice !== 'untrusted',
    authorizationError: choice === 'untrusted' ? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' : null,
    hostnameError: choice === 'other-host' ? "Hostname/IP does not match certificate's altnames" : null,
  };
}

export const SERVER_SAMPLES: ServerEvent[] = [
  { type: 'socket.connectFailed', message: 'connect ECONNREFUSED' },
  { type: 'backend.sslReply', reply: 'S', trailingBytes: 0 },
  { type: 'backend.sslReply', reply: 'S', trailingBytes: INJECTED_AFTER_S.length },
  { type: 'backend.sslReply', reply: 'N', trailingBytes: 0 },
  { type: 'backend.sslReply', reply: 'N', trailingBytes: INJECTED_AFTER_N.length },
  { type: 'backend.sslReply', reply: 'E', trailingBytes: SSL_REQUEST_ERROR.length - 1 },
  { type: 'backend.sslReply', reply: 'other', trailingBytes: 0 },
  established('trusted'),
  established('untrusted'),
  established('other-host'),
  { type: 'tls.failed', reason: 'wrong version number' },
  { type: 'backend.authRequest', method: 'cleartext', detail: 'password' },
  { type: 'backend.authRequest', method: 'md5', detail: 'md5' },
  { type: 'backend.authRequest', method: 'scram-sha-256', detail: 'SCRAM-SHA-256' },
  { type: 'backend.authRequest', method: 'unsupported', detail: 'authentication request 7' },
  ...BACKEND_ERROR_SQLSTATES.map((sqlstate): ServerEvent => ({ type: 'backend.error', sqlstate, message: `refused with ${sqlstate}` })),
  { type: 'backend.protocolViolation', message: 'unexpected message type D during startup' },
  { type: 'auth.failed', message: 'SCRAM authentication with the server failed' },
  { type: 'backend.authOk', scramProofPending: false },
  { type: 'backend.ready', trailingBytes: 0 },
  { type: 'backend.ready', trailingBytes: BYTES_AFTER_READY.length },
  { type: 'timer.expired', timer: 'connect' },
];

/**
 * AuthenticationOk before the SCRAM server signature. Only a SCRAM exchange gatehouse answered can
 * leave the proof pending, which the model cannot tell from its state: it is not a sample but a
 * scenario step after a SCRAM request (LOGINS in the model test).
 */
export const UNPROVEN_SCRAM_OK: ServerEvent = { type: 'backend.authOk', scramProofPending: true };

export function certChoiceOf(event: ServerEvent): BackendCertChoice {
  if (event.type !== 'tls.established') throw new Error(`not a tls.established sample: ${event.type}`);
  if (!event.authorized) return 'untrusted';
  return event.hostnameError ? 'other-host' : 'trusted';
}
