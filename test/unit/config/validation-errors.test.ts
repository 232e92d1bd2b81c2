import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';

const withGeneral = (general: string) => `general:\n${general.replace(/^/gm, '  ')}\n${ONE_POOL}`;

describe('unknown keys', () => {
  test('names a misspelt general key and suggests the known one', () => {
    const line = expectProblem(configErrorOf(withGeneral('tls_mod: require')), 'general.tls_mod', 'unknown key (did you mean tls_mode?)');
    expect(line).toBe(`${FILE}: general.tls_mod: unknown key (did you mean tls_mode?)`);
  });

  test('reports an unknown key with no close match without a suggestion', () => {
    const line = expectProblem(configErrorOf(withGeneral('frobnicate: 1')), 'general.frobnicate', 'unknown key');
    expect(line).not.toContain('did you mean');
  });

  test('finds unknown keys inside a user entry, a pool, web and at the top level', () => {
    const error = configErrorOf(`pools:
  app:
    server_hots: db
    users:
      - username: a
        pasword: x
        password: y
web:
  enable: true
extra: 1
`);
    expectProblem(error, 'pools.app.server_hots', 'did you mean server_host?');
    expectProblem(error, 'pools.app.users[0].pasword', 'did you mean password?');
    expectProblem(error, 'web.enable', 'did you mean enabled?');
    expectProblem(error, 'extra', 'unknown key');
  });

  test('says where a misplaced key belongs', () => {
    expectProblem(configErrorOf(withGeneral('pool_mode: session')), 'general.pool_mode', 'pool_mode is a setting of pools.<name>');
  });
});

describe('types and ranges', () => {
  test('rejects a pool_size that is not a positive integer, quoting the value', () => {
    const error = configErrorOf(`pools:\n  app:\n    users:\n      - { username: a, password: x, pool_size: ten }\n      - { username: b, password: y, pool_size: 0 }\n`);
    const line = expectProblem(error, 'pools.app.users[0].pool_size', 'expected a positive integer (got "ten")');
    expect(line).toBe(`${FILE}: pools.app.users[0].pool_size: expected a positive integer (got "ten")`);
    expectProblem(error, 'pools.app.users[1].pool_size', 'expected a positive integer (got 0)');
  });

  test.each([['0'], ['65536'], ['"6432"'], ['64.5']])('rejects general.port %s', (port) => {
    expectProblem(configErrorOf(withGeneral(`port: ${port}`)), 'general.port', 'expected a port number 1..65535');
  });

  test('rejects out-of-range server_port and web port', () => {
    const error = configErrorOf(`web:\n  port: 0\npools:\n  app:\n    server_port: 99999\n    users: [{ username: a, password: x }]\n`);
    expectProblem(error, 'pools.app.server_port', '(got 99999)');
    expectProblem(error, 'web.port', '(got 0)');
  });

  test('rejects a duration that is neither milliseconds nor a string with a unit', () => {
    const error = configErrorOf(withGeneral('connect_timeout: 5 seconds\nidle_timeout: -1'));
    expectProblem(error, 'general.connect_timeout', 'expected a duration');
    expectProblem(error, 'general.idle_timeout', '(got -1)');
  });

  test('rejects a duration longer than a Node timer can wait', () => {
    expectProblem(configErrorOf(withGeneral('server_lifetime: 30d')), 'general.server_lifetime', 'must be at most 24d');
  });

  test('rejects wrong types for booleans, strings and counts', () => {
    const error = configErrorOf(`general:\n  host: [a]\n  max_connections: many\n  tls_rate_limit_per_second: -5\nweb:\n  enabled: "yes"\n${ONE_POOL}`);
    expectProblem(error, 'general.host', 'expected a string (got a list)');
    expectProblem(error, 'general.max_connections', 'expected a positive integer (got "many")');
    expectProblem(error, 'general.tls_rate_limit_per_second', 'expected a non-negative integer (got -5)');
    expectProblem(error, 'web.enabled', 'expected true or false (got "yes")');
  });

  test('rejects a section that is not a map', () => {
    expectProblem(configErrorOf(`general: 5\n${ONE_POOL}`), 'general', 'expected a map (got 5)');
    expectProblem(configErrorOf('pools: [a, b]\n'), 'pools', 'expected a map of pool names to pool settings (got a list)');
  });
});

