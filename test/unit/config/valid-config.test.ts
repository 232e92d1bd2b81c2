import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { configWarnings, loadConfig, parseConfig, type Config } from '../../../src/config/index.js';
import { FILE, ONE_POOL } from './expect-problems.js';
import { makeCertAndKey, tempDir, type TempDir } from './pem-helper.js';

const parse = (text: string): Config => parseConfig(text, FILE, { checkFiles: false });
const SCRAM = `SCRAM-SHA-256$4096:${Buffer.from('salt-salt-salt!!').toString('base64')}$${Buffer.alloc(32, 1).toString('base64')}:${Buffer.alloc(32, 2).toString('base64')}`;
const MD5 = `md5${'a1b2c3d4'.repeat(4)}`;

describe('defaults', () => {
  test('fills every general, web, pool and user default', () => {
    const config = parse(ONE_POOL);
    expect(config.file).toBe(FILE);
    expect(config.general).toEqual({
      host: '0.0.0.0',
      port: 6432,
      tls_mode: 'allow',
      tls_certificate: null,
      tls_private_key: null,
      tls_ca_cert: null,
      tls_rate_limit_per_second: 0,
      tls_min_version: 'TLSv1.2',
      tls_max_version: 'TLSv1.3',
      tls_ciphers: null,
      tls13_ciphersuites: null,
      tls_client_cert_identity: 'none',
      server_tls_mode: 'allow',
      server_tls_ca_cert: null,
      server_tls_certificate: null,
      server_tls_private_key: null,
      server_tls_negotiation: 'postgres',
      connect_timeout: 3_000,
      prepared_statements: true,
      prepared_statements_cache_size: 8192,
      server_prepared_statements_cache_size: null,
      query_wait_timeout: 5_000,
      idle_timeout: 600_000,
      server_lifetime: 1_200_000,
      idle_transaction_timeout: 0,
      shutdown_timeout: 10_000,
      client_login_timeout: 60_000,
      max_connections: 8192,
      worker_threads: availableParallelism(),
      peer_id: 0,
      log_level: 'info',
      admin_username: 'admin',
      admin_password: null,
      journal_size: 1000,
      journal_file: null,
      pg_hba: null,
      unix_socket_dir: null,
      unix_socket_mode: 0o600,
    });
    expect(config.web).toEqual({ enabled: false, host: '0.0.0.0', port: 9127, inspect: false, viewer: false });
    expect(config.pools.app).toEqual({
      name: 'app',
      server_host: '127.0.0.1',
      server_port: 5432,
      server_database: 'app',
      pool_mode: 'transaction',
      users: [
        {
          username: 'app',
          password: 'app-secret',
          pool_size: 40,
          min_pool_size: 0,
          idle_transaction_timeout: 0,
          server_username: 'app',
          server_password: 'app-secret',
          server_auth: 'password',
        },
      ],
      auth_query: null,
      server_tls: { mode: 'allow', ca_cert: null, certificate: null, private_key: null, negotiation: 'postgres' },
      prepared_statements: { enabled: true, cache_size: 8192, server_cache_size: 8192 },
      cleanup_server_connections: true,
      max_db_connections: 0,
      reserve_pool_size: 0,
      reserve_pool_timeout: 3000,
      idle_transaction_timeout: 0,
    });
  });

  test('takes the prepared-statement cache sizes from the pool first, then general; the server cache inherits the pool cache', () => {
    const config = parse(`general:
  prepared_statements_cache_size: 500
  server_prepared_statements_cache_size: 300
pools:
  inherits: { users: [{ username: a, password: pw }] }
  own: { prepared_statements_cache_size: 50, cleanup_server_connections: false, users: [{ username: a, password: pw }] }
  both: { prepared_statements_cache_size: 50, server_prepared_statements_cache_size: 20, users: [{ username: a, password: pw }] }
`);
    expect(config.pools.inherits.prepared_statements).toEqual({ enabled: true, cache_size: 500, server_cache_size: 300 });
    expect(config.pools.own.prepared_statements).toEqual({ enabled: true, cache_size: 50, server_cache_size: 300 });
    expect(config.pools.own.cleanup_server_connections).toBe(false);
    expect(config.pools.both.prepared_statements).toEqual({ enabled: true, cache_size: 50, server_cache_size: 20 });
    expect(parse(`general: { prepared_statements_cache_size: 7 }\n${ONE_POOL}`).pools.app.prepared_statements.server_cache_size).toBe(7);
  });

  test('treats an empty YAML value as not set', () => {
    const config = parse(`general:\n  port:\n  tls_certificate:\nweb:\n${ONE_POOL}`);
    expect(config.general.port).toBe(6432);
    expect(config.general.tls_certificate).toBeNull();
    expect(config.web.port).toBe(9127);
  });

  test('uses a plaintext password as the server password, but never a hash', () => {
    const config = parse(`pools:
  app:
    users:
      - { username: plain, password: pw }
      - { username: scram, password: "${SCRAM}" }
      - { username: md5, password: ${MD5} }
      - { username: mapped, password: "${SCRAM}", server_username: pg_mapped, server_password: real }
`);
    const [plain, scram, md5, mapped] = config.pools.app.users;
    expect(plain.server_password).toBe('pw');
    expect(scram.server_password).toBeNull();
    expect(md5.server_password).toBeNull();
    expect(mapped).toMatchObject({ server_username: 'pg_mapped', server_password: 'real', password: SCRAM });
  });

  test('logs in to PostgreSQL by passthrough when the password is a hash, server_password is unset and the user is itself', () => {
    const config = parse(`pools:
  app:
    users:
      - { username: plain, password: pw }
      - { username: scram, password: "${SCRAM}" }
      - { username: md5, password: ${MD5} }
      - { username: scram_as_self, password: "${SCRAM}", server_username: scram_as_self }
      - { username: mapped, password: "${SCRAM}", server_username: pg_mapped, server_password: real }
      - { username: trusted, password: "${MD5}", server_username: pg_trusted }
      - { username: empty, password: "${SCRAM}", server_password: "" }
`);
    expect(config.pools.app.users.map((u) => [u.username, u.server_auth])).toEqual([
      ['plain', 'password'],
      ['scram', 'scram-passthrough'],
      ['md5', 'md5-passthrough'],
      ['scram_as_self', 'scram-passthrough'],
      ['mapped', 'password'],
      // A hash is the user's own: it cannot log in as another role, so only a trusting PostgreSQL lets it in.
      ['trusted', 'none'],
      ['empty', 'password'],
    ]);
    const warnings = configWarnings(config);
    expect(warnings).toEqual([
      `${FILE}: pools.app.users[5].server_password: not set, and the password cannot log in as server_username "pg_trusted" (passthrough works only as the user itself): gatehouse logs in to PostgreSQL without a password, which works only where PostgreSQL trusts it`,
    ]);
  });
});

