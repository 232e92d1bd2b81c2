/**
 * The client-session machine: one per client connection (client → gatehouse).
 *
 * Pure: it imports nothing from node:*, opens no sockets and starts no timers. The client driver
 * (src/driver/client-driver.ts) turns socket facts into the events below and carries out the
 * commands this machine emits. Every decision about TLS modes, refusals and their SQLSTATEs is
 * made here, so it can be replayed from a journal and drawn as a diagram.
 */
import { and, assign, emit, enqueueActions, not, or, setup } from 'xstate';
import { SqlState } from '../src/protocol/sqlstate.js';
import type {
  ClientAuthMethod,
  ClientCertIdentity,
  ClientCommand,
  ClientEvent,
  ClientFailure,
  ClientTlsMode,
  ClientTransport,
  HbaMethod,
  HbaVerdict,
  PeerCertificate,
  PinReason,
  StoredPasswordKind,
} from './client-session.types.js';

export type {
  ClientAuthMethod,
  ClientCertIdentity,
  ClientCommand,
  ClientEvent,
  ClientFailure,
  ClientTlsMode,
  ClientTransport,
  HbaMethod,
  HbaVerdict,
  PeerCertificate,
  StoredPasswordKind,
} from './client-session.types.js';

/** Bumped whenever states or transitions change, so journals say which machine they were recorded with. */
export const CLIENT_SESSION_VERSION = 10;

export interface ClientSessionInput {
  tlsMode: ClientTlsMode;
  /** A server certificate and key are loaded, so TLS can be offered. */
  tlsAvailable: boolean;
  /** The listener was already at max_connections when this client connected. */
  overCapacity: boolean;
  certIdentity: ClientCertIdentity;
  /** The listener this client came through; on the Unix socket TLS is never offered (PostgreSQL answers N). */
  transport: ClientTransport;
  /** pg_hba has `cert` rules, so every TLS client is asked for a certificate (verified against tls_ca_cert). */
  hbaCertRules: boolean;
}

export interface ClientSessionContext extends ClientSessionInput {
  tls: boolean;
  direct: boolean;
  user: string | null;
  database: string | null;
  peer: PeerCertificate | null;
  /** The client certificate (if one was asked for and given) verified against tls_ca_cert. */
  clientCertTrusted: boolean;
  /** The method of the pg_hba rule that matched (null: no rules), kept for decisions after a user lookup. */
  hbaMethod: HbaMethod | null;
  /** How the client is proving who it is (chosen at startup from the pg_hba method and the stored password). */
  authMethod: ClientAuthMethod | null;
  /** The password exchange is a mock: no password can pass it (no such user, or no secret for the method). */
  mockAuth: boolean;
  failure: ClientFailure | null;
  /** Transaction pooling: what keeps the client on its server now (empty: nothing). */
  pins: PinReason[];
}

type StartupEvent = Extract<ClientEvent, { type: 'client.startup' }>;

/** The pg_hba method deciding now: the startup's verdict, or (after a user lookup) the one recorded from it. */
function hbaMethod(context: ClientSessionContext, event: ClientEvent): HbaMethod | null {
  if (event.type === 'client.startup') return event.hba.kind === 'match' ? event.hba.method : null;
  return context.hbaMethod;
}

/** How the user's password is stored, as the startup packet (static users) or auth_query (user.found) tells. */
function storedPassword(event: ClientEvent): StoredPasswordKind | null | 'auth_query' | undefined {
  return event.type === 'client.startup' || event.type === 'user.found' ? event.password : undefined;
}

/**
 * The password exchange a startup calls for, as PostgreSQL chooses it: an md5 rule runs MD5 unless the password is
 * stored as a SCRAM secret (then SCRAM, PostgreSQL's own fallback); a scram-sha-256 rule runs SCRAM, a mock one when
 * the stored password is an md5 hash (no secret to check against); without rules, an md5 hash runs MD5 and anything
 * else SCRAM. An unknown user gets a mock of the method's exchange, so refusals do not tell which users exist.
 */