describe('modes', () => {
  test('lists the client tls_mode values when the value is unknown', () => {
    const line = expectProblem(configErrorOf(withGeneral('tls_mode: requre')), 'general.tls_mode', 'must be one of');
    expect(line).toBe(`${FILE}: general.tls_mode: must be one of disable, allow, require, verify-full (got "requre")`);
  });

  test('treats client tls_mode case-sensitively, like PgDoorman, and says so', () => {
    expectProblem(configErrorOf(withGeneral('tls_mode: Disable')), 'general.tls_mode', '(names are case-sensitive)');
  });

  test('accepts server_tls_mode in any case and stores it in lower case', () => {
    const config = parseConfig(`general:\n  server_tls_mode: PREFER\n${ONE_POOL}`, FILE, { checkFiles: false });
    expect(config.general.server_tls_mode).toBe('prefer');
    expect(config.pools.app.server_tls.mode).toBe('prefer');
  });

  test('rejects an unknown server_tls_mode, in general and per pool', () => {
    const error = configErrorOf(`general:\n  server_tls_mode: sometimes\npools:\n  app:\n    server_tls_mode: 7\n    users: [{ username: a, password: x }]\n`);
    expectProblem(error, 'general.server_tls_mode', 'must be one of disable, allow, prefer, require, verify-ca, verify-full (got "sometimes")');
    expectProblem(error, 'pools.app.server_tls_mode', '(got 7)');
  });

  test('rejects an unknown pool_mode and log_level', () => {
    const error = configErrorOf(`general:\n  log_level: verbose\npools:\n  app:\n    pool_mode: statement\n    users: [{ username: a, password: x }]\n`);
    expectProblem(error, 'pools.app.pool_mode', 'must be one of session, transaction (got "statement")');
    expectProblem(error, 'general.log_level', 'must be one of trace, debug, info, warn, error, fatal');
  });
});

describe('client-side TLS rules', () => {
  test.each(['require', 'verify-full'])('tls_mode %s needs a certificate and a private key', (mode) => {
    const error = configErrorOf(withGeneral(`tls_mode: ${mode}\ntls_ca_cert: ca.pem`));
    expectProblem(error, 'general.tls_certificate', `required when general.tls_mode is ${mode}`);
    expectProblem(error, 'general.tls_private_key', `required when general.tls_mode is ${mode}`);
  });

  test('tls_mode verify-full needs tls_ca_cert', () => {
    const line = expectProblem(
      configErrorOf(withGeneral('tls_mode: verify-full\ntls_certificate: s.crt\ntls_private_key: s.key')),
      'general.tls_ca_cert',
      'required',
    );
    expect(line).toBe(`${FILE}: general.tls_ca_cert: required when general.tls_mode is verify-full`);
  });

  test('a certificate needs its private key', () => {
    const line = expectProblem(configErrorOf(withGeneral('tls_certificate: s.crt')), 'general.tls_private_key', 'required');
    expect(line).toBe(`${FILE}: general.tls_private_key: required when general.tls_certificate is set`);
  });

  test('a private key needs its certificate', () => {
    const line = expectProblem(configErrorOf(withGeneral('tls_private_key: s.key')), 'general.tls_certificate', 'required');
    expect(line).toBe(`${FILE}: general.tls_certificate: required when general.tls_private_key is set`);
  });

  test('reports a missing key once even when two rules require it', () => {
    const error = configErrorOf(withGeneral('tls_mode: require\ntls_certificate: s.crt'));
    expect(error.problems.filter((p) => p.keyPath === 'general.tls_private_key')).toHaveLength(1);
  });

  test('accepts tls_mode disable with a certificate configured (the certificate is ignored)', () => {
    const config = parseConfig(withGeneral('tls_mode: disable\ntls_certificate: s.crt\ntls_private_key: s.key'), FILE, { checkFiles: false });
    expect(config.general.tls_mode).toBe('disable');
    expect(config.general.tls_certificate).toBe('/etc/gatehouse/s.crt');
  });
});

