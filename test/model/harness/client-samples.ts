/**
 * Event samples for the client-session model: the payloads the graph walker tries. Each sample is a
 * fact the real driver reports when the test client does the matching real-world thing, so the
 * machine's prediction (computed from the sample) and the driver's journal (computed from sockets)
 * must agree field for field on everything a guard or the context reads.
 */
import type { ClientEvent, ClientSessionContext, HbaMethod, HbaVerdict, PeerCertificate, StoredPasswordKind } from '../../../machines/client-session.js';

export const KNOWN_DATABASE = 'app';
export const UNKNOWN_DATABASE = 'nowhere';
/** The admin console's database; the model's users are not its admin_username. */
export const ADMIN_DATABASE = 'pgdoorman';
export const CLIENT_USER = 'alice';
/** The admin console connection whose KILL the model's sessions receive. */
export const ADMIN_CONNECTION = 'c-admin';
/** A user whose name is not the CN of CLIENT_USER's certificate (tls_client_cert_identity: cn refuses it). */
export const OTHER_USER = 'bob';
export const CLIENT_PASSWORD = 'correct horse';
/** A user whose password is stored as an md5 hash (of MD5_USER_PASSWORD). */
export const MD5_USER = 'carol';
export const MD5_USER_PASSWORD = 'tr0ub4dor';
/** A user no pool has. */
export const UNKNOWN_USER = 'nobody';
/** Where the model's pg_hba rules come from (the journal names it); the matched rule is always on line 2. */
export const HBA_SOURCE = 'model-pg_hba.conf';
export const HBA_LINE = 2;
export const LOOKUP_FAILURE = { sqlstate: '58000', message: 'Authentication service unavailable. Please try again later.' } as const;
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
    context.tlsMode === 'verify-full' || context.hbaCertRules
      ? [established(alpn, true, peer(CA_NAME)), established(alpn, false, peer(OTHER_CA_NAME)), established(alpn, false, null)]
      : [established(alpn, false, null)],
  );
}

/** How the driver's userPassword dependency stores each user's password. */
export function storedKindOf(user: string): StoredPasswordKind | null {
  return user === CLIENT_USER ? 'plain' : user === MD5_USER ? 'md5' : null;
}

/**
 * The pg_hba rule that decides for a client in this context, as the world writes it on line 2: `local` on the Unix
 * socket, `hostssl` inside TLS, `hostnossl` outside (cert rules are hostssl only, so they are sampled inside TLS).
 */
export function hbaRuleText(context: ClientSessionContext, method: HbaMethod): string {
  if (context.transport === 'unix') return `local all all ${method}`;
  return `${context.tls ? 'hostssl' : 'hostnossl'} all all 127.0.0.1/32 ${method}`;
}

/**
 * The whole rules file for a verdict. Line 1 never matches this client (the other TLS state, or a TCP rule on the
 * Unix socket), so the verdict also shows that the first *matching* rule wins; no-match is a file of such lines.
 */
export function hbaRulesFor(context: ClientSessionContext, verdict: HbaVerdict): string | null {
  const decoy = context.transport === 'unix' ? 'host all all 0.0.0.0/0 trust' : `${context.tls ? 'hostnossl' : 'hostssl'} all all 0.0.0.0/0 trust`;
  switch (verdict.kind) {
    case 'unconfigured':
      return null;
    case 'no-match':
      return `${decoy}\nhost all all 10.0.0.0/8 trust\n`;
    case 'match':
      return `${decoy}\n${verdict.text}   # the rule that decides\n`;
  }
}

function match(context: ClientSessionContext, method: HbaMethod): HbaVerdict {
  return { kind: 'match', source: HBA_SOURCE, line: HBA_LINE, text: hbaRuleText(context, method), method };
}

