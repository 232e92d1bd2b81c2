/**
 * The server-handshake machine: one per backend connection attempt (gatehouse → PostgreSQL),
 * from TCP connect to the first ReadyForQuery.
 *
 * Pure, like the client-session machine: the server driver (src/driver/server-driver.ts) reports
 * socket and protocol facts (S/N byte and what came with it, certificate verification results,
 * authentication requests, whether the SCRAM server signature was verified, bytes after
 * ReadyForQuery) and carries out the commands emitted here. What each server_tls_mode means is
 * read from ./server-tls-policy.ts; every decision taken on it is a named guard below.
 */
import { and, assign, emit, enqueueActions, setup } from 'xstate';
import { SqlState } from '../src/protocol/sqlstate.js';
import type { ServerCommand, ServerEvent, ServerFailure, ServerTlsMode, ServerTlsNegotiation } from './server-handshake.types.js';
import { SERVER_TLS_POLICY, usesDirectTls } from './server-tls-policy.js';

export type {
  ServerAuthMethod,
  ServerCommand,
  ServerEvent,
  ServerFailure,
  ServerTlsMode,
  ServerTlsNegotiation,
} from './server-handshake.types.js';

/** Bumped whenever states, transitions, events or context change, so journals say which machine they were recorded with. */
export const SERVER_HANDSHAKE_VERSION = 4;

export interface ServerHandshakeInput {
  mode: ServerTlsMode;
  negotiation: ServerTlsNegotiation;
}

export interface ServerHandshakeContext extends ServerHandshakeInput {
  /** allow tries plain first, then TLS on a new socket; every other mode has a single attempt. */
  attempt: 'plain' | 'tls';
  tls: boolean;
  failure: ServerFailure | null;
}

type FailureParams = ServerFailure;

const policyOf = (context: ServerHandshakeInput) => SERVER_TLS_POLICY[context.mode];

