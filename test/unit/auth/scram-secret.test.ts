import * as crypto from 'node:crypto';
import { beforeEach, describe, expect, test, vi } from 'vitest';
import {
  clearScramMemos,
  deriveScramSecret,
  formatScramSecret,
  parseStoredPassword,
  scramSecretFor,
} from '../../../src/auth/index.js';
import { scramKeysFor } from '../../../src/auth/scram-secret.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, pbkdf2Sync: vi.fn(actual.pbkdf2Sync) };
});
const pbkdf2Sync = vi.mocked(crypto.pbkdf2Sync);

/** Passwords and the rolpassword PostgreSQL 15 stored for them (CREATE ROLE … PASSWORD). */
const PG_SECRETS: [string, string][] = [
  ['pencil', 'SCRAM-SHA-256$4096:XOfXsR3dZORGmRBUGMSW4Q==$EYAXfDjQMFpVfMXNpbwOVyEuEIdWKyy04l/TjkGkSpE=:k0vcvBQCfTb8O/xrnxmsw9TCG1fEusAsuZWz8HcE93Y='],
  ['\u2168', 'SCRAM-SHA-256$4096:hpx5JlqidsD2WDCMFwxNGA==$k8+wEkHb1gdbc4yoOzNRDLDyr5a7osgZBd7UuSBIp9o=:a2nWr8zfIsu/s4BXm+si6m8nZfUN2/ZwaMEUowRvNi4='],
  ['I\u00adX', 'SCRAM-SHA-256$4096:VdMmCMMIKg9CyPUJqfsTPw==$TTSce3ghm8UnWbok6LrXIaVDoQnvWMnyN5X6cILZHHE=:64e4BlkSWmtCfpDlq7tuMP9rbFBxBJoKOJf3m7ktFUY='],
  ['a\u00a0b', 'SCRAM-SHA-256$4096:pFBVxuaQcCQ8luiszehvgg==$vdCEjOLzQ9KISp3EnCte2xNUEzpIH9yUqutdYvpCDVA=:mFGwgGHb2zQefMtgbX7EVs+Vw0K+4KJQ/0UUbl/oi10='],
  ['\uff30\uff41\uff53\uff53', 'SCRAM-SHA-256$4096:MALg5sXOoIDDPJub7Xc/7A==$pPVRP6tt0GNV8uCcyRq5TlTxxURtz1qmAnfCRFo3o64=:k8NhTy/eGqIf/NloXc4fHAXbd9CdFvaApEUFazHxwqA='],
  ['\ufb01x', 'SCRAM-SHA-256$4096:VOFeIOKJFSr+xNdhnGaGeg==$foiVFmzRjJMzW26v6SW7zjWO1xrpCGgtERyQufsHm1Q=:1L3jC9LQHCDCZ2Jjfh21kaXyefMYzqzGUgfHM4mBbEc='],
  ['ab\u0007c', 'SCRAM-SHA-256$4096:VLOdYva3Hapt1RHkicn0pQ==$R6obSnT7cJt5ouijw+ReB29/3fNJ1SzMGRwNxR8NXvk=:tZ+CE7Cpj+dDSf+RmEFQvD8YyHeLEqyxRzCZDKhx0II='],
  ['\u0627\u0031', 'SCRAM-SHA-256$4096:C1nJxVDIRbtRUBLLjAF64w==$sma+kBb6yVwf9WaAMMK+vnbCEuLm2ulT22gU8Za42a8=:8cDzBeaATlCR38DP6ChjOysdKrKGHV9zoJjmk0tkt5s='],
  ['a\u{1f100}', 'SCRAM-SHA-256$4096:veyEfDAwpdHAksKozofyIA==$6TeqnwyrAI6xjz0loV7yybGpsRzV4gIbEUlL+7gPKP8=:ZHo8nVLcQq+jcEXb2pal9EhihWsWQSU972mXyRqRWW4='],
  ['caf\u00e9\u{1f600}', 'SCRAM-SHA-256$4096:GDnK1aX/4pLHs/ItCBJefw==$ClNckxnWrQ65xQWawTIPhiK6pjPqPmdLCOQuDROt9N8=:MEAiy/z+TGRVX9sejQY4r++bIaoXzxhoAAZbnv+GhQw='],
];

