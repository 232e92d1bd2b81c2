// The pool limits PgDoorman (and PgBouncer) users set: they take effect, so they are read, checked and not reported as ignored.
import { describe, expect, test } from 'vitest';
import { configWarnings, parseConfig } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE } from './expect-problems.js';

const parse = (text: string) => parseConfig(text, FILE, { checkFiles: false });

describe('pool limits', () => {
  test('reads min_pool_size, max_db_connections and the reserve, and none of them is reported as ignored', () => {
    const config = parse(`pools:
  app:
    max_db_connections: 10
    reserve_pool_size: 2
    reserve_pool_timeout: 2s
    users:
      - { username: a, password: x, pool_size: 8, min_pool_size: 3 }
    auth_query: { query: q, user: u, pool_size: 4, min_pool_size: 1 }
`);
    const app = config.pools.app;
    expect({ max: app.max_db_connections, reserve: app.reserve_pool_size, timeout: app.reserve_pool_timeout }).toEqual({ max: 10, reserve: 2, timeout: 2000 });
    expect(app.users[0]).toMatchObject({ pool_size: 8, min_pool_size: 3 });
    expect(app.auth_query).toMatchObject({ pool_size: 4, min_pool_size: 1 });
    expect(config.ignoredKeys).toEqual([]);
    expect(configWarnings(config)).toEqual([]);
  });

  test("PgDoorman's defaults: no cap, no reserve (reserve_pool_timeout 3000 ms), nothing kept warm", () => {
    const app = parse('pools:\n  app:\n    users: [{ username: a, password: x }]\n').pools.app;
    expect([app.max_db_connections, app.reserve_pool_size, app.reserve_pool_timeout, app.users[0].min_pool_size]).toEqual([0, 0, 3000, 0]);
  });

  test('idle_transaction_timeout is off by default, and a user overrides its pool, which overrides general', () => {
    const config = parse(`general:
  idle_transaction_timeout: 30s
pools:
  app:
    idle_transaction_timeout: 10s
    users:
      - { username: a, password: x }
      - { username: b, password: x, idle_transaction_timeout: 2500 }
  other:
    users: [{ username: c, password: x }]
`);
    expect(config.general.idle_transaction_timeout).toBe(30_000);
    expect(config.pools.app.users.map((u) => u.idle_transaction_timeout)).toEqual([10_000, 2500]);
    expect(config.pools.other.users[0].idle_transaction_timeout).toBe(30_000);
    expect(parse('pools:\n  app:\n    users: [{ username: a, password: x }]\n').pools.app.users[0].idle_transaction_timeout).toBe(0);
  });

  test('names the key and the file for values of the wrong kind', () => {
    const error = configErrorOf(`general:
  idle_transaction_timeout: soon
pools:
  app:
    max_db_connections: -1
    reserve_pool_size: many
    reserve_pool_timeout: later
    idle_transaction_timeout: [1]
    users:
      - { username: a, password: x, min_pool_size: 1.5, idle_transaction_timeout: never }
`);
    expectProblem(error, 'general.idle_transaction_timeout', 'expected a duration');
    expectProblem(error, 'pools.app.max_db_connections', 'expected a non-negative integer (got -1)');
    expectProblem(error, 'pools.app.reserve_pool_size', 'expected a non-negative integer (got "many")');
    expectProblem(error, 'pools.app.reserve_pool_timeout', 'expected a duration');
    expectProblem(error, 'pools.app.idle_transaction_timeout', 'expected a duration');
    expectProblem(error, 'pools.app.users[0].min_pool_size', 'expected a non-negative integer (got 1.5)');
    expectProblem(error, 'pools.app.users[0].idle_transaction_timeout', 'expected a duration');
  });

  test('min_pool_size above pool_size, and minimums that do not fit in max_db_connections, are refused', () => {
    const error = configErrorOf(`pools:
  app:
    max_db_connections: 4
    users:
      - { username: a, password: x, pool_size: 5, min_pool_size: 3 }
      - { username: b, password: x, pool_size: 2, min_pool_size: 3 }
    auth_query: { query: q, user: u, pool_size: 2, min_pool_size: 5 }
  defaults:
    users:
      - { username: c, password: x, min_pool_size: 41 }
`);
    expectProblem(error, 'pools.app.users[1].min_pool_size', 'must be at most pool_size (2) (got 3)');
    expectProblem(error, 'pools.app.auth_query.min_pool_size', 'must be at most pool_size (2) (got 5)');
    expectProblem(error, 'pools.app.max_db_connections', "is 4, less than the users' min_pool_size together (6)");
    expectProblem(error, 'pools.defaults.users[0].min_pool_size', 'must be at most pool_size (40) (got 41)');
    expect(error.problems.map((p) => p.keyPath)).not.toContain('pools.app.users[0].min_pool_size');
  });

  test('warns when reserve_pool_timeout is not below query_wait_timeout, since no client would wait long enough', () => {
    const config = parse(`general:
  query_wait_timeout: 2s
pools:
  app:
    reserve_pool_size: 1
    reserve_pool_timeout: 2s
    users: [{ username: a, password: x }]
`);
    expect(configWarnings(config)).toEqual([
      `${FILE}: pools.app.reserve_pool_timeout: 2000ms is not below general.query_wait_timeout (2000ms): clients give up waiting before the reserve is used`,
    ]);
  });
});

