import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { md5ClientResponse, md5PasswordHash, md5SaltedResponse } from '../../../src/auth/index.js';

const pgCrypto = createRequire(import.meta.url)('pg/lib/crypto/utils.js') as {
  postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>;
};

describe('md5 password helpers', () => {
  test('hash a password the way PostgreSQL stores it in pg_authid', () => {
    expect(md5PasswordHash('postgres', 'postgres')).toBe('md53175bce1d3201d16594cebf9d7eb3f9d');
    // From a PostgreSQL 15 cluster: SET password_encryption = 'md5'; CREATE ROLE r_md5 PASSWORD 'postgres'.
    expect(md5PasswordHash('r_md5', 'postgres')).toBe('md5aa50dc74f7a4b7c3a3658f986c8699a5');
  });

  test('hash non-ASCII usernames and passwords as UTF-8 bytes', () => {
    const utf8 = createHash('md5').update(Buffer.from('p\u00e4ssjos\u00e9', 'utf8')).digest('hex');
    expect(md5PasswordHash('jos\u00e9', 'p\u00e4ss')).toBe(`md5${utf8}`);
  });

  test('compute the same salted response node-postgres sends', async () => {
    const salt = Buffer.from([0x9a, 0x00, 0xff, 0x17]);
    const expected = await pgCrypto.postgresMd5PasswordHash('alice', 's3cret', salt);
    expect(md5ClientResponse('alice', 's3cret', salt)).toBe(expected);
    expect(md5SaltedResponse(md5PasswordHash('alice', 's3cret'), salt)).toBe(expected);
  });

  test('give a different response for a different salt, so a captured response cannot be replayed', () => {
    const one = md5ClientResponse('alice', 's3cret', Buffer.from([1, 2, 3, 4]));
    const two = md5ClientResponse('alice', 's3cret', Buffer.from([1, 2, 3, 5]));
    expect(one).toMatch(/^md5[0-9a-f]{32}$/);
    expect(one).not.toBe(two);
  });

  test('refuse to salt something that is not an md5 hash', () => {
    expect(() => md5SaltedResponse('s3cret', Buffer.alloc(4))).toThrow(/md5 hash/);
  });
});
