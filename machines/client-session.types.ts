/** Events, commands and context pieces of the client-session machine (pure data, JSON-serialisable). */
import type { AnySqlState } from '../src/protocol/sqlstate.js';

export type ClientTlsMode = 'disable' | 'allow' | 'require' | 'verify-full';
/** tls_client_cert_identity: `cn` requires the client certificate's CN to equal the startup user. */
export type ClientCertIdentity = 'none' | 'cn';

/** How the client reached gatehouse: the TCP listener, or the Unix-domain socket (`unix_socket_dir`). */
export type ClientTransport = 'tcp' | 'unix';

/** pg_hba methods gatehouse carries out. */
export type HbaMethod = 'trust' | 'reject' | 'md5' | 'scram-sha-256' | 'cert';

/**
 * The result of matching a client against the pg_hba rules (src/config/hba.ts), reported with its
 * startup packet. Which rule matched is a fact the journal keeps; what it means is the machine's call.
 */
export type HbaVerdict =
  /** No pg_hba and no hba list configured: every client may try its password. */
  | { kind: 'unconfigured' }
  /** Rules are configured and none matched: refused (FATAL 28000, as PostgreSQL). */
  | { kind: 'no-match' }
  /** The first rule that matched: where it is (file or key path, line) and what it says. */
  | { kind: 'match'; source: string; line: number; text: string; method: HbaMethod };

/** How the configured password of the startup user is stored (not the password); null: the pool has no such user. */
export type StoredPasswordKind = 'plain' | 'md5' | 'scram-sha-256';

/** How a client proves who it is: the password exchange chosen, or a method that needs none. */
export type ClientAuthMethod = 'scram-sha-256' | 'md5' | 'trust' | 'cert';

/** What the journal keeps of a certificate: never the whole certificate or any key. */
export interface PeerCertificate {
  /** The subject's CN, compared with the startup user under tls_client_cert_identity: cn. */
  commonName: string | null;
  subject: string;
  issuer: string;
  serialNumber: string;
  fingerprint256: string;
  validFrom: string;
  validTo: string;
}

/** What keeps a transaction-pooled client on its server (docs/pooling.md). */
export type PinReason = 'listen' | 'advisory_lock' | 'temp_object' | 'held_cursor' | 'prepared_statement';

export interface ClientFailure {
  /** Stable reason code, also the `reason` label of rejection metrics. */
  reason: string;
  /** Present when the client gets an ErrorResponse. */
  sqlstate?: AnySqlState;
  message: string;
}

export type ClientEvent =
  /** SSLRequest; `trailingBytes` counts bytes that arrived after it before any reply. */
  | { type: 'client.sslRequest'; trailingBytes: number }
  | { type: 'client.gssEncRequest' }
  /** A startup packet began with 0x16: a TLS record (PostgreSQL 17 direct TLS when it is the very first byte). */
  | { type: 'client.directTls' }
  /** The cancel key itself stays in the driver: it is a secret. */
  | { type: 'client.cancelRequest' }
  | {
      type: 'client.startup';
      user: string;
      database: string;
      databaseKnown: boolean;
      /**
       * How the user's password is stored, or null when the pool has no such user; 'auth_query': not configured,
       * the pool's auth_query looks it up (`user.lookup`).
       */
      password: StoredPasswordKind | null | 'auth_query';
      /** The peer's IP address as pg_hba matched it, or "[local]" on the Unix socket. */
      address: string;
      hba: HbaVerdict;
      /**
       * The database is the admin console's (pgdoorman, pgbouncer, with general.admin_password set): 'admin' when
       * the user is general.admin_username, 'forbidden' for anyone else; null for every other database.
       */
      adminConsole: 'admin' | 'forbidden' | null;
    }
  | { type: 'client.invalidPacket'; sqlstate: AnySqlState; message: string }
  /** After login: a message the relay cannot frame (a length out of bounds). */
  | { type: 'client.invalidMessage'; message: string }
  /** After login: the client sent nothing for idle_transaction_timeout inside a transaction (its server is already closed). */
  | { type: 'client.idleInTransaction' }
  | { type: 'tls.slotGranted' }
  | { type: 'tls.slotDenied' }
  | {
      type: 'tls.established';
      protocol: string;
      cipher: string;
      alpnProtocol: string | null;
      authorized: boolean;
      authorizationError: string | null;
      peerCertificate: PeerCertificate | null;
    }
  | { type: 'tls.failed'; reason: string }
  /** auth_query answered: how the user's password is stored (never the password), or null: no such user. */
  | { type: 'user.found'; password: StoredPasswordKind | null }
  /** auth_query could not answer (PostgreSQL down, the query failed, more than one row). */
  | { type: 'user.lookupFailed'; sqlstate: AnySqlState; message: string }
  | { type: 'auth.succeeded' }
  | { type: 'auth.failed'; sqlstate: AnySqlState; message: string }
  | { type: 'pool.acquired'; serverId: string }
  /** No server for the session: at login, or (transaction pooling) for a later transaction. */
  | { type: 'pool.failed'; sqlstate: AnySqlState; message: string }
  /** A bug (an exception that is not a ProxyError) in the session's pool or relay code: logged with its stack, never shown. */
  | { type: 'internal.error'; where: 'pool' | 'relay' }
  /**
   * The server connection of a running session ended. `midMessage`: the bytes relayed to the client stop inside a
   * message; `serverErrorRelayed`: the last message relayed was PostgreSQL's own ErrorResponse (its FATAL before it closed).
   */
  | { type: 'backend.lost'; message: string; midMessage: boolean; serverErrorRelayed: boolean }
  /**
   * Transaction pooling: what the client holds on its server changed (read when a transaction ended):
   * it keeps that server while `pins` is not empty, and lets it go when it is.
   */
  | { type: 'session.pinned'; pins: PinReason[] }
  /** The admin console's KILL for the client's database; `by` is the admin connection's id. */
  | { type: 'admin.kill'; by: string }
  | { type: 'timer.expired'; timer: 'login' }
  | { type: 'socket.closed' };

export type ClientCommand =
  | { type: 'ssl.reply'; byte: 'S' | 'N' }
  | { type: 'gss.reply'; byte: 'N' }
  | { type: 'tls.acquireSlot' }
  | { type: 'tls.start'; requestClientCertificate: boolean; direct: boolean }
  /** Run this password exchange; `mock`: one no password can pass (unknown user, or no secret for the method). */
  | { type: 'auth.start'; method: 'scram-sha-256' | 'md5'; mock: boolean }
  /** No password is asked (pg_hba trust or cert): send AuthenticationOk. */
  | { type: 'auth.ok' }
  /** Ask the pool's auth_query for the startup user's password (the answer is user.found or user.lookupFailed). */
  | { type: 'user.lookup' }
  | { type: 'pool.acquire' }
  | { type: 'session.start' }
  | { type: 'cancel.forward' }
  /** What the driver reads next from the client: startup packets, authentication messages, or nothing (paused). */
  | { type: 'read'; what: 'startup' | 'auth' | 'nothing' }
  | { type: 'fatal'; failure: ClientFailure & { sqlstate: AnySqlState } }
  | { type: 'close'; failure: ClientFailure | null };
