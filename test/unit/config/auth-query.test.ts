// pools.<name>.auth_query as PgDoorman writes it: defaults, durations, the two modes, and what a file gets wrong.
import { describe, expect, test } from 'vitest';
import { configWarnings, parseConfig } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE } from './expect-problems.js';

const parse = (text: string) => parseConfig(text, FILE, { checkFiles: false });

describe('auth_query', () => {
  test('fills PgDoorman\'s defaults; the database defaults to the pool\'s server_database; no listed users are needed', () => {
    const config = parse(`pools:
  app:
    server_database: app_prod
    auth_query:
      query: "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"
      user: doorman_auth
`);
    expect(config.pools.app.users).toEqual([]);
    expect(config.pools.app.auth_query).toEqual({
      query: 'SELECT usename, passwd FROM pg_shadow WHERE usename = $1',
      user: 'doorman_auth',
      password: '',
      database: 'app_prod',
      workers: 2,
      server_user: null,
      server_password: null,
      pool_size: 40,
      min_pool_size: 0,
      cache_ttl: 3_600_000,
      cache_failure_ttl: 30_000,
      min_interval: 1_000,
    });
  });

  test('reads durations as PgDoorman does (a bare number is milliseconds) and dedicated mode', () => {
    const config = parse(`pools:
  app:
    auth_query: { query: "q", user: u, password: p, database: other, workers: 4, server_user: owner, server_password: s, pool_size: 7, cache_ttl: 5m, cache_failure_ttl: 1500, min_interval: "0ms", min_pool_size: 2 }
`);
    expect(config.pools.app.auth_query).toMatchObject({ database: 'other', workers: 4, server_user: 'owner', server_password: 's', pool_size: 7, min_pool_size: 2, cache_ttl: 300_000, cache_failure_ttl: 1500, min_interval: 0 });
    // min_pool_size keeps each looked-up user's pool (or the dedicated pool) warm: it takes effect, so it is not reported.
    expect(config.ignoredKeys).toEqual([]);
  });

  test('query and user are required, server_password needs server_user, and unknown keys get a suggestion', () => {
    const missing = configErrorOf('pools:\n  app:\n    auth_query: { password: x }\n');
    expectProblem(missing, 'pools.app.auth_query.query', 'required');
    expectProblem(missing, 'pools.app.auth_query.user', 'required');
    expectProblem(configErrorOf('pools:\n  app:\n    auth_query: { query: q, user: u, server_password: s }\n'), 'pools.app.auth_query.server_user', 'required when pools.app.auth_query.server_password is set');
    expectProblem(configErrorOf('pools:\n  app:\n    auth_query: { query: q, user: u, cache_tl: 5s }\n'), 'pools.app.auth_query.cache_tl', 'did you mean cache_ttl?');
  });

  test('a pool without users and without auth_query is still an error', () => {
    expectProblem(configErrorOf('pools:\n  app:\n    users: []\n'), 'pools.app.users', 'at least one user is required (or pools.<name>.auth_query)');
  });
});
