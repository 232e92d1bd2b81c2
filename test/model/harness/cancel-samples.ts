/**
 * Event samples for the cancel-request model, each matching what the real cancel driver reports
 * when the scripted backend does the corresponding thing.
 */
import type { CancelEvent } from '../../../machines/cancel-request.js';
import { encodeCancelRequest } from '../../../src/protocol/index.js';
import { SSL_REQUEST_ERROR, INJECTED_AFTER_S } from './server-samples.js';

/** The real key of the backend whose query is cancelled: it may reach the wire only inside the CancelRequest. */
export const CANCEL_KEY = { processId: 0x2bad_cafe, secretKey: Buffer.from([0x5e, 0xc2, 0xe7, 0x4b]) };
export const CANCEL_PACKET = encodeCancelRequest(CANCEL_KEY.processId, CANCEL_KEY.secretKey);

function established(choice: 'trusted' | 'untrusted' | 'other-host'): CancelEvent {
  return {
    type: 'tls.established',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    authorized: choice !== 'untrusted',
    authorizationError: choice === 'untrusted' ? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' : null,
    hostnameError: choice === 'other-host' ? "Hostname/IP does not match certificate's altnames" : null,
  };
}

export const CANCEL_SAMPLES: CancelEvent[] = [
  { type: 'socket.connectFailed', message: 'connect ECONNREFUSED' },
  { type: 'backend.sslReply', reply: 'S', trailingBytes: 0 },
  { type: 'backend.sslReply', reply: 'S', trailingBytes: INJECTED_AFTER_S.length },
  { type: 'backend.sslReply', reply: 'N', trailingBytes: 0 },
  { type: 'backend.sslReply', reply: 'E', trailingBytes: SSL_REQUEST_ERROR.length - 1 },
  { type: 'backend.sslReply', reply: 'other', trailingBytes: 0 },
  established('trusted'),
  established('untrusted'),
  established('other-host'),
  { type: 'tls.failed', reason: 'wrong version number' },
  { type: 'socket.closed', hadError: false },
  { type: 'socket.closed', hadError: true },
  { type: 'timer.expired', timer: 'cancel' },
];
