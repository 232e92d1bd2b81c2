import { describe, expect, test } from 'vitest';
import { ProxyError } from '../../../src/protocol/proxy-error.js';
import { deriveScramSecret, ScramClientSession, ScramServerSession } from '../../../src/auth/index.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const SALT = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
const pencil = deriveScramSecret('pencil', { salt: SALT, iterations: 4096 });

function caught(fn: () => unknown): ProxyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProxyError) return err;
    throw err;
  }
  throw new Error('expected a ProxyError, nothing was thrown');
}

/** A client that has sent its first message with nonce 'C'. */
function started(password = 'pencil', opts: { maxIterations?: number } = {}): ScramClientSession {
  const client = new ScramClientSession(password, { nonce: 'C', ...opts });
  client.clientFirst();
  return client;
}

describe('ScramClientSession', () => {
  test('sends the client-first-message libpq sends: no channel binding, empty username', () => {
    expect(new ScramClientSession('pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO' }).clientFirst().toString()).toBe(
      'n,,n=,r=rOprNGfwEbeRWgbNEkqO',
    );
  });

  test('uses 18 random bytes of base64 as its nonce, different for every session', () => {
    const [one, two] = [1, 2].map(() => new ScramClientSession('x').clientFirst().toString().slice('n,,n=,r='.length));
    expect(one).toMatch(/^[A-Za-z0-9+/]{24}$/);
    expect(one).not.toBe(two);
  });

  test('answers the RFC 7677 server-first-message with a proof that server accepts, and verifies its signature', () => {
    const client = new ScramClientSession('pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO' });
    const server = new ScramServerSession('user', pencil, { nonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
    const serverFirst = server.handleClientFirst('SCRAM-SHA-256', client.clientFirst());
    expect(serverFirst.toString()).toBe(
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    );
    const clientFinal = client.handleServerFirst(serverFirst);
    expect(clientFinal.toString()).toMatch(/^c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj\)hNlF\$k0,p=[A-Za-z0-9+/]{43}=$/);
    expect(() => client.verifyServerFinal(server.handleClientFinal(clientFinal))).not.toThrow();
  });

  test('rejects a server signature that does not match with server.auth_failed 08006', () => {
    const client = new ScramClientSession('pencil');
    const server = new ScramServerSession('user', pencil);
    client.handleServerFirst(server.handleClientFirst('SCRAM-SHA-256', client.clientFirst()));
    const err = caught(() => client.verifyServerFinal(b(`v=${Buffer.alloc(32).toString('base64')}`)));
    expect([err.code, err.sqlstate]).toEqual(['server.auth_failed', '08006']);
  });

  test('reports an "e=" server-final-message as server.auth_failed 08006, naming the server error', () => {
    const client = started();
    client.handleServerFirst(b('r=CS,s=AAAA,i=1'));
    const err = caught(() => client.verifyServerFinal(b('e=invalid-proof')));
    expect([err.code, err.sqlstate]).toEqual(['server.auth_failed', '08006']);
    expect(err.message).toContain('invalid-proof');
  });

  test.each([
    ['a nonce that does not start with the client nonce', 'r=XS,s=AAAA,i=4096'],
    ['a nonce the server did not extend', 'r=C,s=AAAA,i=4096'],
    ['a zero iteration count', 'r=CS,s=AAAA,i=0'],
    ['a negative iteration count', 'r=CS,s=AAAA,i=-1'],
    ['a non-numeric iteration count', 'r=CS,s=AAAA,i=4k'],
    ['an empty salt', 'r=CS,s=,i=4096'],
    ['a salt that is not base64', 'r=CS,s=A!A=,i=4096'],
    ['a missing salt', 'r=CS,i=4096'],
    ['a mandatory extension', 'm=x,r=CS,s=AAAA,i=4096'],
    ['trailing garbage', 'r=CS,s=AAAA,i=4096,x=1'],
    ['an empty message', ''],
  ])('rejects a server-first-message with %s as 08006', (_name, message) => {
    const err = caught(() => started().handleServerFirst(b(message)));
    expect([err.code, err.sqlstate]).toEqual(['server.scram_malformed', '08006']);
  });

  test('refuses an iteration count above the configured limit before running PBKDF2', () => {
    const err = caught(() => started('pencil', { maxIterations: 10_000 }).handleServerFirst(b('r=CS,s=AAAA,i=10001')));
    expect(err.detail).toContain('10001');
    expect(() => started('pencil', { maxIterations: 10_000 }).handleServerFirst(b('r=CS,s=AAAA,i=10000'))).not.toThrow();
  });

  test('refuses a server-final-message that arrives before the server-first-message', () => {
    const err = caught(() => started().verifyServerFinal(b('v=AAAA')));
    expect([err.code, err.sqlstate]).toEqual(['server.scram_malformed', '08006']);
  });

  test('refuses a second server-first-message', () => {
    const client = started();
    client.handleServerFirst(b('r=CS,s=AAAA,i=1'));
    expect(caught(() => client.handleServerFirst(b('r=CS,s=AAAA,i=1'))).sqlstate).toBe('08006');
  });

  test('ends the exchange after a malformed server-first-message', () => {
    const client = started();
    caught(() => client.handleServerFirst(b('r=XS,s=AAAA,i=1')));
    expect(caught(() => client.verifyServerFinal(b('v=AAAA'))).code).toBe('server.scram_malformed');
  });
});