describe('server-side TLS rules', () => {
  test.each(['verify-ca', 'verify-full', 'VERIFY-FULL'])('general server_tls_mode %s needs server_tls_ca_cert', (mode) => {
    expectProblem(
      configErrorOf(withGeneral(`server_tls_mode: ${mode}`)),
      'general.server_tls_ca_cert',
      `required when general.server_tls_mode is ${mode.toLowerCase()}`,
    );
  });

  test('a pool in verify-full mode needs a CA, its own or inherited from general', () => {
    const pools = `pools:
  own:
    server_tls_mode: verify-full
    users: [{ username: a, password: x }]
  inherits:
    server_tls_mode: verify-ca
    users: [{ username: a, password: x }]
`;
    const error = configErrorOf(pools);
    expectProblem(error, 'pools.own.server_tls_ca_cert', 'required when pools.own.server_tls_mode is verify-full');
    expectProblem(error, 'pools.inherits.server_tls_ca_cert', 'required when pools.inherits.server_tls_mode is verify-ca');
    expect(() => parseConfig(`general:\n  server_tls_ca_cert: ca.pem\n${pools}`, FILE, { checkFiles: false })).not.toThrow();
  });

  test('general server certificate and key must come together', () => {
    expectProblem(configErrorOf(withGeneral('server_tls_certificate: c.crt')), 'general.server_tls_private_key', 'required when general.server_tls_certificate is set');
    expectProblem(configErrorOf(withGeneral('server_tls_private_key: c.key')), 'general.server_tls_certificate', 'required when general.server_tls_private_key is set');
  });

  test('a pool certificate needs a key, its own or from general', () => {
    const pool = (extra: string) => `pools:\n  app:\n${extra.replace(/^/gm, '    ')}\n    users: [{ username: a, password: x }]\n`;
    expectProblem(configErrorOf(pool('server_tls_certificate: c.crt')), 'pools.app.server_tls_private_key', 'required when pools.app.server_tls_certificate is set');
    expectProblem(configErrorOf(pool('server_tls_private_key: c.key')), 'pools.app.server_tls_certificate', 'required when pools.app.server_tls_private_key is set');
    expect(() =>
      parseConfig(`general:\n  server_tls_private_key: g.key\n  server_tls_certificate: g.crt\n${pool('server_tls_certificate: c.crt')}`, FILE, { checkFiles: false }),
    ).not.toThrow();
  });
});

describe('pools and users', () => {
  test('requires the pools section', () => {
    expectProblem(configErrorOf('general:\n  port: 6432\n'), 'pools', 'required: at least one pool');
  });

  test('requires at least one pool', () => {
    expectProblem(configErrorOf('pools: {}\n'), 'pools', 'at least one pool is required');
  });

  test('requires at least one user in each pool', () => {
    const error = configErrorOf('pools:\n  a:\n    server_host: db\n  b:\n    users: []\n');
    expectProblem(error, 'pools.a.users', 'at least one user is required');
    expectProblem(error, 'pools.b.users', 'at least one user is required');
  });

  test('rejects a username used twice in one pool, naming both entries', () => {
    const error = configErrorOf('pools:\n  app:\n    users:\n      - { username: bob, password: x }\n      - { username: alice, password: y }\n      - { username: bob, password: z }\n');
    expectProblem(error, 'pools.app.users[2].username', 'duplicate username "bob" (also pools.app.users[0])');
  });

  test('allows the same username in two pools', () => {
    expect(() => parseConfig('pools:\n  a:\n    users: [{ username: bob, password: x }]\n  b:\n    users: [{ username: bob, password: x }]\n', FILE, { checkFiles: false })).not.toThrow();
  });

  test('requires a username', () => {
    expectProblem(configErrorOf('pools:\n  app:\n    users: [{ password: x }]\n'), 'pools.app.users[0].username', 'required');
  });

  test('requires a password, and an empty one counts as missing', () => {
    const error = configErrorOf('pools:\n  app:\n    users:\n      - { username: a }\n      - { username: b, password: "" }\n      - { username: c, password: }\n');
    expectProblem(error, 'pools.app.users[0].password', 'required');
    expectProblem(error, 'pools.app.users[1].password', 'must not be empty');
    expectProblem(error, 'pools.app.users[2].password', 'required');
  });

  test('rejects a malformed SCRAM-SHA-256 secret without printing it', () => {
    const secret = 'SCRAM-SHA-256$4096:c2FsdA==$notbase64!!:alsonot';
    const error = configErrorOf(`pools:\n  app:\n    users: [{ username: a, password: "${secret}" }]\n`);
    expectProblem(error, 'pools.app.users[0].password', 'malformed SCRAM-SHA-256 secret');
    expect(error.message).not.toContain('notbase64');
  });

  test('never prints a password value, even of the wrong type', () => {
    const error = configErrorOf('pools:\n  app:\n    users:\n      - { username: a, password: 8675309, server_password: 4815162342 }\n');
    expectProblem(error, 'pools.app.users[0].password', 'expected a string (got a number)');
    expectProblem(error, 'pools.app.users[0].server_password', 'expected a string (got a number)');
    expect(error.message).not.toMatch(/8675309|4815162342/);
  });

  test('rejects a pool name that would clash with JavaScript object internals', () => {
    expectProblem(configErrorOf('pools:\n  __proto__:\n    users: [{ username: a, password: x }]\n'), 'pools.__proto__', 'cannot be used for a pool');
  });
});
