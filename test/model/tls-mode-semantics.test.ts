/**
 * The model-based tests take the machines as the truth, so a wrong rule in a machine would pass
 * them (the driver follows it faithfully). These tables are the independent oracle: what libpq's
 * sslmode and gatehouse's tls_mode promise, checked against the machines' pure transitions.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { parseDocument } from 'yaml';
import {
  cancelRequestMachine,
  clientSessionMachine,
  machineRegistry,
  SERVER_TLS_MODES,
  SERVER_TLS_POLICY,
  serverHandshakeMachine,
  type CancelEvent,
  type ClientEvent,
  type ServerEvent,
  type ServerTlsMode,
} from '../../machines/index.js';
import { formatKeyPath } from '../../src/config/key-path.js';
import { reportedSqlState } from '../../src/protocol/sqlstate.js';
import { crossFieldProblems } from '../../src/config/rules.js';
import { valueToDotted } from './harness/model-paths.js';

function run(machine: AnyStateMachine, input: unknown, events: EventObject[]): AnyMachineSnapshot {
  let [s] = initialTransition(machine, input as never) as unknown as [AnyMachineSnapshot];
  for (const e of events) [s] = transition(machine, s as never, e as never) as unknown as [AnyMachineSnapshot];
  return s;
}

function outcome(s: AnyMachineSnapshot): string {
  const failure = (s.context as { failure: { reason: string; sqlstate?: string } | null }).failure;
  return failure ? `failed ${failure.reason}${failure.sqlstate ? ` ${failure.sqlstate}` : ''}` : valueToDotted(s.value);
}

describe('server_tls_mode follows libpq sslmode', () => {
  const connected: ServerEvent = { type: 'socket.connected' };
  const reply = (r: 'S' | 'N', trailingBytes = 0): ServerEvent => ({ type: 'backend.sslReply', reply: r, trailingBytes });
  const cert = (authorized: boolean, hostnameError: string | null): ServerEvent => ({
    type: 'tls.established',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    authorized,
    authorizationError: authorized ? null : 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    hostnameError,
  });
  const server = (mode: ServerTlsMode, events: ServerEvent[]) => outcome(run(serverHandshakeMachine, machineRegistry['server-handshake'].modes[mode], events));

  // mode: [first message, after N, untrusted CA, certificate for another host]
  const table: Record<ServerTlsMode, [string, string, string, string]> = {
    disable: ['negotiating.login.authenticating', '-', '-', '-'],
    allow: ['negotiating.login.authenticating', '-', '-', '-'],
    prefer: ['negotiating.ssl-requested', 'negotiating.login.plain-fallback', 'negotiating.login.authenticating', 'negotiating.login.authenticating'],
    require: ['negotiating.ssl-requested', 'failed tls_unsupported 08001', 'negotiating.login.authenticating', 'negotiating.login.authenticating'],
    'verify-ca': ['negotiating.ssl-requested', 'failed tls_unsupported 08001', 'failed certificate_untrusted 08001', 'negotiating.login.authenticating'],
    'verify-full': ['negotiating.ssl-requested', 'failed tls_unsupported 08001', 'failed certificate_untrusted 08001', 'failed hostname_mismatch 08001'],
  };

  it.each(Object.entries(table))('%s: plain or SSLRequest first, then N, untrusted CA and wrong host as libpq does', (mode, [first, afterN, untrusted, otherHost]) => {
    const m = mode as ServerTlsMode;
    expect(server(m, [connected])).toBe(first);
    if (afterN === '-') return;
    expect(server(m, [connected, reply('N')])).toBe(afterN);
    expect(server(m, [connected, reply('S'), cert(false, null)])).toBe(untrusted);
    expect(server(m, [connected, reply('S'), cert(true, 'not localhost')])).toBe(otherHost);
    expect(server(m, [connected, reply('S'), cert(true, null)]), 'a good certificate is always accepted').toBe('negotiating.login.authenticating');
    expect(server(m, [connected, reply('S', 3)]), 'CVE-2021-23222: bytes after S').toBe('failed unencrypted_bytes_after_s 08P01');
  });

  it('allow retries a refused plain login over TLS, except while the server starts or stops (57P*)', () => {
    const refused = (sqlstate: string): ServerEvent => ({ type: 'backend.error', sqlstate: reportedSqlState(sqlstate), message: 'no' });
    expect(server('allow', [connected, refused('28000')])).toBe('negotiating.reconnecting');
    expect(server('allow', [connected, refused('57P03')])).toBe('failed login_rejected 57P03');
    expect(server('require', [connected, reply('S'), cert(true, null), refused('28000')])).toBe('failed login_rejected 28000');
  });

  it('bytes that came with an N fail prefer (a real server sends nothing before the StartupMessage); under require N alone decides', () => {
    expect(server('prefer', [connected, reply('N', 9)])).toBe('failed bytes_after_n 08P01');
    expect(server('require', [connected, reply('N', 9)])).toBe('failed tls_unsupported 08001');
  });
});

describe('server-handshake refuses what a real PostgreSQL never sends', () => {
  const tlsUp: ServerEvent[] = [
    { type: 'socket.connected' },
    { type: 'backend.sslReply', reply: 'S', trailingBytes: 0 },
    { type: 'tls.established', protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', authorized: true, authorizationError: null, hostnameError: null },
  ];
  const scram: ServerEvent = { type: 'backend.authRequest', method: 'scram-sha-256', detail: 'SCRAM-SHA-256' };
  const ok = (scramProofPending: boolean): ServerEvent => ({ type: 'backend.authOk', scramProofPending });
  const ready = (trailingBytes: number): ServerEvent => ({ type: 'backend.ready', trailingBytes });
  const verifyFull = (events: ServerEvent[]) => outcome(run(serverHandshakeMachine, { mode: 'verify-full', negotiation: 'postgres' }, [...tlsUp, ...events]));

  it('a login whose SCRAM server signature never came (an impostor skipping the proof) is refused, even over verified TLS', () => {
    expect(verifyFull([scram, ok(true)])).toBe('failed scram_proof_missing 08006');
    expect(verifyFull([scram, ok(false), ready(0)])).toBe('ready');
  });

  it('ReadyForQuery ends the handshake only after AuthenticationOk and with nothing behind it', () => {
    expect(verifyFull([ready(0)])).toBe('failed protocol_violation 08P01');
    expect(verifyFull([scram, ok(false), ready(7)])).toBe('failed protocol_violation 08P01');
  });

  it('authentication is over after AuthenticationOk', () => {
    expect(verifyFull([scram, ok(false), scram])).toBe('failed protocol_violation 08P01');
    expect(verifyFull([scram, ok(false), { type: 'auth.failed', message: 'SASL message out of turn' }])).toBe('failed protocol_violation 08P01');
  });
});

describe('tls_mode (client side) follows PgDoorman and PostgreSQL', () => {
  const modes = machineRegistry['client-session'].modes;
  const client = (mode: keyof typeof modes, events: ClientEvent[]) => outcome(run(clientSessionMachine, modes[mode], events));
  const ssl: ClientEvent = { type: 'client.sslRequest', trailingBytes: 0 };
  const startup: ClientEvent = {
    type: 'client.startup',
    user: 'alice',
    database: 'app',
    databaseKnown: true,
    password: 'plain',
    address: '127.0.0.1',
    hba: { kind: 'unconfigured' }, adminConsole: null
  };
  const granted: ClientEvent = { type: 'tls.slotGranted' };
  const tlsUp = (authorized: boolean, withCert: boolean, alpn: string | null = 'postgresql'): ClientEvent => ({
    type: 'tls.established',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    alpnProtocol: alpn,
    authorized,
    authorizationError: authorized ? null : 'not trusted',
    peerCertificate: withCert
      ? { commonName: 'alice', subject: 'CN=alice', issuer: 'CN=ca', serialNumber: '01', fingerprint256: 'AA', validFrom: '', validTo: '' }
      : null,
  });

  it('disable declines TLS; allow offers it and still takes plain logins', () => {
    expect(client('disable', [ssl])).toBe('connected.negotiating.startup-phase.plain-fallback');
    expect(client('disable', [startup])).toBe('connected.negotiating.authenticating');
    expect(client('allow', [ssl])).toBe('connected.negotiating.ssl-requested');
    expect(client('allow', [startup])).toBe('connected.negotiating.authenticating');
  });

  it('require and verify-full refuse plain logins with 28000', () => {
    expect(client('require', [startup])).toBe('failed tls_required 28000');
    expect(client('verify-full', [startup])).toBe('failed tls_required 28000');
    expect(client('require', [ssl, granted, tlsUp(false, false), startup])).toBe('connected.negotiating.authenticating');
  });

  it('verify-full wants a trusted client certificate naming the user', () => {
    expect(client('verify-full', [ssl, granted, tlsUp(false, false)])).toBe('failed client_certificate_rejected 28000');
    expect(client('verify-full', [ssl, granted, tlsUp(false, true)])).toBe('failed client_certificate_rejected 28000');
    expect(client('verify-full', [ssl, granted, tlsUp(true, true), startup])).toBe('connected.negotiating.authenticating');
    expect(client('verify-full', [ssl, granted, tlsUp(true, true), { ...startup, user: 'bob' }] as ClientEvent[])).toBe(
      'failed certificate_identity_mismatch 28000',
    );
  });

  it('never answers an SSLRequest with bytes behind it (CVE-2021-23214) and wants ALPN for direct TLS', () => {
    for (const mode of ['disable', 'allow', 'require', 'verify-full'] as const) {
      expect(client(mode, [{ type: 'client.sslRequest', trailingBytes: 1 }])).toBe('failed unencrypted_bytes_after_ssl_request');
    }
    expect(client('require', [{ type: 'client.directTls' }, granted, tlsUp(false, false, null)])).toBe('failed direct_tls_without_alpn 08P01');
  });
});

describe('check-config and the machines agree on what each server_tls_mode means', () => {
  const connected: ServerEvent = { type: 'socket.connected' };
  const untrusted: ServerEvent = {
    type: 'tls.established',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    authorized: false,
    authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    hostnameError: null,
  };
  const configProblems = (mode: ServerTlsMode, extra: string) =>
    crossFieldProblems(parseDocument(`general:\n  server_tls_mode: ${mode}\n${extra}pools:\n  app:\n    users: [{ username: a, password: x }]\n`).toJS()).map(
      (p) => `${formatKeyPath(p.path)}: ${p.problem}`,
    );

  it.each(SERVER_TLS_MODES)('%s: direct negotiation is accepted by check-config exactly when the machine then opens with TLS', (mode) => {
    const accepted = configProblems(mode, '  server_tls_negotiation: direct\n  server_tls_ca_cert: ca.pem\n').length === 0;
    const first = outcome(run(serverHandshakeMachine, { mode, negotiation: 'direct' }, [connected]));
    // A mode check-config refuses never reaches the machine; should it, the machine still does not send a ClientHello first.
    expect(first === 'negotiating.tls-handshaking').toBe(accepted);
    // What check-config refuses, libpq refuses too: sslnegotiation=direct needs sslmode require or stronger.
    expect(accepted).toBe(['require', 'verify-ca', 'verify-full'].includes(mode));
  });

  it.each(SERVER_TLS_MODES)('%s: check-config wants server_tls_ca_cert exactly when the machine refuses an untrusted chain', (mode) => {
    const wantsCa = configProblems(mode, '').some((p) => p.startsWith('general.server_tls_ca_cert'));
    const events: ServerEvent[] = [connected, { type: 'backend.sslReply', reply: 'S', trailingBytes: 0 }, untrusted];
    const refuses = SERVER_TLS_POLICY[mode].firstAttempt === 'tls' && outcome(run(serverHandshakeMachine, { mode, negotiation: 'postgres' }, events)).startsWith('failed certificate_untrusted');
    expect(wantsCa).toBe(refuses);
    expect(wantsCa).toBe(mode === 'verify-ca' || mode === 'verify-full');
  });
});

describe('a cancel travels the way its session did, and is verified like it', () => {
  const connected: CancelEvent = { type: 'socket.connected' };
  const reply = (r: 'S' | 'N'): CancelEvent => ({ type: 'backend.sslReply', reply: r, trailingBytes: 0 });
  const cert = (authorized: boolean, hostnameError: string | null): CancelEvent => ({
    type: 'tls.established',
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    authorized,
    authorizationError: authorized ? null : 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    hostnameError,
  });
  const cancel = (mode: ServerTlsMode, sessionTls: boolean, events: CancelEvent[]) =>
    outcome(run(cancelRequestMachine, { mode, negotiation: 'postgres', sessionTls }, events));

  // mode: [after N, untrusted CA, certificate for another host], for an encrypted session
  const table: Record<Exclude<ServerTlsMode, 'disable'>, [string, string, string]> = {
    allow: ['failed tls_unsupported', 'requesting.sending', 'requesting.sending'],
    prefer: ['failed tls_unsupported', 'requesting.sending', 'requesting.sending'],
    require: ['failed tls_unsupported', 'requesting.sending', 'requesting.sending'],
    'verify-ca': ['failed tls_unsupported', 'failed certificate_untrusted', 'requesting.sending'],
    'verify-full': ['failed tls_unsupported', 'failed certificate_untrusted', 'failed hostname_mismatch'],
  };

  it.each(Object.entries(table))('%s, encrypted session: SSLRequest first, never a plain fallback, the certificate judged like the session', (mode, [afterN, untrusted, otherHost]) => {
    const m = mode as ServerTlsMode;
    expect(cancel(m, true, [connected])).toBe('requesting.ssl-requested');
    expect(cancel(m, true, [connected, reply('N')]), 'the key of an encrypted session is never sent in plain').toBe(afterN);
    expect(cancel(m, true, [connected, reply('S'), cert(false, null)])).toBe(untrusted);
    expect(cancel(m, true, [connected, reply('S'), cert(true, 'not localhost')])).toBe(otherHost);
    expect(cancel(m, true, [connected, reply('S'), cert(true, null), { type: 'socket.closed', hadError: false }])).toBe('sent');
  });

  it('a plain session is cancelled in plain; direct negotiation opens with TLS only where the mode allows it', () => {
    for (const mode of ['disable', 'allow', 'prefer'] as const) expect(cancel(mode, false, [connected])).toBe('requesting.sending');
    const direct = (mode: ServerTlsMode) => outcome(run(cancelRequestMachine, { mode, negotiation: 'direct', sessionTls: true }, [connected]));
    expect(direct('verify-full')).toBe('requesting.tls-handshaking');
    expect(direct('prefer')).toBe('requesting.ssl-requested');
  });

  it('PostgreSQL answers a CancelRequest only by closing: an orderly close is sent, a reset is not', () => {
    expect(cancel('disable', false, [connected, { type: 'socket.closed', hadError: false }])).toBe('sent');
    expect(cancel('disable', false, [connected, { type: 'socket.closed', hadError: true }])).toBe('failed server_reset');
  });
});