beforeEach(() => {
  clearScramMemos();
  pbkdf2Sync.mockClear();
});

describe('deriveScramSecret', () => {
  test.each(PG_SECRETS)('derives the secret PostgreSQL stores for %j', (password, stored) => {
    const parsed = parseStoredPassword(stored);
    if (parsed.kind !== 'scram') throw new Error('expected scram');
    expect(formatScramSecret(deriveScramSecret(password, { salt: parsed.salt, iterations: parsed.iterations }))).toBe(stored);
  });

  test('defaults to 4096 iterations and a fresh random 16-byte salt, like PostgreSQL', () => {
    const one = deriveScramSecret('pencil');
    const two = deriveScramSecret('pencil');
    expect(one.iterations).toBe(4096);
    expect(one.salt).toHaveLength(16);
    expect(one.salt).not.toEqual(two.salt);
    expect(one.storedKey).toHaveLength(32);
    expect(one.serverKey).toHaveLength(32);
  });

  test.each([0, -1, 1.5])('refuses an iteration count of %s', (iterations) => {
    expect(() => deriveScramSecret('pencil', { iterations })).toThrow(/iteration count/);
  });

  test('refuses an empty salt', () => {
    expect(() => deriveScramSecret('pencil', { salt: Buffer.alloc(0) })).toThrow(/salt/);
  });
});

describe('scramSecretFor', () => {
  test('runs PBKDF2 once per distinct plain-text password, however many connections ask', () => {
    const first = scramSecretFor({ kind: 'plain', password: 'pencil' });
    for (let i = 0; i < 5; i++) expect(scramSecretFor({ kind: 'plain', password: 'pencil' })).toBe(first);
    expect(pbkdf2Sync).toHaveBeenCalledTimes(1);
    expect(scramSecretFor({ kind: 'plain', password: 'crayon' })).not.toBe(first);
    expect(pbkdf2Sync).toHaveBeenCalledTimes(2);
  });

  test('uses a stored SCRAM secret as is, without running PBKDF2', () => {
    const stored = parseStoredPassword(PG_SECRETS[0][1]);
    if (stored.kind !== 'scram') throw new Error('expected scram');
    expect(scramSecretFor(stored)).toMatchObject({ salt: stored.salt, storedKey: stored.storedKey, iterations: 4096 });
    expect(pbkdf2Sync).not.toHaveBeenCalled();
  });

  test('derives again after clearScramMemos (configuration reload)', () => {
    const first = scramSecretFor({ kind: 'plain', password: 'pencil' });
    clearScramMemos();
    expect(scramSecretFor({ kind: 'plain', password: 'pencil' })).not.toBe(first);
    expect(pbkdf2Sync).toHaveBeenCalledTimes(2);
  });
});

describe('scramKeysFor (client side)', () => {
  test('runs PBKDF2 once per password, salt and iteration count', () => {
    const salt = Buffer.from('salt');
    const keys = scramKeysFor('pencil', salt, 4096);
    expect(scramKeysFor('pencil', Buffer.from('salt'), 4096)).toBe(keys);
    expect(pbkdf2Sync).toHaveBeenCalledTimes(1);
    scramKeysFor('pencil', Buffer.from('pepper'), 4096);
    scramKeysFor('pencil', salt, 4097);
    scramKeysFor('crayon', salt, 4096);
    expect(pbkdf2Sync).toHaveBeenCalledTimes(4);
  });

  test('stays bounded when a server sends a new salt every time', () => {
    for (let i = 0; i < 300; i++) scramKeysFor('pencil', Buffer.from(`salt-${i}`), 1);
    pbkdf2Sync.mockClear();
    scramKeysFor('pencil', Buffer.from('salt-299'), 1);
    expect(pbkdf2Sync).not.toHaveBeenCalled();
    scramKeysFor('pencil', Buffer.from('salt-0'), 1);
    expect(pbkdf2Sync).toHaveBeenCalledTimes(1);
  });
});
