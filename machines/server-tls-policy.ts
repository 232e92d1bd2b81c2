/**
 * What each server_tls_mode means, in one place. The server-handshake machine's guards, the
 * cancel-request machine's guards and the configuration rules (a CA is required, direct negotiation
 * is allowed) all read this table, so a mode cannot mean one thing to a connection, another to its
 * cancel and a third to `gatehouse check-config`.
 *
 * The modes follow libpq's sslmode: disable < allow < prefer < require < verify-ca < verify-full.
 * Pure data: no imports, no effects.
 */

export const SERVER_TLS_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type ServerTlsMode = (typeof SERVER_TLS_MODES)[number];

export const SERVER_TLS_NEGOTIATIONS = ['postgres', 'direct'] as const;
/**
 * 'postgres': a plaintext SSLRequest first, TLS after the server answers 'S' (every PostgreSQL).
 * 'direct': a TLS ClientHello straight away with ALPN "postgresql" (PostgreSQL 17+, libpq's sslnegotiation=direct).
 */
export type ServerTlsNegotiation = (typeof SERVER_TLS_NEGOTIATIONS)[number];

export interface ServerTlsModeMeaning {
  /** TLS is ever attempted towards the server. */
  triesTls: boolean;
  /** What the first connection attempt speaks: a plain StartupMessage, or TLS (SSLRequest or direct). */
  firstAttempt: 'plain' | 'tls';
  /** prefer: an 'N' to the SSLRequest continues the login in plain on the same socket. */
  fallsBackToPlain: boolean;
  /** allow: a plain login the server refuses is retried with TLS on a new socket. */
  retriesWithTls: boolean;
  /** A connection that is not encrypted is never used. */
  requiresTls: boolean;
  /** The server certificate must chain to server_tls_ca_cert (only the configured CAs, never the system store). */
  verifiesChain: boolean;
  /** The server certificate must name server_host (DNS or IP subjectAltName). */
  verifiesHostname: boolean;
  /**
   * server_tls_negotiation: direct is allowed. A direct connection opens with a TLS ClientHello, so it
   * has no plaintext step to fall back to: only modes that require TLS may use it (as libpq refuses
   * sslnegotiation=direct with sslmode below require).
   */
  allowsDirectNegotiation: boolean;
}

// One row per mode, every property spelled out: this table is the definition.
export const SERVER_TLS_POLICY: Readonly<Record<ServerTlsMode, Readonly<ServerTlsModeMeaning>>> = {
  disable:       { triesTls: false, firstAttempt: 'plain', fallsBackToPlain: false, retriesWithTls: false, requiresTls: false, verifiesChain: false, verifiesHostname: false, allowsDirectNegotiation: false },
  allow:         { triesTls: true,  firstAttempt: 'plain', fallsBackToPlain: false, retriesWithTls: true,  requiresTls: false, verifiesChain: false, verifiesHostname: false, allowsDirectNegotiation: false },
  prefer:        { triesTls: true,  firstAttempt: 'tls',   fallsBackToPlain: true,  retriesWithTls: false, requiresTls: false, verifiesChain: false, verifiesHostname: false, allowsDirectNegotiation: false },
  require:       { triesTls: true,  firstAttempt: 'tls',   fallsBackToPlain: false, retriesWithTls: false, requiresTls: true,  verifiesChain: false, verifiesHostname: false, allowsDirectNegotiation: true },
  'verify-ca':   { triesTls: true,  firstAttempt: 'tls',   fallsBackToPlain: false, retriesWithTls: false, requiresTls: true,  verifiesChain: true,  verifiesHostname: false, allowsDirectNegotiation: true },
  'verify-full': { triesTls: true,  firstAttempt: 'tls',   fallsBackToPlain: false, retriesWithTls: false, requiresTls: true,  verifiesChain: true,  verifiesHostname: true,  allowsDirectNegotiation: true },
};

export function serverTlsMeaning(mode: ServerTlsMode): Readonly<ServerTlsModeMeaning> {
  return SERVER_TLS_POLICY[mode];
}

type YesNo = { [K in keyof ServerTlsModeMeaning]: ServerTlsModeMeaning[K] extends boolean ? K : never }[keyof ServerTlsModeMeaning];

/** The modes with a property, in the order of SERVER_TLS_MODES (for the configuration rules and their messages). */
export function serverTlsModesWhere(property: YesNo): ServerTlsMode[] {
  return SERVER_TLS_MODES.filter((mode) => SERVER_TLS_POLICY[mode][property]);
}

/** Negotiation as the connection really runs it: direct only where the mode allows it, else the SSLRequest. */
export function usesDirectTls(mode: ServerTlsMode, negotiation: ServerTlsNegotiation): boolean {
  return negotiation === 'direct' && SERVER_TLS_POLICY[mode].allowsDirectNegotiation;
}