export const serverHandshakeMachine = setup({
  types: {
    input: {} as ServerHandshakeInput,
    context: {} as ServerHandshakeContext,
    events: {} as ServerEvent,
    emitted: {} as ServerCommand,
  },
  guards: {
    isDirectTls: ({ context }) => usesDirectTls(context.mode, context.negotiation),
    startsPlain: ({ context }) => context.attempt === 'plain',
    // CVE-2021-23222: bytes after 'S' and before the handshake were not encrypted and may be injected.
    isCleanTlsAcceptance: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'S' && event.trailingBytes === 0,
    isTlsAcceptanceWithTrailingBytes: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'S',
    isCleanTlsRefusal: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'N' && event.trailingBytes === 0,
    // A server that answers 'N' waits for the StartupMessage and sends nothing before it has read
    // one; bytes that came with the 'N' were sent before the server could have seen a StartupMessage,
    // so they answer nothing: a man in the middle (or a broken server) pre-loading "answers". libpq
    // (fe-connect.c, CONNECTION_SSL_STARTUP) consumes the 'N' and would parse such bytes as the reply
    // to the StartupMessage it has not sent yet; PgBouncer (handle_sslchar) refuses them
    // ("received unencrypted data after SSL response"). gatehouse refuses them like PgBouncer: on a
    // plain connection they buy an attacker nothing it could not inject later, but reading them as
    // the server's answer would take bytes that answer nothing for the start of the login.
    isTlsRefusalWithTrailingBytes: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'N' && event.trailingBytes > 0,
    isTlsDeclined: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'N',
    mayFallBackToPlain: ({ context }) => policyOf(context).fallsBackToPlain,
    isErrorReply: ({ event }) => event.type === 'backend.sslReply' && event.reply === 'E',
    verifiesChain: ({ context }) => policyOf(context).verifiesChain,
    isChainUntrusted: ({ event }) => event.type === 'tls.established' && !event.authorized,
    verifiesHostname: ({ context }) => policyOf(context).verifiesHostname,
    isHostnameMismatch: ({ event }) => event.type === 'tls.established' && event.hostnameError !== null,
    isUnsupportedAuthMethod: ({ event }) => event.type === 'backend.authRequest' && event.method === 'unsupported',
    // An impostor server (or a man in the middle who does not know the password) answers the SCRAM
    // client-final-message with AuthenticationOk and no server-final-message: the server signature
    // is SCRAM's proof that the server knows the password, so a login without it is not mutual
    // authentication at all and the connection must not be handed to a client.
    isUnprovenScramLogin: ({ event }) => event.type === 'backend.authOk' && event.scramProofPending,
    // allow: a plain login refused with an ErrorResponse is retried with TLS on a new socket,
    // except when the server is starting up or shutting down (57P*), which TLS would not fix.
    isRetryablePlainRejection: ({ context, event }) =>
      policyOf(context).retriesWithTls && context.attempt === 'plain' && event.type === 'backend.error' && !event.sqlstate.startsWith('57P'),
    // During startup nothing follows ReadyForQuery until gatehouse sends a query: bytes after it
    // would reach the first client as answers to a query it never sent (a desynchronised session).
    hasBytesAfterReadyForQuery: ({ event }) => event.type === 'backend.ready' && event.trailingBytes > 0,
  },
  actions: {
    connect: emit({ type: 'connect' as const }),
    reconnect: emit({ type: 'reconnect' as const }),
    switchToTlsAttempt: assign({ attempt: 'tls' as const }),
    sendSslRequest: emit({ type: 'send.sslRequest' as const }),
    startTls: emit(({ context }) => ({ type: 'tls.start' as const, direct: usesDirectTls(context.mode, context.negotiation) })),
    recordTls: assign({ tls: true }),
    sendStartup: emit({ type: 'send.startup' as const }),
    respondToAuth: emit(({ event }) => ({
      type: 'auth.respond' as const,
      method: event.type === 'backend.authRequest' && event.method !== 'unsupported' ? event.method : 'cleartext',
    })),
    announceReady: emit({ type: 'ready' as const }),
    fail: enqueueActions(({ enqueue }, params: FailureParams) => {
      enqueue.assign({ failure: params });
      enqueue.emit({ type: 'fail', failure: params });
    }),
  },
}).createMachine({
  id: 'server-handshake',
  context: ({ input }) => ({ ...input, attempt: SERVER_TLS_POLICY[input.mode].firstAttempt, tls: false, failure: null }),
  initial: 'negotiating',
  states: {
    negotiating: {
      initial: 'connecting',
      on: {
        'socket.closed': {
          target: 'failed',
          actions: {
            type: 'fail',
            params: { reason: 'server_closed', sqlstate: SqlState.CONNECTION_FAILURE, message: 'server closed the connection unexpectedly', tlsError: false },
          },
        },
        'timer.expired': {
          target: 'failed',
          actions: {
            type: 'fail',
            params: {
              reason: 'connect_timeout',
              sqlstate: SqlState.CONNECTION_FAILURE,
              message: 'timeout while connecting to the server (connect_timeout)',
              tlsError: false,
            },
          },
        },
        // TLS 1.3: the client finishes its handshake before the server has judged gatehouse's
        // certificate, so a refusal (e.g. alert "unknown ca") arrives after tls.established.
        'tls.failed': {
          target: 'failed',
          actions: {
            type: 'fail',
            params: ({ event }) => ({
              reason: 'tls_handshake_failed',
              sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
              message: `TLS handshake failed: ${event.reason}`,
              tlsError: true,
            }),
          },
        },
        'backend.protocolViolation': {
          target: 'failed',
          actions: {
            type: 'fail',
            params: ({ event }) => ({ reason: 'protocol_violation', sqlstate: SqlState.PROTOCOL_VIOLATION, message: event.message, tlsError: false }),
          },
        },
      },
      states: {
        connecting: {
          entry: 'connect',
          on: {
            'socket.connected': [
              { guard: 'isDirectTls', target: 'tls-handshaking', actions: 'startTls' },
              { guard: 'startsPlain', target: 'login.authenticating', actions: 'sendStartup' },
              { target: 'ssl-requested', actions: 'sendSslRequest' },
            ],
            'socket.connectFailed': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: ({ event }) => ({
                  reason: 'connect_failed',
                  sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                  message: `could not connect to server: ${event.message}`,
                  tlsError: false,
                }),
              },
            },
          },
        },
        reconnecting: {
          description: 'allow: the plain login was refused; retrying on a new socket with TLS.',
          entry: ['switchToTlsAttempt', 'reconnect'],
          on: {
            'socket.connected': { target: 'ssl-requested', actions: 'sendSslRequest' },
            'socket.connectFailed': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: ({ event }) => ({
                  reason: 'connect_failed',
                  sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                  message: `could not connect to server: ${event.message}`,
                  tlsError: false,
                }),
              },
            },
          },
        },
        'ssl-requested': {
          on: {
            'backend.sslReply': [
              { guard: 'isCleanTlsAcceptance', target: 'tls-handshaking', actions: 'startTls' },
              {
                guard: 'isTlsAcceptanceWithTrailingBytes',
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: {
                    reason: 'unencrypted_bytes_after_s',
                    sqlstate: SqlState.PROTOCOL_VIOLATION,
                    message: 'received unencrypted data after SSL response',
                    tlsError: true,
                  },
                },
              },
              { guard: and(['isCleanTlsRefusal', 'mayFallBackToPlain']), target: 'login.plain-fallback', actions: 'sendStartup' },
              {
                guard: and(['isTlsRefusalWithTrailingBytes', 'mayFallBackToPlain']),
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: ({ event }) => ({
                    reason: 'bytes_after_n',
                    sqlstate: SqlState.PROTOCOL_VIOLATION,
                    message: `received ${event.trailingBytes} byte(s) after the SSL refusal, before any StartupMessage`,
                    tlsError: true,
                  }),
                },
              },
              {
                guard: 'isTlsDeclined',
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: {
                    reason: 'tls_unsupported',
                    sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                    message: 'server does not support TLS',
                    tlsError: true,
                  },
                },
              },
              {
                guard: 'isErrorReply',
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: {
                    reason: 'ssl_request_error',
                    sqlstate: SqlState.PROTOCOL_VIOLATION,
                    message: 'server sent an error response to the SSL request',
                    tlsError: true,
                  },
                },
              },
              {
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: {
                    reason: 'ssl_request_garbage',
                    sqlstate: SqlState.PROTOCOL_VIOLATION,
                    message: 'received invalid response to SSL negotiation',
                    tlsError: true,
                  },
                },
              },
            ],
          },
        },
        'tls-handshaking': {
          on: {
            'tls.established': [
              {
                guard: and(['verifiesChain', 'isChainUntrusted']),
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: ({ event }) => ({
                    reason: 'certificate_untrusted',
                    sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                    message: `certificate verify failed: ${event.authorizationError ?? 'unknown error'}`,
                    tlsError: true,
                  }),
                },
              },
              {
                guard: and(['verifiesHostname', 'isHostnameMismatch']),
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: ({ event }) => ({
                    reason: 'hostname_mismatch',
                    sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                    message: `hostname mismatch: ${event.hostnameError}`,
                    tlsError: true,
                  }),
                },
              },
              { target: 'login.authenticating', actions: ['recordTls', 'sendStartup'] },
            ],
            'tls.failed': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: ({ event }) => ({
                  reason: 'tls_handshake_failed',
                  sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                  message: `TLS handshake failed: ${event.reason}`,
                  tlsError: true,
                }),
              },
            },
          },
        },
        login: {
          description: 'StartupMessage sent; answering the authentication the server asks for.',
          initial: 'authenticating',
          on: {
            'backend.authRequest': [
              {
                guard: 'isUnsupportedAuthMethod',
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: ({ event }) => ({
                    reason: 'unsupported_auth',
                    sqlstate: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
                    message: `server requested an unsupported authentication method: ${event.detail}`,
                    tlsError: false,
                  }),
                },
              },
              { target: '.authenticating', actions: 'respondToAuth' },
            ],
            'backend.authOk': [
              {
                guard: 'isUnprovenScramLogin',
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: {
                    reason: 'scram_proof_missing',
                    sqlstate: SqlState.CONNECTION_FAILURE,
                    message: 'server accepted the login without proving it knows the password (no SCRAM server signature)',
                    tlsError: false,
                  },
                },
              },
              { target: 'starting-up' },
            ],
            // An impostor that skips authentication altogether: ReadyForQuery before AuthenticationOk.
            'backend.ready': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: {
                  reason: 'protocol_violation',
                  sqlstate: SqlState.PROTOCOL_VIOLATION,
                  message: 'server sent ReadyForQuery before authentication completed',
                  tlsError: false,
                },
              },
            },
            'backend.error': [
              { guard: 'isRetryablePlainRejection', target: 'reconnecting' },
              {
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: ({ event }) => ({ reason: 'login_rejected', sqlstate: event.sqlstate, message: `server login failed: ${event.message}`, tlsError: false }),
                },
              },
            ],
            'auth.failed': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: ({ event }) => ({ reason: 'auth_failed', sqlstate: SqlState.CONNECTION_FAILURE, message: event.message, tlsError: false }),
              },
            },
          },
          states: {
            authenticating: {},
            'plain-fallback': {
              description: 'prefer: the server declined TLS with N; the login continues in plain on the same socket.',
            },
          },
        },
        'starting-up': {
          description: 'Authenticated; collecting ParameterStatus and BackendKeyData until ReadyForQuery.',
          on: {
            'backend.ready': [
              {
                guard: 'hasBytesAfterReadyForQuery',
                target: '#server-handshake.failed',
                actions: {
                  type: 'fail',
                  params: {
                    reason: 'protocol_violation',
                    sqlstate: SqlState.PROTOCOL_VIOLATION,
                    message: 'server sent data after ReadyForQuery during startup',
                    tlsError: false,
                  },
                },
              },
              { target: '#server-handshake.ready' },
            ],
            // Authentication is over once AuthenticationOk came: a new request (or a SASL message the
            // finished exchange cannot take) is not something a real server sends.
            'backend.authRequest': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: ({ event }) => ({
                  reason: 'protocol_violation',
                  sqlstate: SqlState.PROTOCOL_VIOLATION,
                  message: `server asked for authentication (${event.detail}) after AuthenticationOk`,
                  tlsError: false,
                }),
              },
            },
            'auth.failed': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: ({ event }) => ({
                  reason: 'protocol_violation',
                  sqlstate: SqlState.PROTOCOL_VIOLATION,
                  message: `authentication message after AuthenticationOk: ${event.message}`,
                  tlsError: false,
                }),
              },
            },
            'backend.error': {
              target: '#server-handshake.failed',
              actions: {
                type: 'fail',
                params: ({ event }) => ({ reason: 'startup_rejected', sqlstate: event.sqlstate, message: `server startup failed: ${event.message}`, tlsError: false }),
              },
            },
          },
        },
      },
    },
    ready: { type: 'final', entry: 'announceReady' },
    failed: { type: 'final' },
  },
});
