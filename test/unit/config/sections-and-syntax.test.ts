import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';

describe('sections', () => {
  test('refuses web and its old name prometheus together', () => {
    expectProblem(configErrorOf(`web:\n  port: 9000\nprometheus:\n  port: 9001\n${ONE_POOL}`), 'prometheus', 'cannot be used together with web');
  });

  test('refuses PgDoorman settings that gatehouse cannot honour safely', () => {
    const error = configErrorOf(`include:\n  files: [more.yaml]\n${ONE_POOL.replace('password: app-secret', 'password: app-secret\n        pool_mode: session')}`);
    expectProblem(error, 'include', 'not supported');
    expectProblem(error, 'pools.app.users[0].pool_mode', 'not supported per user');
  });

  test('quotes pool names that are not plain words in key paths', () => {
    expectProblem(configErrorOf('pools:\n  "my.db":\n    users: []\n'), 'pools["my.db"].users', 'at least one user is required');
  });
});

describe('YAML syntax', () => {
  test('gives the line and column of a syntax error', () => {
    const error = configErrorOf('general:\n  port: 6432\n  host: [unclosed\npools: {}\n');
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0].keyPath).toMatch(/^line \d+, column \d+$/);
    expect(error.message).toMatch(new RegExp(`^${FILE}: line \\d+, column \\d+: invalid YAML: `));
  });

  test('rejects a key given twice, with its line', () => {
    const error = configErrorOf(`general:\n  port: 1\n  port: 2\n${ONE_POOL}`);
    expect(error.message).toBe(`${FILE}: line 3, column 3: invalid YAML: Map keys must be unique`);
  });

  test('reports an empty file', () => {
    expect(configErrorOf('# nothing here\n').message).toBe(`${FILE}: the file is empty (expected general and pools sections)`);
  });

  test('reports a file whose top level is not a map', () => {
    expect(configErrorOf('- a\n- b\n').message).toContain(`${FILE}: expected a map with general and pools sections (got a list)`);
  });
});

describe('reporting', () => {
  test('reports every problem at once, one per line, in file order', () => {
    const error = configErrorOf(`general:
  tls_mode: requre
  port: seventy
  tls_certificate: s.crt
pools:
  app:
    pool_mode: sessions
    users:
      - { username: a, password: x, pool_size: -1 }
      - { username: a, password: y }
`);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.problems.map((p) => p.keyPath)).toEqual([
      'general.tls_mode',
      'general.port',
      'general.tls_private_key',
      'pools.app.pool_mode',
      'pools.app.users[0].pool_size',
      'pools.app.users[1].username',
    ]);
    expect(error.message.split('\n')).toHaveLength(6);
    for (const line of error.message.split('\n')) expect(line.startsWith(`${FILE}: `)).toBe(true);
  });
});
