/**
 * The cancel-request machine: one per CancelRequest gatehouse forwards to PostgreSQL, on a new
 * connection to the server that runs the query (src/driver/cancel-driver.ts drives it), or to the
 * gatehouse instance (peer) that owns the session, which is a plain connection (input.peer).
 *
 * A cancel reaches the server the way the session did: an encrypted session's key travels only
 * inside TLS, negotiated and verified exactly as the server-handshake machine does it (same state
 * names, same guards, same server_tls_mode meaning from ./server-tls-policy.ts), so a man in the
 * middle can neither read the key nor pose as the server to collect it. PostgreSQL never answers a
 * CancelRequest: it reads it and closes the connection, which is how `sent` is recognised.
 *
 * Pure: the driver reports socket and TLS facts and carries out the emitted commands; the key
 * itself is never in an event, the context or a command.
 */
import { and, assign, emit, enqueueActions, setup } from 'xstate';
import type { CancelCommand, CancelEvent, CancelFailure, CancelRequestInput } from './cancel-request.types.js';
import { SERVER_TLS_POLICY, usesDirectTls } from './server-tls-policy.js';

export type { CancelCommand, CancelEvent, CancelFailure, CancelRequestInput } from './cancel-request.types.js';

/** Bumped whenever states, transitions, events or context change, so journals say which machine they were recorded with. */
export const CANCEL_REQUEST_VERSION = 2;

export interface CancelRequestContext extends CancelRequestInput {
  /** The cancel's own connection is encrypted (TLS established and accepted). */
  tls: boolean;
  failure: CancelFailure | null;
}

const policyOf = (context: CancelRequestInput) => SERVER_TLS_POLICY[context.mode];

