import { describe, expect, test } from 'vitest';
import { passwordKind, scramSecretProblem } from '../../../src/config/index.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const SALT = Buffer.from('0123456789abcdef').toString('base64');
const GOOD_SCRAM = `SCRAM-SHA-256$4096:${SALT}$${KEY}:${KEY}`;

describe('password formats', () => {
  test('tells SCRAM secrets, md5 hashes and plaintext apart like PostgreSQL', () => {
    expect(passwordKind(GOOD_SCRAM)).toBe('scram-sha-256');
    expect(passwordKind(`md5${'0123456789abcdef'.repeat(2)}`)).toBe('md5');
    expect(passwordKind(`md5${'0123456789ABCDEF'.repeat(2)}`)).toBe('plain');
    expect(passwordKind('md5short')).toBe('plain');
    expect(passwordKind('hunter2')).toBe('plain');
  });

  test('accepts a well-formed SCRAM-SHA-256 secret', () => {
    expect(scramSecretProblem(GOOD_SCRAM)).toBeNull();
    expect(scramSecretProblem('not scram at all')).toBeNull();
  });

  test.each([
    ['no parts', 'SCRAM-SHA-256$'],
    ['missing server key', `SCRAM-SHA-256$4096:${SALT}$${KEY}`],
    ['zero iterations', `SCRAM-SHA-256$0:${SALT}$${KEY}:${KEY}`],
    ['non-numeric iterations', `SCRAM-SHA-256$many:${SALT}$${KEY}:${KEY}`],
    ['salt not base64', `SCRAM-SHA-256$4096:***$${KEY}:${KEY}`],
    ['StoredKey too short', `SCRAM-SHA-256$4096:${SALT}$${Buffer.alloc(16).toString('base64')}:${KEY}`],
    ['ServerKey not base64', `SCRAM-SHA-256$4096:${SALT}$${KEY}:!!`],
    ['extra dollar section', `${GOOD_SCRAM}$x`],
  ])('reports a malformed secret (%s) without quoting it', (_name, secret) => {
    const problem = scramSecretProblem(secret);
    expect(problem).toMatch(/^malformed SCRAM-SHA-256 secret/);
    expect(problem).not.toContain(KEY);
    expect(problem).not.toContain(SALT);
  });
});
