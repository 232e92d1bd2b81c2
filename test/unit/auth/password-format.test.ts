import { describe, expect, test } from 'vitest';
import { formatScramSecret, parseStoredPassword } from '../../../src/auth/index.js';

/** rolpassword values taken from real PostgreSQL 15 pg_authid rows. */
const PG_SCRAM =
  'SCRAM-SHA-256$4096:XOfXsR3dZORGmRBUGMSW4Q==$EYAXfDjQMFpVfMXNpbwOVyEuEIdWKyy04l/TjkGkSpE=:k0vcvBQCfTb8O/xrnxmsw9TCG1fEusAsuZWz8HcE93Y=';
const PG_MD5 = 'md5aa50dc74f7a4b7c3a3658f986c8699a5';

describe('parseStoredPassword', () => {
  test('reads a pg_authid SCRAM secret into its parts', () => {
    const parsed = parseStoredPassword(PG_SCRAM);
    expect(parsed).toEqual({
      kind: 'scram',
      iterations: 4096,
      salt: Buffer.from('XOfXsR3dZORGmRBUGMSW4Q==', 'base64'),
      storedKey: Buffer.from('EYAXfDjQMFpVfMXNpbwOVyEuEIdWKyy04l/TjkGkSpE=', 'base64'),
      serverKey: Buffer.from('k0vcvBQCfTb8O/xrnxmsw9TCG1fEusAsuZWz8HcE93Y=', 'base64'),
    });
  });

  test('round-trips a SCRAM secret through formatScramSecret unchanged', () => {
    const parsed = parseStoredPassword(PG_SCRAM);
    if (parsed.kind !== 'scram') throw new Error('expected scram');
    expect(formatScramSecret(parsed)).toBe(PG_SCRAM);
  });

  test('accepts iteration counts other than 4096 and salts of other lengths', () => {
    const value = PG_SCRAM.replace('4096:XOfXsR3dZORGmRBUGMSW4Q==', '100000:c2FsdA==');
    expect(parseStoredPassword(value)).toMatchObject({ kind: 'scram', iterations: 100000, salt: Buffer.from('salt') });
  });

  test('reads a pg_authid md5 hash', () => {
    expect(parseStoredPassword(PG_MD5)).toEqual({ kind: 'md5', hash: PG_MD5 });
  });

  test.each(['postgres', 'correct horse battery staple', 'md5', 'md5rocks', 'SCRAM-SHA-256', '', 'p@ss$word:with$dollars'])(
    'treats %j as a plain-text password',
    (value) => {
      expect(parseStoredPassword(value)).toEqual({ kind: 'plain', password: value });
    },
  );

  test.each([
    ['a missing ServerKey', PG_SCRAM.replace(/:k0vc.*$/, ''), /StoredKey>:<ServerKey>/],
    ['a missing salt section', 'SCRAM-SHA-256$4096$abc:def', /expected 2|iterations>:<salt>/],
    ['an extra "$" section', `${PG_SCRAM}$x`, /found 3/],
    ['a zero iteration count', PG_SCRAM.replace('$4096:', '$0:'), /iteration count/],
    ['a non-numeric iteration count', PG_SCRAM.replace('$4096:', '$many:'), /iteration count/],
    ['an iteration count beyond 32 bits', PG_SCRAM.replace('$4096:', '$4294967296:'), /iteration count/],
    ['a salt that is not base64', PG_SCRAM.replace('XOfXsR3dZORGmRBUGMSW4Q==', 'not*base64'), /salt/],
    ['an empty salt', PG_SCRAM.replace('XOfXsR3dZORGmRBUGMSW4Q==', ''), /salt/],
    ['a StoredKey of 16 bytes', PG_SCRAM.replace('EYAXfDjQMFpVfMXNpbwOVyEuEIdWKyy04l/TjkGkSpE=', 'XOfXsR3dZORGmRBUGMSW4Q=='), /StoredKey.*found 16/],
    ['a ServerKey that is not base64', PG_SCRAM.replace(/:k0vc.*$/, ':%%%'), /ServerKey/],
    ['a lower-case prefix', PG_SCRAM.replace('SCRAM-SHA-256', 'scram-sha-256'), /upper case/],
  ])('rejects a SCRAM secret with %s, saying what is wrong', (_name, value, message) => {
    expect(() => parseStoredPassword(value)).toThrow(message);
  });

  test.each([
    ['31 hex digits', PG_MD5.slice(0, -1), /31 hex digits/],
    ['33 hex digits', `${PG_MD5}0`, /33 hex digits/],
    ['upper-case hex digits', `md5${PG_MD5.slice(3).toUpperCase()}`, /lower case/],
    ['an upper-case prefix', `MD5${PG_MD5.slice(3)}`, /prefix/],
  ])('rejects an md5 hash with %s, saying what is wrong', (_name, value, message) => {
    expect(() => parseStoredPassword(value)).toThrow(message);
  });

  test('never repeats the malformed value in its error message', () => {
    const value = PG_SCRAM.replace(/:k0vc.*$/, ':%%%');
    expect(() => parseStoredPassword(value)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('EYAX') }));
  });
});