/** Startup packets: users (known, md5-stored, unknown) × the pg_hba verdicts that lead somewhere different. */
function startupSamples(context: ClientSessionContext): ClientEvent[] {
  const address = context.transport === 'unix' ? '[local]' : '127.0.0.1';
  const startup = (user: string, hba: HbaVerdict, database = KNOWN_DATABASE, lookedUp = false): ClientEvent => ({
    type: 'client.startup',
    user,
    database,
    databaseKnown: database === KNOWN_DATABASE || database === ADMIN_DATABASE,
    password: lookedUp ? 'auth_query' : storedKindOf(user),
    address,
    hba,
    adminConsole: database === ADMIN_DATABASE ? 'forbidden' : null,
  });
  const none: HbaVerdict = { kind: 'unconfigured' };
  return [
    startup(CLIENT_USER, none),
    startup(CLIENT_USER, none, UNKNOWN_DATABASE),
    startup(CLIENT_USER, none, ADMIN_DATABASE),
    // Logging in as someone else than the certificate names matters only when the certificate identity is checked.
    ...(context.certIdentity === 'cn' ? [startup(OTHER_USER, none)] : []),
    startup(CLIENT_USER, { kind: 'no-match' }),
    startup(CLIENT_USER, match(context, 'reject')),
    startup(CLIENT_USER, match(context, 'trust')),
    startup(UNKNOWN_USER, match(context, 'trust')),
    // A plaintext password under an md5 rule: the MD5 exchange.
    startup(CLIENT_USER, match(context, 'md5')),
    // An md5 hash under a scram-sha-256 rule: nothing to check a SCRAM proof against, so a mock exchange.
    startup(MD5_USER, match(context, 'scram-sha-256')),
    // cert rules are hostssl: inside TLS they decide; the user the certificate does not name is refused.
    ...(context.tls ? [startup(CLIENT_USER, match(context, 'cert')), startup(OTHER_USER, match(context, 'cert'))] : []),
    // auth_query (walked in two modes, which together take every lookup transition): the user is not listed, the
    // pool looks it up; the answer then meets the same pg_hba method.
    ...(lookupModes(context)
      ? [none, match(context, 'trust'), ...(context.tls ? [match(context, 'cert')] : [])].map((hba) => startup(CLIENT_USER, hba, KNOWN_DATABASE, true))
      : []),
  ];
}

/** The modes whose samples include auth_query users: require (TLS, no client certificate) and hba cert rules. */
function lookupModes(context: ClientSessionContext): boolean {
  return context.transport === 'tcp' && ((context.tlsMode === 'require' && !context.hbaCertRules) || context.hbaCertRules);
}

export function clientSamples(context: ClientSessionContext): ClientEvent[] {
  return [
    { type: 'client.sslRequest', trailingBytes: 0 },
    { type: 'client.sslRequest', trailingBytes: INJECTED_BYTES.length },
    ...startupSamples(context),
    { type: 'client.invalidPacket', sqlstate: '08P01', message: 'invalid length of startup packet' },
    ...establishedSamples(context),
    { type: 'tls.failed', reason: 'unsupported protocol' },
    // auth_query's answers: alice's password as plaintext or an md5 hash (both of CLIENT_PASSWORD), or no such user.
    ...(['plain', 'md5', null] as const).map((password): ClientEvent => ({ type: 'user.found', password })),
    { type: 'user.lookupFailed', ...LOOKUP_FAILURE },
    { type: 'auth.failed', sqlstate: '28P01', message: `password authentication failed for user "${context.user ?? CLIENT_USER}"` },
    { type: 'pool.acquired', serverId: 'backend-1' },
    { type: 'pool.failed', sqlstate: POOL_FAILURE_SQLSTATE, message: 'could not connect to server' },
    // PostgreSQL gone without a word (the client is told 08006), mid-DataRow, and after its own FATAL (both just closed).
    { type: 'backend.lost', message: 'server closed the connection unexpectedly', midMessage: false, serverErrorRelayed: false },
    { type: 'backend.lost', message: 'server closed the connection unexpectedly', midMessage: true, serverErrorRelayed: false },
    { type: 'backend.lost', message: 'server closed the connection unexpectedly', midMessage: false, serverErrorRelayed: true },
    { type: 'admin.kill', by: ADMIN_CONNECTION },
    // What a transaction-pooled session reports once a LISTEN pinned it (an unpinned session, in the model).
    ...(context.pins.length === 0 ? [{ type: 'session.pinned', pins: ['listen'] } satisfies ClientEvent] : []),
    { type: 'client.directTls' },
    { type: 'client.invalidMessage', message: 'invalid message length 2' },
    // The welcome's query turns out to be a BEGIN, and the client then says nothing for idle_transaction_timeout.
    { type: 'client.idleInTransaction' },
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
