import { z } from 'zod';
import {
  booleanField,
  durationField,
  enumField,
  expected,
  fileModeField,
  foldedEnumField,
  mapOf,
  nonNegativeIntField,
  portField,
  positiveIntField,
  stringField,
} from './fields.js';
import { scramSecretProblem } from './password.js';
import { tls13CiphersuitesField, tlsCiphersField } from './tls-ciphers.js';
import {
  CLIENT_CERT_IDENTITIES,
  CLIENT_TLS_MODES,
  LOG_LEVELS,
  POOL_MODES,
  SERVER_TLS_MODES,
  SERVER_TLS_NEGOTIATIONS,
  TLS_VERSIONS,
} from './types.js';

// Shapes of the YAML sections after null values and accepted-but-ignored PgDoorman keys are removed.
// Defaults that depend on other values (server_database, server_username, …) are filled in by resolve.ts.

const serverTlsOverrides = {
  server_tls_mode: foldedEnumField(SERVER_TLS_MODES).optional(),
  server_tls_ca_cert: stringField().optional(),
  server_tls_certificate: stringField().optional(),
  server_tls_private_key: stringField().optional(),
  server_tls_negotiation: enumField(SERVER_TLS_NEGOTIATIONS).optional(),
};

const password = stringField({ secret: true }).superRefine((value, ctx) => {
  const problem = scramSecretProblem(value);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

/** PgBouncer documents peer ids 1..16383 (its cancel keys hold 16 bits, the top ones kept clear). */
export const MAX_PEER_ID = 16383;
const peerIdError = expected(`an integer 0..${MAX_PEER_ID}`);

export const generalShape = {
  host: stringField().default('0.0.0.0'),
  port: portField().default(6432),
  tls_mode: enumField(CLIENT_TLS_MODES).default('allow'),
  tls_certificate: stringField().optional(),
  tls_private_key: stringField().optional(),
  tls_ca_cert: stringField().optional(),
  tls_rate_limit_per_second: nonNegativeIntField().default(0),
  // min above max, and 'cn' without verify-full, are checked in rules.ts.
  tls_min_version: enumField(TLS_VERSIONS).default('TLSv1.2'),
  tls_max_version: enumField(TLS_VERSIONS).default('TLSv1.3'),
  tls_ciphers: tlsCiphersField().optional(),
  tls13_ciphersuites: tls13CiphersuitesField().optional(),
  tls_client_cert_identity: enumField(CLIENT_CERT_IDENTITIES).default('none'),
  ...serverTlsOverrides,
  server_tls_mode: foldedEnumField(SERVER_TLS_MODES).default('allow'),
  server_tls_negotiation: enumField(SERVER_TLS_NEGOTIATIONS).default('postgres'),
  connect_timeout: durationField().default(3_000),
  // Transaction pooling's prepared-statement remapping (docs/pooling.md); per-pool overrides below.
  prepared_statements: booleanField().default(true),
  prepared_statements_cache_size: positiveIntField().default(8192),
  server_prepared_statements_cache_size: positiveIntField().optional(),
  query_wait_timeout: durationField().default(5_000),
  idle_timeout: durationField().default(600_000),
  server_lifetime: durationField().default(1_200_000),
  // PgBouncer's: a client idle inside a transaction this long is disconnected (0: never); pools and users override it.
  idle_transaction_timeout: durationField().default(0),
  shutdown_timeout: durationField().default(10_000),
  client_login_timeout: durationField().default(60_000),
  max_connections: positiveIntField().default(8192),
  // PgDoorman's key; gatehouse runs that many worker processes (default: the CPUs). The cancel key has one byte for it.
  worker_threads: positiveIntField().max(255, { error: expected('an integer 1..255') }).optional(),
  // PgBouncer's peering: this instance's id in the cancel keys it issues (0: peering off); peers are in `peers`.
  peer_id: z.int({ error: peerIdError }).min(0, { error: peerIdError }).max(MAX_PEER_ID, { error: peerIdError }).default(0),
  log_level: enumField(LOG_LEVELS).default('info'),
  // The admin console (database pgdoorman or pgbouncer): on only when admin_password is set.
  admin_username: stringField().default('admin'),
  admin_password: password.optional(),
  journal_size: nonNegativeIntField().default(1000),
  // Its directory is checked in journal-file.ts (with the TLS files, unless checkFiles is false).
  journal_file: stringField().optional(),
  // The directory is checked in unix-socket.ts (with the files, unless checkFiles is false).
  unix_socket_dir: stringField().optional(),
  unix_socket_mode: fileModeField().default(0o600),
  // Read, parsed and checked in hba-config.ts (every problem names the file and line).
  pg_hba: z.unknown().optional(),
  hba: z.unknown().optional(),
};

export const webShape = {
  enabled: booleanField().default(false),
  host: stringField().default('0.0.0.0'),
  port: portField().default(9127),
  inspect: booleanField().default(false),
  viewer: booleanField().default(false),
};

export const userShape = {
  username: stringField(),
  password,
  pool_size: positiveIntField().default(40),
  // At most pool_size, and the pool's users' together at most max_db_connections: rules in limit-rules.ts.
  min_pool_size: nonNegativeIntField().default(0),
  idle_transaction_timeout: durationField().optional(),
  server_username: stringField().optional(),
  // May be empty: a backend that trusts the pooler needs no password.
  server_password: z.string({ error: expected('a string', { secret: true }) }).optional(),
};

const userSchema = mapOf(userShape, 'a map of user settings');

/** PgDoorman's auth_query: users looked up in PostgreSQL instead of listed (`server_password` needs `server_user`: rules.ts). */
export const authQueryShape = {
  query: stringField(),
  user: stringField(),
  password: z.string({ error: expected('a string', { secret: true }) }).default(''),
  database: stringField().optional(),
  workers: positiveIntField().default(2),
  server_user: stringField().optional(),
  server_password: z.string({ error: expected('a string', { secret: true }) }).optional(),
  pool_size: positiveIntField().default(40),
  min_pool_size: nonNegativeIntField().default(0),
  cache_ttl: durationField().default(3_600_000),
  cache_failure_ttl: durationField().default(30_000),
  min_interval: durationField().default(1_000),
};

export const poolShape = {
  server_host: stringField().default('127.0.0.1'),
  server_port: portField().default(5432),
  server_database: stringField().optional(),
  pool_mode: enumField(POOL_MODES).default('transaction'),
  // "at least one user" and duplicate names are checked in rules.ts, so that they are reported with other problems.
  users: z.array(userSchema, { error: expected('a list of users') }).optional(),
  auth_query: mapOf(authQueryShape, 'a map of auth_query settings').optional(),
  prepared_statements_cache_size: positiveIntField().optional(),
  server_prepared_statements_cache_size: positiveIntField().optional(),
  cleanup_server_connections: booleanField().default(true),
  max_db_connections: nonNegativeIntField().default(0),
  reserve_pool_size: nonNegativeIntField().default(0),
  reserve_pool_timeout: durationField().default(3_000),
  idle_transaction_timeout: durationField().optional(),
  ...serverTlsOverrides,
};

const poolSchema = mapOf(poolShape, 'a map of pool settings');

/** PgBouncer's [peers] lines as YAML: the ids (1..16383), the host's form and the own id are checked in peer-rules.ts. */
export const peerShape = {
  host: stringField(),
  port: portField().default(6432),
  // PgBouncer's: forwarded cancels in flight to this peer at once; more wait (peer-cancel.ts).
  pool_size: positiveIntField().default(20),
};
const webSchema = mapOf(webShape);

export const rootShape = {
  general: mapOf(generalShape).prefault({}),
  web: webSchema.optional(),
  // PgDoorman's older name for `web`; rules.ts refuses both at once.
  prometheus: webSchema.optional(),
  pools: z.record(z.string(), poolSchema, { error: expected('a map of pool names to pool settings') }).optional(),
  peers: z.record(z.string(), mapOf(peerShape, 'a map with host, port and pool_size'), { error: expected('a map of peer ids to { host, port, pool_size }') }).optional(),
};

export const rootSchema = mapOf(rootShape, 'a map with general and pools sections');

export type RawConfig = z.output<typeof rootSchema>;
export type RawGeneral = RawConfig['general'];
export type RawPool = NonNullable<RawConfig['pools']>[string];
export type RawUser = NonNullable<RawPool['users']>[number];
export type RawPeer = NonNullable<RawConfig['peers']>[string];
export type RawAuthQuery = NonNullable<RawPool['auth_query']>;