describe('durations in the file', () => {
  test('reads milliseconds and strings with units', () => {
    const config = parse(`general:
  connect_timeout: 250ms
  query_wait_timeout: 1.5s
  idle_timeout: 5m
  server_lifetime: 1h
  shutdown_timeout: 2500
  client_login_timeout: "1d"
${ONE_POOL}`);
    expect(config.general).toMatchObject({
      connect_timeout: 250,
      query_wait_timeout: 1_500,
      idle_timeout: 300_000,
      server_lifetime: 3_600_000,
      shutdown_timeout: 2_500,
      client_login_timeout: 86_400_000,
    });
  });
});

describe('web section', () => {
  test('accepts PgDoorman\'s old section name prometheus for web', () => {
    const config = parse(`prometheus:\n  enabled: true\n  port: 9999\n${ONE_POOL}`);
    expect(config.web).toEqual({ enabled: true, host: '0.0.0.0', port: 9999, inspect: false, viewer: false });
  });

  test('reads web', () => {
    expect(parse(`web:\n  enabled: true\n  host: 127.0.0.1\n${ONE_POOL}`).web).toEqual({ enabled: true, host: '127.0.0.1', port: 9127, inspect: false, viewer: false });
  });
});

describe('file paths', () => {
  test('resolves relative paths against the configuration file\'s directory and keeps absolute ones', () => {
    const config = parseConfig(
      `general:\n  tls_certificate: tls/server.crt\n  tls_private_key: /keys/server.key\n  server_tls_ca_cert: ../ca.pem\n${ONE_POOL}`,
      '/srv/gh/conf/gh.yaml',
      { checkFiles: false },
    );
    expect(config.general.tls_certificate).toBe('/srv/gh/conf/tls/server.crt');
    expect(config.general.tls_private_key).toBe('/keys/server.key');
    expect(config.general.server_tls_ca_cert).toBe('/srv/gh/ca.pem');
    expect(config.pools.app.server_tls.ca_cert).toBe('/srv/gh/ca.pem');
  });

  test('resolves against baseDir when one is given', () => {
    const config = parseConfig(`general:\n  server_tls_ca_cert: ca.pem\n${ONE_POOL}`, 'inline', { baseDir: '/opt/base', checkFiles: false });
    expect(config.general.server_tls_ca_cert).toBe('/opt/base/ca.pem');
  });
});