export const cancelRequestMachine = setup({
  types: {
    input: {} as CancelRequestInput,
    context: {} as CancelRequestContext,
    events: {} as CancelEvent,
    emitted: {} as CancelCommand,
  },
  guards: {
    usesTls: ({ context }) => context.sessionTls,
    isDirectTls: ({ context }) => usesDirectTls(context.mode, context.negotiation),
    isCleanTlsAcceptance: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'S' && event.trailingBytes === 0,
    // CVE-2021-23222: bytes after 'S' and before the handshake were not encrypted and may be injected.
    isTlsAcceptanceWithTrailingBytes: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'S',
    isTlsDeclined: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'N',
    isErrorReply: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'E',
    verifiesChain: ({ context }) => policyOf(context).verifiesChain,
    isChainUntrusted: ({ event }) => event.type === 'tls.established' && !event.authorized,
    verifiesHostname: ({ context }) => policyOf(context).verifiesHostname,
    isHostnameMismatch: ({ event }) => event.type === 'tls.established' && event.hostnameError !== null,
    isOrderlyClose: ({ event }) => event.type === 'socket.closed' && !event.hadError,
  },
  actions: {
    connect: emit({ type: 'connect' as const }),
    sendSslRequest: emit({ type: 'send.sslRequest' as const }),
    startTls: emit(({ context }) => ({ type: 'tls.start' as const, direct: usesDirectTls(context.mode, context.negotiation) })),
    recordTls: assign({ tls: true }),
    sendCancel: emit({ type: 'send.cancel' as const }),
    announceSent: emit({ type: 'sent' as const }),
    fail: enqueueActions(({ enqueue }, params: CancelFailure) => {
      enqueue.assign({ failure: params });
      enqueue.emit({ type: 'fail', failure: params });
    }),
  },
}).createMachine({
  id: 'cancel-request',
  context: ({ input }) => ({ ...input, tls: false, failure: null }),
  initial: 'requesting',
  states: {
    requesting: {
      initial: 'connecting',
      on: {
        'socket.closed': {
          target: 'failed',
          actions: { type: 'fail', params: { reason: 'server_closed', message: 'server closed the connection before the cancel request was sent', tlsError: false } },
        },
        'timer.expired': {
          target: 'failed',
          actions: { type: 'fail', params: { reason: 'timeout', message: 'the cancel request did not complete in time', tlsError: false } },
        },
      },
      states: {
        connecting: {
          entry: 'connect',
          on: {
            'socket.connected': [
              { guard: and(['usesTls', 'isDirectTls']), target: 'tls-handshaking', actions: 'startTls' },
              { guard: 'usesTls', target: 'ssl-requested', actions: 'sendSslRequest' },
              { target: 'sending' },
            ],
            'socket.connectFailed': {
              target: '#cancel-request.failed',
              actions: { type: 'fail', params: ({ event }) => ({ reason: 'connect_failed', message: `could not connect to server: ${event.message}`, tlsError: false }) },
            },
          },
        },
        'ssl-requested': {
          on: {
            'backend.sslReply': [
              { guard: 'isCleanTlsAcceptance', target: 'tls-handshaking', actions: 'startTls' },
              {
                guard: 'isTlsAcceptanceWithTrailingBytes',
                target: '#cancel-request.failed',
                actions: { type: 'fail', params: { reason: 'unencrypted_bytes_after_s', message: 'received unencrypted data after SSL response', tlsError: true } },
              },
              // Never a plain fallback, not even under prefer: the session is encrypted, so its key must be too.
              {
                guard: 'isTlsDeclined',
                target: '#cancel-request.failed',
                actions: {
                  type: 'fail',
                  params: { reason: 'tls_unsupported', message: 'server declined TLS; the cancel key of an encrypted session is never sent in plain', tlsError: true },
                },
              },
              {
                guard: 'isErrorReply',
                target: '#cancel-request.failed',
                actions: { type: 'fail', params: { reason: 'ssl_request_error', message: 'server sent an error response to the SSL request', tlsError: true } },
              },
              {
                target: '#cancel-request.failed',
                actions: { type: 'fail', params: { reason: 'ssl_request_garbage', message: 'received invalid response to SSL negotiation', tlsError: true } },
              },
            ],
          },
        },
        'tls-handshaking': {
          on: {
            'tls.established': [
              // Verified like the session: a server that cannot prove its identity does not get the key.
              {
                guard: and(['verifiesChain', 'isChainUntrusted']),
                target: '#cancel-request.failed',
                actions: {
                  type: 'fail',
                  params: ({ event }) => ({ reason: 'certificate_untrusted', message: `certificate verify failed: ${event.authorizationError ?? 'unknown error'}`, tlsError: true }),
                },
              },
              {
                guard: and(['verifiesHostname', 'isHostnameMismatch']),
                target: '#cancel-request.failed',
                actions: { type: 'fail', params: ({ event }) => ({ reason: 'hostname_mismatch', message: `hostname mismatch: ${event.hostnameError}`, tlsError: true }) },
              },
              { target: 'sending', actions: 'recordTls' },
            ],
            'tls.failed': {
              target: '#cancel-request.failed',
              actions: { type: 'fail', params: ({ event }) => ({ reason: 'tls_handshake_failed', message: `TLS handshake failed: ${event.reason}`, tlsError: true }) },
            },
          },
        },
        sending: {
          description: 'The CancelRequest is written; PostgreSQL reads it, cancels and closes the connection (an orderly close is the only answer).',
          entry: 'sendCancel',
          on: {
            'socket.closed': [
              { guard: 'isOrderlyClose', target: '#cancel-request.sent' },
              {
                target: '#cancel-request.failed',
                actions: { type: 'fail', params: { reason: 'server_reset', message: 'the connection was reset while the cancel request was being sent', tlsError: false } },
              },
            ],
            // TLS 1.3: a refusal of gatehouse's client certificate arrives after the handshake.
            'tls.failed': {
              target: '#cancel-request.failed',
              actions: { type: 'fail', params: ({ event }) => ({ reason: 'tls_failed', message: `TLS failed while sending the cancel request: ${event.reason}`, tlsError: true }) },
            },
          },
        },
      },
    },
    sent: { type: 'final', entry: 'announceSent' },
    failed: { type: 'final' },
  },
});