function passwordExchange(rule: HbaMethod | null, stored: StoredPasswordKind | null): { method: 'scram-sha-256' | 'md5'; mock: boolean } {
  if (rule === 'md5') return { method: stored === 'scram-sha-256' ? 'scram-sha-256' : 'md5', mock: stored === null };
  if (rule === 'scram-sha-256') return { method: 'scram-sha-256', mock: stored === null || stored === 'md5' };
  return { method: stored === 'md5' ? 'md5' : 'scram-sha-256', mock: stored === null };
}

/** PostgreSQL's description of a connection in pg_hba refusals. */
function hbaConnection(context: ClientSessionContext, event: StartupEvent): string {
  return `host "${event.address}", user "${event.user}", database "${event.database}", ${context.tls ? 'SSL encryption' : 'no encryption'}`;
}

const TLS_REQUIRED: ClientFailure = {
  reason: 'tls_required',
  sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
  message: 'TLS is required by tls_mode: connect with sslmode=require or stronger',
};
const TOO_MANY_CLIENTS: ClientFailure = { reason: 'too_many_clients', sqlstate: SqlState.TOO_MANY_CONNECTIONS, message: 'sorry, too many clients already' };
const DUPLICATE_NEGOTIATION: ClientFailure = {
  reason: 'protocol_error',
  sqlstate: SqlState.PROTOCOL_VIOLATION,
  message: 'unexpected encryption negotiation request at this point of the startup',
};
// A TLS record anywhere but as the very first bytes of the connection (after a GSSENCRequest, inside
// TLS, after a declined SSLRequest) is not direct TLS: PostgreSQL answers it as a protocol violation.
const MISPLACED_TLS_RECORD: ClientFailure = {
  reason: 'invalid_startup',
  sqlstate: SqlState.PROTOCOL_VIOLATION,
  message: 'unexpected TLS record during startup',
};
// PostgreSQL's own words for idle_in_transaction_session_timeout.
const IDLE_IN_TRANSACTION: ClientFailure = {
  reason: 'idle_transaction_timeout',
  sqlstate: SqlState.IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
  message: 'terminating connection due to idle-in-transaction timeout',
};
const INTERNAL_ERROR: ClientFailure = { reason: 'internal_error', message: 'internal error in the session (logged with its stack)' };
const UNENCRYPTED_AFTER_SSL_REQUEST: ClientFailure = {
  reason: 'unencrypted_bytes_after_ssl_request',
  message: 'received unencrypted data after SSL request',
};

