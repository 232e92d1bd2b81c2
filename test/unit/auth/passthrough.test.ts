// Passthrough authentication: the ClientKey a client's SCRAM proof reveals logs gatehouse in to a
// server holding the same secret, with no plaintext password anywhere; md5 hashes answer MD5.
import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import {
  deriveScramSecret,
  md5ClientResponse,
  md5PasswordHash,
  PassthroughKeys,
  ScramClientSession,
  ScramServerSession,
  type ScramSecret,
} from '../../../src/auth/index.js';
import { ServerAuthenticator } from '../../../src/driver/server-auth.js';
import { ProxyError } from '../../../src/protocol/proxy-error.js';

const SALT = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
const secret = deriveScramSecret('pencil', { salt: SALT, iterations: 4096 });

/** One full exchange of `client` against a server holding `serverSecret`; returns the server session. */
function exchange(client: ScramClientSession, serverSecret: ScramSecret | null): ScramServerSession {
  const server = new ScramServerSession('alice', serverSecret);
  const final = client.handleServerFirst(server.handleClientFirst('SCRAM-SHA-256', client.clientFirst()));
  client.verifyServerFinal(server.handleClientFinal(final));
  return server;
}

function failure(fn: () => unknown): ProxyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProxyError) return err;
    throw err;
  }
  throw new Error('expected a ProxyError');
}

/** Keys learnt from one real client login with `password`. */
function learntFrom(password: string): PassthroughKeys {
  const keys = new PassthroughKeys(secret);
  const recovered = exchange(new ScramClientSession(password), secret).recoveredClientKey!;
  expect(keys.learn(recovered)).toBe(true);
  return keys;
}

describe('the ClientKey a client reveals', () => {
  test('is recovered from a successful exchange and fits the secret (H(ClientKey) = StoredKey)', () => {
    const keys = learntFrom('pencil');
    expect(keys.ready).toBe(true);
    expect(keys.loginKeys()).toMatchObject({ salt: SALT, iterations: 4096, serverKey: secret.serverKey });
  });

  test('is not recovered from a failed exchange, nor from a mock exchange for an unknown user', () => {
    const wrong = new ScramServerSession('alice', secret);
    const client = new ScramClientSession('not pencil');
    const final = client.handleServerFirst(wrong.handleClientFirst('SCRAM-SHA-256', client.clientFirst()));
    expect(failure(() => wrong.handleClientFinal(final)).sqlstate).toBe('28P01');
    expect(wrong.recoveredClientKey).toBeNull();

    const mock = new ScramServerSession('nobody', null);
    const other = new ScramClientSession('pencil');
    const mockFinal = other.handleServerFirst(mock.handleClientFirst('SCRAM-SHA-256', other.clientFirst()));
    expect(() => mock.handleClientFinal(mockFinal)).toThrow(ProxyError);
    expect(mock.recoveredClientKey).toBeNull();
  });

  test('a key that does not hash to the StoredKey is refused and never kept', () => {
    const keys = new PassthroughKeys(secret);
    expect(keys.learn(Buffer.alloc(32, 7))).toBe(false);
    expect(keys.learn(Buffer.alloc(16))).toBe(false);
    expect(keys.ready).toBe(false);
    expect(keys.loginKeys()).toBeNull();
  });

  test('logs gatehouse in to a server that holds the same secret, whose signature is verified', () => {
    const keys = learntFrom('pencil');
    const server = exchange(new ScramClientSession(keys.loginKeys()!), secret);
    // The server accepted the proof: it recovers the same ClientKey gatehouse learnt.
    expect(server.recoveredClientKey).toEqual(keys.loginKeys()!.clientKey);
  });

  test('is refused by a server whose secret was made with another salt or iteration count, naming the cause', () => {
    const keys = learntFrom('pencil');
    for (const other of [deriveScramSecret('pencil', { iterations: 4096 }), deriveScramSecret('pencil', { salt: SALT, iterations: 5000 })]) {
      const client = new ScramClientSession(keys.loginKeys()!);
      const server = new ScramServerSession('alice', other);
      const err = failure(() => client.handleServerFirst(server.handleClientFirst('SCRAM-SHA-256', client.clientFirst())));
      expect(err.message).toMatch(/not the one PostgreSQL has \(its salt or iteration count differ\)/);
    }
  });

  test('an impostor server that does not hold the secret cannot pass the signature check', () => {
    const keys = learntFrom('pencil');
    const client = new ScramClientSession(keys.loginKeys()!);
    // Same salt and iterations (public values), different keys: the impostor accepts anything.
    const impostor = new ScramServerSession('alice', { ...secret, serverKey: Buffer.alloc(32, 1), storedKey: secret.storedKey });
    const final = client.handleServerFirst(impostor.handleClientFirst('SCRAM-SHA-256', client.clientFirst()));
    expect(failure(() => client.verifyServerFinal(impostor.handleClientFinal(final))).message).toMatch(/incorrect SCRAM server signature/);
  });

  test('never shows in JSON or util.inspect output', () => {
    const keys = learntFrom('pencil');
    const key = keys.loginKeys()!.clientKey;
    const shown = `${JSON.stringify({ keys })} ${inspect({ keys }, { depth: 5, showHidden: true })}`;
    expect(shown).toContain('[PassthroughKeys]');
    for (const form of [key.toString('base64'), key.toString('hex'), [...key].join(', ')]) expect(shown).not.toContain(form);
  });
});

