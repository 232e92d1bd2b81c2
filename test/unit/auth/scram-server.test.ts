import { describe, expect, test } from 'vitest';
import { ProxyError } from '../../../src/protocol/proxy-error.js';
import {
  deriveScramSecret,
  parseStoredPassword,
  SCRAM_MECHANISMS,
  ScramClientSession,
  ScramServerSession,
  type ScramSecret,
} from '../../../src/auth/index.js';

// RFC 7677 section 3: user "user", password "pencil".
const RFC = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
};
const pencil = deriveScramSecret('pencil', { salt: RFC.salt, iterations: 4096 });
const b = (s: string) => Buffer.from(s, 'latin1');

function rfcServer(secret: ScramSecret | null = pencil): ScramServerSession {
  return new ScramServerSession('user', secret, { nonce: RFC.serverNonce });
}

function caught(fn: () => unknown): ProxyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProxyError) return err;
    throw err;
  }
  throw new Error('expected a ProxyError, nothing was thrown');
}

describe('ScramServerSession', () => {
  test('offers exactly SCRAM-SHA-256', () => {
    expect(SCRAM_MECHANISMS).toEqual(['SCRAM-SHA-256']);
  });

  test('reproduces the RFC 7677 exchange byte for byte', () => {
    const server = rfcServer();
    expect(server.handleClientFirst('SCRAM-SHA-256', b(RFC.clientFirst)).toString('latin1')).toBe(RFC.serverFirst);
    expect(server.handleClientFinal(b(RFC.clientFinal)).toString('latin1')).toBe(RFC.serverFinal);
  });

  test('accepts the RFC 7677 exchange against the same secret read from its pg_authid text form', () => {
    const stored = parseStoredPassword(
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    );
    if (stored.kind !== 'scram') throw new Error('expected a SCRAM secret');
    const server = rfcServer(stored);
    server.handleClientFirst('SCRAM-SHA-256', b(RFC.clientFirst));
    expect(server.handleClientFinal(b(RFC.clientFinal)).toString('latin1')).toBe(RFC.serverFinal);
  });

  test('uses 18 random bytes of base64 as its nonce, different for every session', () => {
    const nonces = [1, 2].map(() => {
      const first = new ScramServerSession('u', pencil).handleClientFirst('SCRAM-SHA-256', b('n,,n=,r=abc')).toString();
      return /^r=abc([^,]+),/.exec(first)?.[1];
    });
    expect(nonces[0]).toMatch(/^[A-Za-z0-9+/]{24}$/);
    expect(nonces[0]).not.toBe(nonces[1]);
  });

  test.each([
    ['libpq (empty username)', 'n,,n=,r=abc'],
    ['node-postgres and postgres.js ("*" username)', 'n,,n=*,r=abc'],
    ['a client naming the user', 'n,,n=user,r=abc'],
    ['a TLS client that supports channel binding when none is offered', 'y,,n=,r=abc'],
    ['a client adding an optional extension', 'n,,n=,r=abc,x=ext'],
  ])('answers the client-first-message of %s', (_name, message) => {
    const first = new ScramServerSession('u', pencil, { nonce: 'SRV' }).handleClientFirst('SCRAM-SHA-256', b(message));
    expect(first.toString()).toBe(`r=abcSRV,s=${RFC.salt.toString('base64')},i=4096`);
  });

  test('rejects the channel-binding mechanism SCRAM-SHA-256-PLUS with 28000, since it is not offered', () => {
    const err = caught(() => rfcServer().handleClientFirst('SCRAM-SHA-256-PLUS', b('p=tls-server-end-point,,n=,r=abc')));
    expect([err.code, err.sqlstate, err.message]).toEqual([
      'auth.sasl_mechanism_unsupported',
      '28000',
      'client selected an invalid SASL authentication mechanism',
    ]);
  });

  test('rejects a "p" channel-binding request under plain SCRAM-SHA-256 with 28000', () => {
    const err = caught(() => rfcServer().handleClientFirst('SCRAM-SHA-256', b('p=tls-server-end-point,,n=,r=abc')));
    expect([err.code, err.sqlstate]).toEqual(['auth.channel_binding_unsupported', '28000']);
  });

  test.each([
    ['an authorization identity', 'n,a=admin,n=,r=abc', 'auth.scram_authzid_unsupported'],
    ['a mandatory extension', 'n,,m=ext,n=,r=abc', 'auth.scram_extension_unsupported'],
  ])('rejects %s with 0A000', (_name, message, code) => {
    const err = caught(() => rfcServer().handleClientFirst('SCRAM-SHA-256', b(message)));
    expect([err.code, err.sqlstate]).toEqual([code, '0A000']);
  });

  test.each([
    ['an empty message', ''],
    ['a NUL byte', 'n,,n=,r=ab\0c'],
    ['an unknown channel-binding flag', 'x,,n=,r=abc'],
    ['a missing nonce', 'n,,n='],
    ['attributes out of order', 'n,,r=abc,n='],
    ['an empty nonce', 'n,,n=,r='],
    ['a nonce with a non-printable byte', 'n,,n=,r=ab\x7fc'],
    ['trailing garbage', 'n,,n=,r=abc,garbage'],
    ['a stray authzid field', 'n,x,n=,r=abc'],
  ])('rejects a client-first-message with %s as 08P01', (_name, message) => {
    const err = caught(() => rfcServer().handleClientFirst('SCRAM-SHA-256', b(message)));
    expect([err.code, err.sqlstate, err.severity]).toEqual(['auth.scram_malformed', '08P01', 'FATAL']);
  });

  test('fails a wrong proof with 28P01 "password authentication failed for user"', () => {
    const server = new ScramServerSession('alice', pencil, { nonce: RFC.serverNonce });
    server.handleClientFirst('SCRAM-SHA-256', b(RFC.clientFirst));
    const forged = RFC.clientFinal.replace(/p=.*$/, `p=${Buffer.alloc(32, 7).toString('base64')}`);
    const err = caught(() => server.handleClientFinal(b(forged)));
    expect([err.code, err.sqlstate, err.message]).toEqual([
      'auth.failed',
      '28P01',
      'password authentication failed for user "alice"',
    ]);
  });

  test('fails a client-final-message whose nonce differs from the combined nonce with 28P01', () => {
    const server = rfcServer();
    server.handleClientFirst('SCRAM-SHA-256', b(RFC.clientFirst));
    const err = caught(() => server.handleClientFinal(b(RFC.clientFinal.replace('k0,p=', 'k1,p='))));
    expect([err.code, err.sqlstate]).toEqual(['auth.failed', '28P01']);
  });

  test('rejects a client-final-message whose channel binding does not repeat the gs2 header', () => {
    const server = rfcServer();
    server.handleClientFirst('SCRAM-SHA-256', b(RFC.clientFirst));
    // 'eSws' is base64 of 'y,,' but the client said 'n' first: a downgrade or a confused client.
    const err = caught(() => server.handleClientFinal(b(RFC.clientFinal.replace('c=biws', 'c=eSws'))));
    expect([err.code, err.sqlstate]).toEqual(['auth.scram_malformed', '08P01']);
  });

  test.each([
    ['no proof', 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0'],
    ['a proof that is not base64', RFC.clientFinal.replace(/p=.*$/, 'p=!!!!')],
    ['a proof of the wrong length', RFC.clientFinal.replace(/p=.*$/, 'p=AAAA')],
    ['a missing channel binding', RFC.clientFinal.replace('c=biws,', '')],
    ['garbage after the proof', `${RFC.clientFinal},x=1`],
  ])('rejects a client-final-message with %s as 08P01', (_name, message) => {
    const server = rfcServer();
    server.handleClientFirst('SCRAM-SHA-256', b(RFC.clientFirst));
    const err = caught(() => server.handleClientFinal(b(message)));
    expect([err.code, err.sqlstate]).toEqual(['auth.scram_malformed', '08P01']);
  });

  test('rejects messages out of order with 08P01 and cannot be retried after a failure', () => {
    expect(caught(() => rfcServer().handleClientFinal(b(RFC.clientFinal))).sqlstate).toBe('08P01');
    const server = rfcServer();
    caught(() => server.handleClientFirst('SCRAM-SHA-256', b('n,,n=,r=')));
    expect(caught(() => server.handleClientFirst('SCRAM-SHA-256', b(RFC.clientFirst))).code).toBe('auth.scram_out_of_order');
  });
});

describe('ScramServerSession for an unknown user (mock authentication)', () => {
  test('sends a server-first-message shaped like a real one, with 4096 iterations and a 16-byte salt', () => {
    const first = new ScramServerSession('ghost', null).handleClientFirst('SCRAM-SHA-256', b('n,,n=,r=abc')).toString();
    const match = /^r=abc([A-Za-z0-9+/]{24}),s=([A-Za-z0-9+/=]+),i=4096$/.exec(first);
    expect(match).not.toBeNull();
    expect(Buffer.from(match?.[2] ?? '', 'base64')).toHaveLength(16);
  });

  test('gives the same salt to every attempt for the same name, and different salts to different names', () => {
    const salt = (user: string) =>
      new ScramServerSession(user, null).handleClientFirst('SCRAM-SHA-256', b('n,,n=,r=abc')).toString().split(',')[1];
    expect(salt('ghost')).toBe(salt('ghost'));
    expect(salt('ghost')).not.toBe(salt('phantom'));
  });

  test('fails at the final step with the same 28P01 error a wrong password gets', () => {
    const server = new ScramServerSession('ghost', null);
    const client = new ScramClientSession('pencil');
    const serverFirst = server.handleClientFirst('SCRAM-SHA-256', client.clientFirst());
    const err = caught(() => server.handleClientFinal(client.handleServerFirst(serverFirst)));
    expect([err.code, err.sqlstate, err.message]).toEqual([
      'auth.failed',
      '28P01',
      'password authentication failed for user "ghost"',
    ]);
  });

  test('derives the mock salt from a configured mockSaltKey, so it can stay stable across restarts', () => {
    const salt = (mockSaltKey?: Buffer) =>
      new ScramServerSession('ghost', null, mockSaltKey === undefined ? {} : { mockSaltKey })
        .handleClientFirst('SCRAM-SHA-256', b('n,,n=,r=abc'))
        .toString()
        .split(',')[1];
    expect(salt(Buffer.alloc(32, 1))).toBe(salt(Buffer.alloc(32, 1)));
    expect(salt(Buffer.alloc(32, 1))).not.toBe(salt(Buffer.alloc(32, 2)));
    expect(salt(Buffer.alloc(32, 1))).not.toBe(salt());
  });
});