export const clientSessionMachine = setup({
  types: {
    input: {} as ClientSessionInput,
    context: {} as ClientSessionContext,
    events: {} as ClientEvent,
    emitted: {} as ClientCommand,
  },
  guards: {
    // PostgreSQL never offers TLS on a Unix-domain socket: an SSLRequest there is answered N.
    isTlsOffered: ({ context }) => context.tlsAvailable && context.tlsMode !== 'disable' && context.transport !== 'unix',
    // tls_mode governs the network; a local client is not refused for being plain (PgDoorman 3.6.2, pg_hba `local`).
    isPlainButTlsRequired: ({ context }) =>
      !context.tls && context.transport !== 'unix' && (context.tlsMode === 'require' || context.tlsMode === 'verify-full'),
    // pg_hba: rules are configured and none matched the connection.
    isRejectedByHba: ({ event }) => event.type === 'client.startup' && event.hba.kind === 'no-match',
    isHbaReject: ({ context, event }) => hbaMethod(context, event) === 'reject',
    isHbaTrust: ({ context, event }) => hbaMethod(context, event) === 'trust',
    isHbaCert: ({ context, event }) => hbaMethod(context, event) === 'cert',
    // pg_hba cert: a client certificate verified against tls_ca_cert must have been presented.
    isHbaCertWithoutTrustedCertificate: ({ context, event }) =>
      hbaMethod(context, event) === 'cert' && !(context.tls && context.clientCertTrusted),
    // pg_hba cert: the certificate's CN is the identity, so it must be the user the client logs in as.
    isHbaCertForAnotherUser: ({ context, event }) =>
      hbaMethod(context, event) === 'cert' && event.type === 'client.startup' && context.peer?.commonName !== event.user,
    // The user is not configured statically: the pool's auth_query must say whether it exists, and how its
    // password is stored, before anything else is decided.
    isUserLookupNeeded: ({ event }) => storedPassword(event) === 'auth_query',
    // trust and cert let a client in without a password; one the pool does not know has nowhere to go.
    isUnknownUser: ({ event }) => storedPassword(event) === null,
    isOverCapacity: ({ context }) => context.overCapacity,
    // CVE-2021-23214: bytes that arrived unencrypted after an SSLRequest, before the handshake,
    // may have been injected by a man in the middle; they must never be interpreted.
    hasUnencryptedTrailingBytes: ({ event }) => event.type === 'client.sslRequest' && event.trailingBytes > 0,
    // Only general.admin_username may use the admin console (PgBouncer's admin_users, PgDoorman's admin_username).
    isAdminConsoleForOtherUser: ({ event }) => event.type === 'client.startup' && event.adminConsole === 'forbidden',
    isUnknownDatabase: ({ event }) => event.type === 'client.startup' && !event.databaseKnown,
    // PostgreSQL's clientcert=verify-full: the certificate must name the user it logs in as.
    isCertificateIdentityMismatch: ({ context, event }) =>
      context.certIdentity === 'cn' && event.type === 'client.startup' && context.peer?.commonName !== event.user,
    requiresClientCertificate: ({ context }) => context.tlsMode === 'verify-full',
    isClientCertificateTrusted: ({ event }) => event.type === 'tls.established' && event.authorized,
    // PostgreSQL 17+ refuses direct TLS without ALPN "postgresql" (cross-protocol attacks).
    isDirectWithoutPostgresAlpn: ({ context, event }) =>
      context.direct && event.type === 'tls.established' && event.alpnProtocol !== 'postgresql',
    // The client's stream is between two messages and PostgreSQL did not say why itself (a FATAL 57P01 relayed):
    // an ErrorResponse can still be read as one. Mid-message it would be read as the rest of a DataRow.
    canTellClientServerLost: ({ event }) => event.type === 'backend.lost' && !event.midMessage && !event.serverErrorRelayed,
  },
  actions: {
    replySsl: emit((_, params: { byte: 'S' | 'N' }) => ({ type: 'ssl.reply' as const, byte: params.byte })),
    replyGss: emit({ type: 'gss.reply' as const, byte: 'N' as const }),
    acquireHandshakeSlot: emit({ type: 'tls.acquireSlot' as const }),
    startTls: emit(({ context }) => ({
      type: 'tls.start' as const,
      requestClientCertificate: context.tlsMode === 'verify-full' || context.hbaCertRules,
      direct: context.direct,
    })),
    markDirect: assign({ direct: true }),
    recordPins: assign(({ event }) => (event.type === 'session.pinned' ? { pins: event.pins } : {})),
    recordTls: assign(({ event }) =>
      event.type === 'tls.established' ? { tls: true, peer: event.peerCertificate, clientCertTrusted: event.authorized } : {},
    ),
    recordStartup: assign(({ event }) =>
      event.type === 'client.startup'
        ? { user: event.user, database: event.database, hbaMethod: event.hba.kind === 'match' ? event.hba.method : null }
        : {},
    ),
    lookUpUser: emit({ type: 'user.lookup' as const }),
    /** The exchange the startup (or the user lookup) calls for: recorded, and asked of the driver. */
    startPasswordExchange: enqueueActions(({ context, enqueue, event }) => {
      const stored = storedPassword(event);
      if (stored === undefined || stored === 'auth_query') return;
      const exchange = passwordExchange(hbaMethod(context, event), stored);
      enqueue.assign({ authMethod: exchange.method, mockAuth: exchange.mock });
      enqueue.emit({ type: 'auth.start', method: exchange.method, mock: exchange.mock });
    }),
    /** pg_hba trust or cert: no password is asked; AuthenticationOk goes out at once. */
    grantLogin: enqueueActions(({ enqueue }, params: { method: 'trust' | 'cert' }) => {
      enqueue.assign({ authMethod: params.method, mockAuth: false });
      enqueue.emit({ type: 'auth.ok' });
    }),
    readStartup: emit({ type: 'read' as const, what: 'startup' as const }),
    readAuth: emit({ type: 'read' as const, what: 'auth' as const }),
    readNothing: emit({ type: 'read' as const, what: 'nothing' as const }),
    acquireServer: emit({ type: 'pool.acquire' as const }),
    startSession: emit({ type: 'session.start' as const }),
    forwardCancel: emit({ type: 'cancel.forward' as const }),
    close: emit({ type: 'close' as const, failure: null }),
    /** Record why the client was refused and send it a FATAL ErrorResponse (the driver closes after it). */
    refuse: enqueueActions(({ enqueue }, params: ClientFailure) => {
      enqueue.assign({ failure: params });
      enqueue.emit({ type: 'fatal', failure: { ...params, sqlstate: params.sqlstate ?? SqlState.PROTOCOL_VIOLATION } });
    }),
    /** Record why the connection ended where the protocol has no place for an error message, and close. */
    drop: enqueueActions(({ enqueue }, params: ClientFailure) => {
      enqueue.assign({ failure: params });
      enqueue.emit({ type: 'close', failure: params });
    }),
  },
}).createMachine({
  id: 'client-session',
  context: ({ input }) => ({
    ...input,
    tls: false,
    direct: false,
    user: null,
    database: null,
    peer: null,
    clientCertTrusted: false,
    hbaMethod: null,
    authMethod: null,
    mockAuth: false,
    failure: null,
    pins: [],
  }),
  initial: 'connected',
  states: {
    connected: {
      initial: 'negotiating',
      on: { 'socket.closed': { target: 'closed', actions: 'close' } },
      states: {
        negotiating: {
          initial: 'startup-phase',
          on: {
            'timer.expired': {
              target: '#client-session.failed',
              actions: { type: 'drop', params: { reason: 'login_timeout', message: 'client_login_timeout expired before authentication completed' } },
            },
            'client.invalidPacket': {
              target: '#client-session.failed',
              actions: {
                type: 'refuse',
                params: ({ event }) => ({ reason: 'invalid_startup', sqlstate: event.sqlstate, message: event.message }),
              },
            },
          },
          states: {
            'startup-phase': {
              description: 'Waiting for a startup packet; what may come depends on the negotiation so far.',
              initial: 'negotiable',
              entry: 'readStartup',
              on: {
                'client.directTls': { target: '#client-session.failed', actions: { type: 'refuse', params: MISPLACED_TLS_RECORD } },
                'client.startup': [
                  { guard: 'isOverCapacity', target: '#client-session.failed', actions: { type: 'refuse', params: TOO_MANY_CLIENTS } },
                  { guard: 'isPlainButTlsRequired', target: '#client-session.failed', actions: { type: 'refuse', params: TLS_REQUIRED } },
                  {
                    guard: 'isRejectedByHba',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ context, event }) => ({
                        reason: 'hba',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `no pg_hba.conf entry for ${hbaConnection(context, event as StartupEvent)}`,
                      }),
                    },
                  },
                  {
                    guard: 'isHbaReject',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ context, event }) => ({
                        reason: 'hba',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `pg_hba.conf rejects connection for ${hbaConnection(context, event as StartupEvent)}`,
                      }),
                    },
                  },
                  {
                    guard: 'isCertificateIdentityMismatch',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ context, event }) => ({
                        reason: 'certificate_identity_mismatch',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `certificate authentication failed for user "${event.user}": certificate CN is ${
                          context.peer?.commonName ? `"${context.peer.commonName}"` : 'missing'
                        }`,
                      }),
                    },
                  },
                  {
                    guard: 'isAdminConsoleForOtherUser',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ event }) => ({
                        reason: 'admin_forbidden',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `user "${event.user}" is not allowed to use the admin console (only general.admin_username is)`,
                      }),
                    },
                  },
                  {
                    guard: 'isUnknownDatabase',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ event }) => ({
                        reason: 'unknown_database',
                        sqlstate: SqlState.INVALID_CATALOG_NAME,
                        message: `no such database: ${event.database}`,
                      }),
                    },
                  },
                  {
                    guard: 'isHbaCertWithoutTrustedCertificate',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: {
                        reason: 'hba_cert_missing',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: 'connection requires a valid client certificate',
                      },
                    },
                  },
                  {
                    guard: 'isHbaCertForAnotherUser',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ event }) => ({
                        reason: 'hba_cert_identity_mismatch',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `certificate authentication failed for user "${event.user}"`,
                      }),
                    },
                  },
                  { guard: 'isUserLookupNeeded', target: 'looking-up', actions: ['recordStartup', 'lookUpUser'] },
                  {
                    guard: and([or(['isHbaTrust', 'isHbaCert']), 'isUnknownUser']),
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ event }) => ({
                        reason: 'unknown_user',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `role "${event.user}" does not exist`,
                      }),
                    },
                  },
                  {
                    guard: 'isHbaTrust',
                    target: 'awaiting-server',
                    actions: ['recordStartup', { type: 'grantLogin', params: { method: 'trust' } }, 'acquireServer'],
                  },
                  {
                    guard: 'isHbaCert',
                    target: 'awaiting-server',
                    actions: ['recordStartup', { type: 'grantLogin', params: { method: 'cert' } }, 'acquireServer'],
                  },
                  { target: 'authenticating', actions: ['recordStartup', 'startPasswordExchange'] },
                ],
                'client.cancelRequest': { target: '#client-session.cancel-relayed', actions: 'forwardCancel' },
                'client.sslRequest': { target: '#client-session.failed', actions: { type: 'refuse', params: DUPLICATE_NEGOTIATION } },
                'client.gssEncRequest': { target: '#client-session.failed', actions: { type: 'refuse', params: DUPLICATE_NEGOTIATION } },
              },
              states: {
                negotiable: {
                  description: 'No encryption negotiated yet: an SSLRequest is answered here.',
                  initial: 'awaiting-startup',
                  on: {
                    'client.sslRequest': [
                      {
                        guard: 'hasUnencryptedTrailingBytes',
                        target: '#client-session.failed',
                        actions: { type: 'drop', params: UNENCRYPTED_AFTER_SSL_REQUEST },
                      },
                      { guard: 'isOverCapacity', target: '#client-session.connected.negotiating.startup-phase.plain-fallback', actions: { type: 'replySsl', params: { byte: 'N' } } },
                      {
                        guard: 'isTlsOffered',
                        target: '#client-session.connected.negotiating.ssl-requested',
                        actions: [{ type: 'replySsl', params: { byte: 'S' } }, 'acquireHandshakeSlot'],
                      },
                      { target: '#client-session.connected.negotiating.startup-phase.plain-fallback', actions: { type: 'replySsl', params: { byte: 'N' } } },
                    ],
                  },
                  states: {
                    'awaiting-startup': {
                      on: {
                        'client.gssEncRequest': { target: 'gss-declined', actions: 'replyGss' },
                        'client.directTls': [
                          {
                            guard: 'isTlsOffered',
                            target: '#client-session.connected.negotiating.ssl-requested',
                            actions: ['markDirect', 'acquireHandshakeSlot'],
                          },
                          {
                            target: '#client-session.failed',
                            actions: { type: 'drop', params: { reason: 'direct_tls_unavailable', message: 'direct TLS connection while TLS is not offered' } },
                          },
                        ],
                      },
                    },
                    'gss-declined': {
                      description: 'GSSAPI encryption was declined with N; TLS or a plain startup may follow.',
                    },
                  },
                },
                'plain-fallback': {
                  description: 'TLS was declined with N; only a plain StartupMessage or CancelRequest may follow.',
                  // The driver stopped reading at the SSLRequest (CVE-2021-23214); the N reply is out, so read on.
                  entry: 'readStartup',
                },
                'tls-established': {
                  description: 'TLS is up; the StartupMessage or CancelRequest comes inside it.',
                },
              },
            },
            'ssl-requested': {
              description: 'The client asked for TLS (SSLRequest answered S, or a direct ClientHello); waiting for a handshake slot.',
              // Whatever follows is read by TLS, or never (CVE-2021-23214).
              entry: 'readNothing',
              on: {
                'tls.slotGranted': { target: 'tls-handshaking', actions: 'startTls' },
                // The login timeout passed while the client queued for a slot: that is the rate limit's doing.
                'timer.expired': {
                  target: '#client-session.failed',
                  actions: { type: 'drop', params: { reason: 'tls_rate_limited', message: 'no TLS handshake slot before the login timeout' } },
                },
                'tls.slotDenied': {
                  target: '#client-session.failed',
                  actions: { type: 'drop', params: { reason: 'tls_rate_limited', message: 'no TLS handshake slot before the login timeout' } },
                },
              },
            },
            'tls-handshaking': {
              on: {
                'tls.established': [
                  {
                    guard: 'isDirectWithoutPostgresAlpn',
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: {
                        reason: 'direct_tls_without_alpn',
                        sqlstate: SqlState.PROTOCOL_VIOLATION,
                        message: 'received direct SSL connection request without ALPN protocol negotiation extension',
                      },
                    },
                  },
                  {
                    guard: and(['requiresClientCertificate', not('isClientCertificateTrusted')]),
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ event }) => ({
                        reason: 'client_certificate_rejected',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `client certificate rejected: ${event.authorizationError ?? 'not trusted'}`,
                      }),
                    },
                  },
                  { target: 'startup-phase.tls-established', actions: 'recordTls' },
                ],
                'tls.failed': {
                  target: '#client-session.failed',
                  actions: {
                    type: 'drop',
                    params: ({ event }) => ({ reason: 'tls_handshake_failed', message: `TLS handshake failed: ${event.reason}` }),
                  },
                },
              },
            },
            'looking-up': {
              description: "The pool's auth_query is asked for the user's password; nothing is read meanwhile.",
              entry: 'readNothing',
              on: {
                'user.found': [
                  {
                    guard: and([or(['isHbaTrust', 'isHbaCert']), 'isUnknownUser']),
                    target: '#client-session.failed',
                    actions: {
                      type: 'refuse',
                      params: ({ context }) => ({
                        reason: 'unknown_user',
                        sqlstate: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                        message: `role "${context.user}" does not exist`,
                      }),
                    },
                  },
                  { guard: 'isHbaTrust', target: 'awaiting-server', actions: [{ type: 'grantLogin', params: { method: 'trust' } }, 'acquireServer'] },
                  { guard: 'isHbaCert', target: 'awaiting-server', actions: [{ type: 'grantLogin', params: { method: 'cert' } }, 'acquireServer'] },
                  // An unknown user gets the mock exchange, so the lookup tells nobody which users exist.
                  { target: 'authenticating', actions: 'startPasswordExchange' },
                ],
                'user.lookupFailed': {
                  target: '#client-session.failed',
                  actions: {
                    type: 'refuse',
                    params: ({ event }) => ({ reason: 'user_lookup_failed', sqlstate: event.sqlstate, message: event.message }),
                  },
                },
              },
            },
            authenticating: {
              entry: 'readAuth',
              on: {
                'auth.succeeded': { target: 'awaiting-server', actions: 'acquireServer' },
                'auth.failed': {
                  target: '#client-session.failed',
                  actions: {
                    type: 'refuse',
                    params: ({ event }) => ({ reason: 'auth_failed', sqlstate: event.sqlstate, message: event.message }),
                  },
                },
              },
            },
            'awaiting-server': {
              // Queries pipelined behind the login wait in the kernel, not in gatehouse's memory.
              entry: 'readNothing',
              on: {
                'internal.error': { target: '#client-session.failed', actions: { type: 'drop', params: INTERNAL_ERROR } },
                'pool.acquired': { target: '#client-session.connected.ready', actions: 'startSession' },
                'pool.failed': {
                  target: '#client-session.failed',
                  actions: {
                    type: 'refuse',
                    params: ({ event }) => ({ reason: 'server_unavailable', sqlstate: event.sqlstate, message: event.message }),
                  },
                },
              },
            },
          },
        },
        ready: {
          description: 'Authenticated; the session relays bytes without the machine until either side ends or a transaction finds no server.',
          on: {
            // Transaction pooling: no server for the client's next transaction.
            'pool.failed': {
              target: '#client-session.failed',
              actions: {
                type: 'refuse',
                params: ({ event }) => ({ reason: 'server_unavailable', sqlstate: event.sqlstate, message: event.message }),
              },
            },
            // PostgreSQL answers a message length it cannot accept with FATAL 08P01 and closes.
            'client.invalidMessage': {
              target: '#client-session.failed',
              actions: {
                type: 'refuse',
                params: ({ event }) => ({ reason: 'protocol_error', sqlstate: SqlState.PROTOCOL_VIOLATION, message: event.message }),
              },
            },
            'internal.error': { target: '#client-session.failed', actions: { type: 'drop', params: INTERNAL_ERROR } },
            // idle_transaction_timeout: the relay closed the server inside the transaction; the client hears why, as from PostgreSQL.
            'client.idleInTransaction': {
              target: '#client-session.failed',
              actions: { type: 'refuse', params: IDLE_IN_TRANSACTION },
            },
            // The session keeps or lets go of its server itself; the journal records why, and when.
            'session.pinned': {
              description: 'Transaction pooling: the client now holds (or no longer holds) what pins it to its server.',
              actions: 'recordPins',
            },
            // KILL <db> in the admin console: PostgreSQL's words for pg_terminate_backend().
            'admin.kill': {
              target: '#client-session.failed',
              actions: {
                type: 'refuse',
                params: ({ event }) => ({
                  reason: 'admin_kill',
                  sqlstate: SqlState.ADMIN_SHUTDOWN,
                  message: `terminating connection due to administrator command (KILL from ${event.by})`,
                }),
              },
            },
            // PostgreSQL gone without a word (killed, crashed, the network cut): libpq's words and 08006, as a client
            // connected directly would see them; one that already heard PostgreSQL's FATAL, or is mid-message, is closed.
            'backend.lost': [
              {
                guard: 'canTellClientServerLost',
                target: '#client-session.failed',
                actions: {
                  type: 'refuse',
                  params: ({ event }) => ({ reason: 'server_lost', sqlstate: SqlState.CONNECTION_FAILURE, message: event.message }),
                },
              },
              {
                target: '#client-session.failed',
                actions: { type: 'drop', params: ({ event }) => ({ reason: 'server_lost', message: event.message }) },
              },
            ],
          },
        },
      },
    },
    'cancel-relayed': { type: 'final', entry: 'close' },
    failed: { type: 'final' },
    closed: { type: 'final' },
  },
});
