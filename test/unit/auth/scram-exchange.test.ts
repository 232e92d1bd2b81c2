import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { ProxyError } from '../../../src/protocol/proxy-error.js';
import {
  parseStoredPassword,
  SCRAM_MECHANISMS,
  ScramClientSession,
  scramSecretFor,
  ScramServerSession,
  type ScramSecret,
} from '../../../src/auth/index.js';

/** Secret PostgreSQL 15 stored for CREATE ROLE … PASSWORD 'pencil'. */
const PG_PENCIL =
  'SCRAM-SHA-256$4096:XOfXsR3dZORGmRBUGMSW4Q==$EYAXfDjQMFpVfMXNpbwOVyEuEIdWKyy04l/TjkGkSpE=:k0vcvBQCfTb8O/xrnxmsw9TCG1fEusAsuZWz8HcE93Y=';
/** Secret PostgreSQL 15 stored for PASSWORD E'\u2168' (ROMAN NUMERAL NINE, "IX" after NFKC). */
const PG_ROMAN_NINE =
  'SCRAM-SHA-256$4096:hpx5JlqidsD2WDCMFwxNGA==$k8+wEkHb1gdbc4yoOzNRDLDyr5a7osgZBd7UuSBIp9o=:a2nWr8zfIsu/s4BXm+si6m8nZfUN2/ZwaMEUowRvNi4=';

function secretOf(value: string): ScramSecret {
  const stored = parseStoredPassword(value);
  if (stored.kind === 'md5') throw new Error('md5 cannot back SCRAM');
  return scramSecretFor(stored);
}

/** Runs a whole exchange between gatehouse's own client and server. */
function exchange(secret: ScramSecret | null, password: string): void {
  const server = new ScramServerSession('alice', secret);
  const client = new ScramClientSession(password);
  const serverFirst = server.handleClientFirst(SCRAM_MECHANISMS[0], client.clientFirst());
  const serverFinal = server.handleClientFinal(client.handleServerFirst(serverFirst));
  client.verifyServerFinal(serverFinal);
}

function failure(fn: () => unknown): ProxyError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProxyError) return err;
    throw err;
  }
  return undefined;
}

describe('SCRAM exchange between gatehouse client and server', () => {
  test('succeeds for a plain-text configured password', () => {
    expect(failure(() => exchange(secretOf('s3cret password'), 's3cret password'))).toBeUndefined();
  });

  test('succeeds for a secret PostgreSQL generated', () => {
    expect(failure(() => exchange(secretOf(PG_PENCIL), 'pencil'))).toBeUndefined();
  });

  test('applies SASLprep like PostgreSQL: "\\u2168" and "IX" both match the secret made from "\\u2168"', () => {
    expect(failure(() => exchange(secretOf(PG_ROMAN_NINE), '\u2168'))).toBeUndefined();
    expect(failure(() => exchange(secretOf(PG_ROMAN_NINE), 'IX'))).toBeUndefined();
  });

  test('fails a wrong password with 28P01', () => {
    const err = failure(() => exchange(secretOf(PG_PENCIL), 'pen'));
    expect([err?.code, err?.sqlstate, err?.message]).toEqual([
      'auth.failed',
      '28P01',
      'password authentication failed for user "alice"',
    ]);
  });

  test('fails an unknown user with exactly the error a wrong password gets', () => {
    const err = failure(() => exchange(null, 'pencil'));
    expect([err?.code, err?.sqlstate, err?.message]).toEqual([
      'auth.failed',
      '28P01',
      'password authentication failed for user "alice"',
    ]);
  });
});

interface PgSaslSession {
  mechanism: string;
  response: string;
}
interface PgSasl {
  startSession(mechanisms: string[], stream?: object): PgSaslSession;
  continueSession(session: PgSaslSession, password: string, serverData: string, stream?: object): Promise<void>;
  finalizeSession(session: PgSaslSession, serverData: string): void;
}
const pgSasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as PgSasl;

describe('SCRAM exchange with node-postgres as the client', () => {
  test.each([
    ['without TLS (gs2 flag "n")', undefined],
    ['over TLS, supporting channel binding that is not offered (gs2 flag "y")', {}],
  ])('authenticates node-postgres %s', async (_name, stream) => {
    const server = new ScramServerSession('alice', secretOf(PG_PENCIL));
    const session = pgSasl.startSession([...SCRAM_MECHANISMS], stream);
    expect(session.response.slice(0, 3)).toBe(stream === undefined ? 'n,,' : 'y,,');
    const serverFirst = server.handleClientFirst(session.mechanism, Buffer.from(session.response));
    await pgSasl.continueSession(session, 'pencil', serverFirst.toString(), stream);
    const serverFinal = server.handleClientFinal(Buffer.from(session.response));
    expect(() => pgSasl.finalizeSession(session, serverFinal.toString())).not.toThrow();
  });

  test('rejects node-postgres with the wrong password with 28P01', async () => {
    const server = new ScramServerSession('alice', secretOf(PG_PENCIL));
    const session = pgSasl.startSession([...SCRAM_MECHANISMS]);
    const serverFirst = server.handleClientFirst(session.mechanism, Buffer.from(session.response));
    await pgSasl.continueSession(session, 'not pencil', serverFirst.toString());
    expect(failure(() => server.handleClientFinal(Buffer.from(session.response)))?.sqlstate).toBe('28P01');
  });
});
