/**
 * Event samples for the client-session model: the payloads the graph walker tries. Each sample is a
 * fact the real driver reports when the test client does the matching real-world thing, so the
 * machine's prediction (computed from the sample) and the driver's journal (computed from sockets)
 * must agree field for field on everything a guard or the context reads.
 */
import type { ClientEvent, ClientSessionContext, PeerCertificate } from '../../../machines/client-session.js';

export const KNOWN_DATABASE = 'app';
export const UNKNOWN_DATABASE = 'nowhere';
export const CLIENT_USER = 'alice';
/** A user whose name is not the CN of CLIENT_USER's certificate (tls_client_cert_identity: cn refuses it). */
export const OTHER_USER = 'bob';
export const CLIENT_PASSWORD = 'correct horse';
export const WRONG_PASSWORD = 'battery staple';
export const CA_NAME = 'Gatehouse model CA';
export const OTHER_CA_NAME = 'Unrelated model CA';
export const POOL_FAILURE_SQLSTATE = '08006';
/** Bytes of an injected "plaintext" that ride in the same TCP segment as the SSLRequest. */
export const INJECTED_BYTES = Buffer.from('Q\u0000\u0000\u0000', 'latin1');

/** How the test client presents itself when it starts TLS; derived from the tls.established sample it will cause. */
export type ClientCertChoice = 'trusted' | 'untrusted' | 'none';

function peer(issuer: string): PeerCertificate {
  // Only subject and issuer are compared; serial, fingerprint and dates come from the generated certificate.
  return { commonName: CLIENT_USER, subject: `CN=${CLIENT_USER}`, issuer: `CN=${issuer}`, serialNumber: '', fingerprint256: '', validFrom: '', validTo: '' };
}

function established(alpn: string | null, authorized: boolean, cert: PeerCertificate | null): ClientEvent {
  return {
    type: 'tls.established',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    alpnProtocol: alpn,
    authorized,
    authorizationError: authorized ? null : 'not trusted',
    peerCertificate: cert,
  };
}

/**
 * tls.established as the driver reports it in this context: a client certificate is only asked for
 * (and so only reported) under verify-full; ALPN matters only for direct TLS, where a client without
 * it is the case PostgreSQL 17 refuses.
 */
function establishedSamples(context: ClientSessionContext): ClientEvent[] {
  const alpns = context.direct ? ['postgresql', null] : ['postgresql'];
  return alpns.flatMap((alpn) =>
    context.tlsMode === 'verify-full'
      ? [established(alpn, true, peer(CA_NAME)), established(alpn, false, peer(OTHER_CA_NAME)), established(alpn, false, null)]
      : [established(alpn, false, null)],
  );
}

export function clientSamples(context: ClientSessionContext): ClientEvent[] {
  return [
    { type: 'client.sslRequest', trailingBytes: 0 },
    { type: 'client.sslRequest', trailingBytes: INJECTED_BYTES.length },
    { type: 'client.startup', user: CLIENT_USER, database: KNOWN_DATABASE, databaseKnown: true },
    { type: 'client.startup', user: CLIENT_USER, database: UNKNOWN_DATABASE, databaseKnown: false },
    // Logging in as someone else than the certificate names matters only when the certificate identity is checked.
    ...(context.certIdentity === 'cn' ? [{ type: 'client.startup' as const, user: OTHER_USER, database: KNOWN_DATABASE, databaseKnown: true }] : []),
    { type: 'client.invalidPacket', sqlstate: '08P01', message: 'invalid length of startup packet' },
    ...establishedSamples(context),
    { type: 'tls.failed', reason: 'unsupported protocol' },
    { type: 'auth.failed', sqlstate: '28P01', message: `password authentication failed for user "${CLIENT_USER}"` },
    { type: 'pool.acquired', serverId: 'backend-1' },
    { type: 'pool.failed', sqlstate: POOL_FAILURE_SQLSTATE, message: 'could not connect to server' },
    { type: 'backend.lost', message: 'server closed the connection' },
    { type: 'client.directTls' },
    { type: 'client.invalidMessage', message: 'invalid message length 2' },
    // Where the bug struck (the session's first acquire, or the relay's) is for the journal's reader; no guard reads it.
    { type: 'internal.error', where: 'pool' },
    { type: 'timer.expired', timer: 'login' },
  ];
}

/** The certificate a tls.established sample implies the client presented. */
export function certChoiceFor(event: ClientEvent): ClientCertChoice {
  if (event.type !== 'tls.established' || !event.peerCertificate) return 'none';
  return event.authorized ? 'trusted' : 'untrusted';
}