describe('ServerAuthenticator with passthrough credentials', () => {
  const SALT4 = Buffer.from([1, 2, 3, 4]);
  const passwordBody = (message: Buffer) => message.subarray(5, -1).toString('latin1');

  test('md5 passthrough answers an MD5 challenge exactly as the plaintext password would', () => {
    const auth = new ServerAuthenticator('alice', { kind: 'md5-passthrough', hash: md5PasswordHash('alice', 'pencil') });
    auth.md5Salt = SALT4;
    const step = auth.respond('md5');
    if (!('message' in step) || step.message === null) throw new Error('expected a PasswordMessage');
    expect(passwordBody(step.message)).toBe(md5ClientResponse('alice', 'pencil', SALT4));
  });

  test('md5 passthrough cannot answer SCRAM or cleartext, and says what to change', () => {
    const auth = new ServerAuthenticator('alice', { kind: 'md5-passthrough', hash: md5PasswordHash('alice', 'pencil') });
    for (const method of ['scram-sha-256', 'cleartext'] as const) {
      expect(auth.respond(method)).toEqual({ failure: expect.stringMatching(`asked for ${method} authentication for user "alice", but its configured password is an md5 hash`) });
    }
  });

  test('SCRAM passthrough before any client has logged in fails with a message that says why', () => {
    const auth = new ServerAuthenticator('alice', { kind: 'scram-passthrough', keys: new PassthroughKeys(secret) });
    expect(auth.respond('scram-sha-256')).toEqual({
      failure: expect.stringMatching(/cannot log in to PostgreSQL as "alice" yet: .*no client of this user has authenticated/),
    });
  });

  test('SCRAM passthrough cannot answer MD5 or cleartext', () => {
    const auth = new ServerAuthenticator('alice', { kind: 'scram-passthrough', keys: learntFrom('pencil') });
    for (const method of ['md5', 'cleartext'] as const) {
      expect(auth.respond(method)).toEqual({ failure: expect.stringMatching(/its configured password is a SCRAM secret, which can answer only scram-sha-256/) });
    }
  });

  test('SCRAM passthrough with learnt keys completes the exchange against a server holding the secret', () => {
    const auth = new ServerAuthenticator('alice', { kind: 'scram-passthrough', keys: learntFrom('pencil') });
    const first = auth.respond('scram-sha-256');
    if (!('message' in first) || first.message === null) throw new Error('expected SASLInitialResponse');
    // SASLInitialResponse: 'p', length, mechanism\0, int32 length, client-first.
    const body = first.message.subarray(5);
    const mechanismEnd = body.indexOf(0);
    const clientFirst = body.subarray(mechanismEnd + 5);
    const server = new ScramServerSession('alice', secret);
    const next = auth.continueSasl('authenticationSASLContinue', server.handleClientFirst('SCRAM-SHA-256', clientFirst));
    if (!('message' in next) || next.message === null) throw new Error(`expected SASLResponse, got ${JSON.stringify(next)}`);
    const serverFinal = server.handleClientFinal(next.message.subarray(5));
    expect(auth.continueSasl('authenticationSASLFinal', serverFinal)).toEqual({ message: null });
    expect(auth.awaitingServerProof).toBe(false);
  });

  test('no password at all fails whatever the server asks', () => {
    const auth = new ServerAuthenticator('alice', { kind: 'none' });
    expect(auth.respond('md5')).toEqual({ failure: 'server asked for md5 authentication but no server_password is configured for user "alice"' });
  });
});
