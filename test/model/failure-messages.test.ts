/**
 * What a refused client or a failed backend login is told, word for word: the message is what a
 * user reads in psql or the log, so each refusal's text is checked here by folding its events
 * through the pure machines (the model-based tests check reason and SQLSTATE through the drivers).
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyStateMachine, type EventObject } from 'xstate';
import { cancelRequestMachine, clientSessionMachine, machineRegistry, serverHandshakeMachine } from '../../machines/index.js';

function failureAfter(machine: AnyStateMachine, input: unknown, events: Array<EventObject & Record<string, unknown>>): { reason: string; sqlstate?: string; message: string } {
  let [snapshot] = initialTransition(machine, input as never);
  for (const event of events) [snapshot] = transition(machine, snapshot, event as never);
  expect(snapshot.status, 'the path ends the machine').toBe('done');
  return (snapshot.context as { failure: { reason: string; sqlstate?: string; message: string } }).failure;
}

const client = machineRegistry['client-session'].modes;
const server = machineRegistry['server-handshake'].modes;
const tlsUp = (over: Record<string, unknown> = {}) => ({
  type: 'tls.established',
  protocol: 'TLSv1.3',
  cipher: 'TLS_AES_256_GCM_SHA384',
  alpnProtocol: 'postgresql',
  authorized: false,
  authorizationError: null,
  peerCertificate: null,
  hostnameError: null,
  ...over,
});
const startup = (user: string, database: string, databaseKnown = true) => ({
  type: 'client.startup',
  user,
  database,
  databaseKnown,
  password: 'scram',
  address: '127.0.0.1',
  hba: { kind: 'unconfigured' },
});
const slot = [{ type: 'client.sslRequest', trailingBytes: 0 }, { type: 'tls.slotGranted' }];

describe('what a refused client reads', () => {
  it('an unknown database', () => {
    expect(failureAfter(clientSessionMachine, client.allow, [startup('u', 'nowhere', false)]).message).toBe(
      'no such database: nowhere',
    );
  });

  it('a client certificate that is not trusted, with and without a reason from OpenSSL', () => {
    const refuse = (authorizationError: string | null) =>
      failureAfter(clientSessionMachine, client['verify-full'], [...slot, tlsUp({ authorizationError })]).message;
    expect(refuse('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toBe('client certificate rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(refuse(null)).toBe('client certificate rejected: not trusted');
  });

  it('a certificate CN that is not the user, and a certificate without a CN', () => {
    const peer = (commonName: string | null) => ({ commonName, subject: '', issuer: '', serialNumber: '', fingerprint256: '', validFrom: '', validTo: '' });
    const refuse = (commonName: string | null) =>
      failureAfter(clientSessionMachine, client['verify-full'], [
        ...slot,
        tlsUp({ authorized: true, peerCertificate: peer(commonName) }),
        startup('alice', 'app'),
      ]).message;
    expect(refuse('bob')).toBe('certificate authentication failed for user "alice": certificate CN is "bob"');
    expect(refuse(null)).toBe('certificate authentication failed for user "alice": certificate CN is missing');
  });

  it('a failed TLS handshake', () => {
    expect(failureAfter(clientSessionMachine, client.allow, [...slot, { type: 'tls.failed', reason: 'unsupported protocol' }]).message).toBe(
      'TLS handshake failed: unsupported protocol',
    );
  });

  it('a client idle inside a transaction past idle_transaction_timeout reads PostgreSQL\'s own words and code', () => {
    const ready = [...slot, tlsUp(), startup('alice', 'app'), { type: 'auth.succeeded' }, { type: 'pool.acquired', serverId: 's1' }];
    expect(failureAfter(clientSessionMachine, client.allow, [...ready, { type: 'client.idleInTransaction' }])).toEqual({
      reason: 'idle_transaction_timeout',
      sqlstate: '25P03',
      message: 'terminating connection due to idle-in-transaction timeout',
    });
  });

  it('TLS is required by tls_mode', () => {
    expect(failureAfter(clientSessionMachine, client.require, [startup('u', 'app')])).toMatchObject({
      sqlstate: '28000',
      message: 'TLS is required by tls_mode: connect with sslmode=require or stronger',
    });
  });
});

describe('what the log and the waiting client read when a backend login fails', () => {
  const connected = { type: 'socket.connected' };
  const accepted = [connected, { type: 'backend.sslReply', reply: 'S', trailingBytes: 0 }];

  it('the TCP connect, the TLS handshake, the certificate and the hostname', () => {
    expect(failureAfter(serverHandshakeMachine, server.require, [{ type: 'socket.connectFailed', message: 'connect ECONNREFUSED 127.0.0.1:5432' }]).message).toBe(
      'could not connect to server: connect ECONNREFUSED 127.0.0.1:5432',
    );
    expect(failureAfter(serverHandshakeMachine, server.require, [...accepted, { type: 'tls.failed', reason: 'wrong version number' }]).message).toBe(
      'TLS handshake failed: wrong version number',
    );
    expect(failureAfter(serverHandshakeMachine, server['verify-ca'], [...accepted, tlsUp({ authorizationError: 'SELF_SIGNED_CERT_IN_CHAIN' })]).message).toBe(
      'certificate verify failed: SELF_SIGNED_CERT_IN_CHAIN',
    );
    expect(failureAfter(serverHandshakeMachine, server['verify-ca'], [...accepted, tlsUp()]).message).toBe('certificate verify failed: unknown error');
    expect(failureAfter(serverHandshakeMachine, server['verify-full'], [...accepted, tlsUp({ authorized: true, hostnameError: "Host: db. is not cert's CN" })]).message).toBe(
      "hostname mismatch: Host: db. is not cert's CN",
    );
  });

  it('bytes after the server refused TLS, under prefer', () => {
    expect(failureAfter(serverHandshakeMachine, server.prefer, [connected, { type: 'backend.sslReply', reply: 'N', trailingBytes: 3 }])).toMatchObject({
      sqlstate: '08P01',
      message: 'received 3 byte(s) after the SSL refusal, before any StartupMessage',
    });
  });

  it('the login and the startup', () => {
    const inTls = [...accepted, tlsUp({ authorized: true })];
    expect(failureAfter(serverHandshakeMachine, server.require, [...inTls, { type: 'backend.authRequest', method: 'unsupported', detail: 'SASL OAUTHBEARER' }]).message).toBe(
      'server requested an unsupported authentication method: SASL OAUTHBEARER',
    );
    expect(failureAfter(serverHandshakeMachine, server.require, [...inTls, { type: 'backend.error', sqlstate: '28P01', message: 'password authentication failed' }])).toMatchObject({
      sqlstate: '28P01',
      message: 'server login failed: password authentication failed',
    });
    const ok = { type: 'backend.authOk', scramProofPending: false };
    expect(failureAfter(serverHandshakeMachine, server.require, [...inTls, ok, { type: 'backend.error', sqlstate: '3D000', message: 'database "x" does not exist' }]).message).toBe(
      'server startup failed: database "x" does not exist',
    );
    expect(failureAfter(serverHandshakeMachine, server.require, [...inTls, ok, { type: 'backend.authRequest', method: 'md5', detail: 'md5' }]).message).toBe(
      'server asked for authentication (md5) after AuthenticationOk',
    );
  });
});

describe('what the log reads when a cancel cannot be delivered', () => {
  const input = { mode: 'verify-full', negotiation: 'postgres', sessionTls: true };
  const accepted = [{ type: 'socket.connected' }, { type: 'backend.sslReply', reply: 'S', trailingBytes: 0 }];

  it('connect, certificate, hostname and TLS failures', () => {
    expect(failureAfter(cancelRequestMachine, input, [{ type: 'socket.connectFailed', message: 'connect ECONNREFUSED' }]).message).toBe(
      'could not connect to server: connect ECONNREFUSED',
    );
    expect(failureAfter(cancelRequestMachine, input, [...accepted, tlsUp({ authorizationError: 'CERT_HAS_EXPIRED' })]).message).toBe(
      'certificate verify failed: CERT_HAS_EXPIRED',
    );
    expect(failureAfter(cancelRequestMachine, input, [...accepted, tlsUp()]).message).toBe('certificate verify failed: unknown error');
    expect(failureAfter(cancelRequestMachine, input, [...accepted, tlsUp({ authorized: true, hostnameError: 'no SAN' })]).message).toBe('hostname mismatch: no SAN');
    expect(failureAfter(cancelRequestMachine, input, [...accepted, { type: 'tls.failed', reason: 'alert 48' }]).message).toBe('TLS handshake failed: alert 48');
    expect(failureAfter(cancelRequestMachine, input, [...accepted, tlsUp({ authorized: true }), { type: 'tls.failed', reason: 'bad record mac' }]).message).toBe(
      'TLS failed while sending the cancel request: bad record mac',
    );
  });
});