describe('per-pool server TLS', () => {
  test('overrides general settings field by field', () => {
    const config = parse(`general:
  server_tls_mode: require
  server_tls_ca_cert: /tls/ca.pem
  server_tls_certificate: /tls/client.crt
  server_tls_private_key: /tls/client.key
pools:
  inherits:
    users: [{ username: a, password: x }]
  strict:
    server_tls_mode: Verify-Full
    server_tls_ca_cert: strict-ca.pem
    users: [{ username: a, password: x }]
  own_identity:
    server_tls_certificate: /tls/other.crt
    server_tls_private_key: /tls/other.key
    users: [{ username: a, password: x }]
`);
    const inherited = { negotiation: 'postgres' };
    expect(config.pools.inherits.server_tls).toEqual({ mode: 'require', ca_cert: '/tls/ca.pem', certificate: '/tls/client.crt', private_key: '/tls/client.key', ...inherited });
    expect(config.pools.strict.server_tls).toEqual({ mode: 'verify-full', ca_cert: '/etc/gatehouse/strict-ca.pem', certificate: '/tls/client.crt', private_key: '/tls/client.key', ...inherited });
    expect(config.pools.own_identity.server_tls).toEqual({ mode: 'require', ca_cert: '/tls/ca.pem', certificate: '/tls/other.crt', private_key: '/tls/other.key', ...inherited });
  });
});

describe('PgDoorman compatibility', () => {
  test('loads PgDoorman-only settings, lists them as ignored and warns about them', () => {
    const config = parse(`general:
  admin_username: admin
  admin_password: admin
  worker_cpu_affinity_pinning: true
  tls_mode: disable
  tls_certificate: s.crt
  tls_private_key: s.key
web:
  ui: true
talos:
  keys: []
pools:
  app:
    min_connection_lifetime: 10000
    users:
      - { username: a, password: x, server_lifetime: 2000 }
`);
    expect(config.ignoredKeys).toEqual([
      'talos',
      'general.worker_cpu_affinity_pinning',
      'web.ui',
      'pools.app.min_connection_lifetime',
      'pools.app.users[0].server_lifetime',
    ]);
    const warnings = configWarnings(config);
    expect(warnings).toContain(`${FILE}: general.worker_cpu_affinity_pinning: PgDoorman setting accepted but ignored by gatehouse: gatehouse runs general.worker_threads Node.js processes, each one event loop: there are no Tokio threads to size, pin or tune`);
    expect(warnings).toContain(`${FILE}: general.tls_certificate: ignored because general.tls_mode is disable`);
    expect(warnings.join('\n')).not.toContain('admin_password: admin');
  });

  test('admin_username and admin_password turn the admin console on; a pool cannot take its database name', () => {
    const config = parse(`general:\n  admin_username: ops\n  admin_password: s3cret\n${ONE_POOL}`);
    expect([config.general.admin_username, config.general.admin_password]).toEqual(['ops', 's3cret']);
    expect(() => parse(`general:\n  admin_password: s3cret\npools:\n  pgbouncer:\n    users: [{ username: a, password: x }]\n`)).toThrow(
      "pools.pgbouncer: this name is the admin console's database (general.admin_password is set): rename the pool",
    );
  });

  test('suggests a PgDoorman key for a near miss', () => {
    expect(() => parse(`general:\n  worker_thread: 4\n${ONE_POOL}`)).toThrow('general.worker_thread: unknown key (did you mean worker_threads?)');
  });
});

describe('a full example', () => {
  let dir: TempDir;
  beforeAll(() => {
    const server = makeCertAndKey('gatehouse.test');
    const clientCa = makeCertAndKey('client-ca');
    const pgCa = makeCertAndKey('pg-ca');
    const pgClient = makeCertAndKey('gatehouse-client', 'rsa-traditional');
    dir = tempDir();
    dir.write('tls/server.crt', server.certPem);
    dir.write('tls/server.key', server.keyPem);
    dir.write('tls/client_ca.pem', clientCa.certPem);
    dir.write('tls/pg_ca_bundle.pem', pgCa.certPem + clientCa.certPem);
    dir.write('tls/pg_client.crt', pgClient.certPem);
    dir.write('tls/pg_client.key', pgClient.keyPem);
    dir.write('journal/.keep', '');
    dir.write(
      'gatehouse.yaml',
      `# gatehouse configuration
general:
  host: 127.0.0.1
  port: 6433
  tls_mode: verify-full
  tls_certificate: tls/server.crt
  tls_private_key: tls/server.key
  tls_ca_cert: tls/client_ca.pem
  tls_rate_limit_per_second: 100
  tls_min_version: TLSv1.3
  tls_max_version: TLSv1.3
  tls13_ciphersuites: TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
  tls_client_cert_identity: cn
  server_tls_mode: prefer
  connect_timeout: 2s
  idle_timeout: 10m
  max_connections: 500
  log_level: debug
  journal_size: 50
  journal_file: journal/gatehouse.jsonl
web:
  enabled: true
  port: 9200
  inspect: true
  viewer: true
pools:
  app:
    server_host: db.internal
    server_port: 5433
    server_database: app_production
    pool_mode: session
    server_tls_mode: verify-full
    server_tls_ca_cert: tls/pg_ca_bundle.pem
    server_tls_certificate: tls/pg_client.crt
    server_tls_private_key: tls/pg_client.key
    server_tls_negotiation: direct
    users:
      - username: app
        password: "${SCRAM}"
        pool_size: 20
        server_password: app-db-password
      - username: reporter
        password: ${MD5}
  analytics:
    users:
      - username: analyst
        password: analyst-password
        server_username: pg_analyst
`,
    );
  });
  afterAll(() => dir.remove());

  test('loads with every value in place and every file checked', () => {
    const config = loadConfig(dir.path('gatehouse.yaml'));
    expect(config.file).toBe(dir.path('gatehouse.yaml'));
    expect(config.general).toMatchObject({
      host: '127.0.0.1',
      port: 6433,
      tls_mode: 'verify-full',
      tls_certificate: dir.path('tls/server.crt'),
      tls_private_key: dir.path('tls/server.key'),
      tls_ca_cert: dir.path('tls/client_ca.pem'),
      tls_rate_limit_per_second: 100,
      tls_min_version: 'TLSv1.3',
      tls_max_version: 'TLSv1.3',
      tls_ciphers: null,
      tls13_ciphersuites: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
      tls_client_cert_identity: 'cn',
      server_tls_mode: 'prefer',
      server_tls_negotiation: 'postgres',
      connect_timeout: 2_000,
      idle_timeout: 600_000,
      max_connections: 500,
      log_level: 'debug',
      journal_size: 50,
      journal_file: dir.path('journal/gatehouse.jsonl'),
    });
    expect(config.web).toEqual({ enabled: true, host: '0.0.0.0', port: 9200, inspect: true, viewer: true });
    expect(Object.keys(config.pools)).toEqual(['app', 'analytics']);
    expect(config.pools.app).toMatchObject({
      server_host: 'db.internal',
      server_port: 5433,
      server_database: 'app_production',
      pool_mode: 'session',
      server_tls: {
        mode: 'verify-full',
        ca_cert: dir.path('tls/pg_ca_bundle.pem'),
        certificate: dir.path('tls/pg_client.crt'),
        private_key: dir.path('tls/pg_client.key'),
        negotiation: 'direct',
      },
    });
    expect(config.pools.app.users).toEqual([
      { username: 'app', password: SCRAM, pool_size: 20, min_pool_size: 0, idle_transaction_timeout: 0, server_username: 'app', server_password: 'app-db-password', server_auth: 'password' },
      { username: 'reporter', password: MD5, pool_size: 40, min_pool_size: 0, idle_transaction_timeout: 0, server_username: 'reporter', server_password: null, server_auth: 'md5-passthrough' },
    ]);
    expect(config.pools.analytics.users[0]).toEqual({
      username: 'analyst',
      password: 'analyst-password',
      pool_size: 40,
      min_pool_size: 0,
      idle_transaction_timeout: 0,
      server_username: 'pg_analyst',
      server_password: 'analyst-password',
      server_auth: 'password',
    });
    expect(config.pools.analytics.server_tls).toEqual({ mode: 'prefer', ca_cert: null, certificate: null, private_key: null, negotiation: 'postgres' });
    expect(config.ignoredKeys).toEqual([]);
    expect(configWarnings(config)).toEqual([]);
  });
});

describe('loadConfig', () => {
  test('names the file when it cannot be read', () => {
    expect(() => loadConfig('/nonexistent/gatehouse.yaml')).toThrow('/nonexistent/gatehouse.yaml: cannot read the configuration file: no such file');
  });
});

describe('worker_threads', () => {
  test('defaults to the number of CPUs, and a wrong value names the key', () => {
    expect(parse(ONE_POOL).general.worker_threads).toBe(availableParallelism());
    expect(parse(`general:\n  worker_threads: 3\n${ONE_POOL}`).general.worker_threads).toBe(3);
    expect(() => parse(`general:\n  worker_threads: 0\n${ONE_POOL}`)).toThrow('general.worker_threads');
    expect(() => parse(`general:\n  worker_threads: 256\n${ONE_POOL}`)).toThrow('general.worker_threads: expected an integer 1..255');
  });
});
