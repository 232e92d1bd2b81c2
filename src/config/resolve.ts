import { availableParallelism } from 'node:os';
import type { HbaRuleSet } from './hba.js';
import { passwordKind, type PasswordKind } from './password.js';
import type { RawConfig, RawGeneral, RawPool, RawUser } from './schema.js';
import { resolveConfigPath } from './tls-files.js';
import type { Config, GeneralConfig, PoolConfig, PreparedStatementsSettings, ServerAuth, ServerTlsSettings, UserConfig, WebConfig } from './types.js';

const DEFAULT_WEB: WebConfig = { enabled: false, host: '0.0.0.0', port: 9127, inspect: false, viewer: false };

interface ResolveContext {
  file: string;
  baseDir: string;
  ignoredKeys: string[];
  /** general.pg_hba or general.hba, already read and parsed (hba-config.ts). */
  hba: HbaRuleSet | null;
}

function resolveGeneral(raw: RawGeneral, baseDir: string, hba: HbaRuleSet | null): GeneralConfig {
  const path = (value: string | undefined) => (value === undefined ? null : resolveConfigPath(baseDir, value));
  return {
    host: raw.host,
    port: raw.port,
    tls_mode: raw.tls_mode,
    tls_certificate: path(raw.tls_certificate),
    tls_private_key: path(raw.tls_private_key),
    tls_ca_cert: path(raw.tls_ca_cert),
    tls_rate_limit_per_second: raw.tls_rate_limit_per_second,
    tls_min_version: raw.tls_min_version,
    tls_max_version: raw.tls_max_version,
    tls_ciphers: raw.tls_ciphers ?? null,
    tls13_ciphersuites: raw.tls13_ciphersuites ?? null,
    tls_client_cert_identity: raw.tls_client_cert_identity,
    server_tls_mode: raw.server_tls_mode,
    server_tls_ca_cert: path(raw.server_tls_ca_cert),
    server_tls_certificate: path(raw.server_tls_certificate),
    server_tls_private_key: path(raw.server_tls_private_key),
    server_tls_negotiation: raw.server_tls_negotiation,
    connect_timeout: raw.connect_timeout,
    prepared_statements: raw.prepared_statements,
    prepared_statements_cache_size: raw.prepared_statements_cache_size,
    server_prepared_statements_cache_size: raw.server_prepared_statements_cache_size ?? null,
    query_wait_timeout: raw.query_wait_timeout,
    idle_timeout: raw.idle_timeout,
    server_lifetime: raw.server_lifetime,
    idle_transaction_timeout: raw.idle_transaction_timeout,
    shutdown_timeout: raw.shutdown_timeout,
    client_login_timeout: raw.client_login_timeout,
    max_connections: raw.max_connections,
    worker_threads: raw.worker_threads ?? Math.min(255, availableParallelism()),
    peer_id: raw.peer_id,
    log_level: raw.log_level,
    admin_username: raw.admin_username,
    admin_password: raw.admin_password ?? null,
    journal_size: raw.journal_size,
    journal_file: path(raw.journal_file),
    pg_hba: hba,
    unix_socket_dir: path(raw.unix_socket_dir),
    unix_socket_mode: raw.unix_socket_mode,
  };
}

function resolveUser(raw: RawUser, idleTransactionTimeout: number): UserConfig {
  const kind = passwordKind(raw.password);
  const server_username = raw.server_username ?? raw.username;
  // A hash cannot log in to PostgreSQL by itself, so only a plaintext password doubles as the server password.
  const server_password = raw.server_password ?? (kind === 'plain' ? raw.password : null);
  return {
    username: raw.username,
    password: raw.password,
    pool_size: raw.pool_size,
    min_pool_size: raw.min_pool_size,
    idle_transaction_timeout: raw.idle_transaction_timeout ?? idleTransactionTimeout,
    server_username,
    server_password,
    server_auth: serverAuth(kind, server_password, server_username === raw.username),
  };
}

/**
 * PgDoorman's rule: passthrough applies when there is no server_password and gatehouse logs in as the user itself
 * (an md5 hash is salted with the user name, and a SCRAM secret belongs to one role).
 */
function serverAuth(kind: PasswordKind, serverPassword: string | null, sameUser: boolean): ServerAuth {
  if (serverPassword !== null) return 'password';
  if (!sameUser) return 'none';
  return kind === 'md5' ? 'md5-passthrough' : kind === 'scram-sha-256' ? 'scram-passthrough' : 'none';
}

function resolvePool(name: string, raw: RawPool, general: GeneralConfig, baseDir: string): PoolConfig {
  const path = (value: string | undefined, inherited: string | null) =>
    value === undefined ? inherited : resolveConfigPath(baseDir, value);
  const server_tls: ServerTlsSettings = {
    mode: raw.server_tls_mode ?? general.server_tls_mode,
    ca_cert: path(raw.server_tls_ca_cert, general.server_tls_ca_cert),
    certificate: path(raw.server_tls_certificate, general.server_tls_certificate),
    private_key: path(raw.server_tls_private_key, general.server_tls_private_key),
    negotiation: raw.server_tls_negotiation ?? general.server_tls_negotiation,
  };
  const server_database = raw.server_database ?? name;
  const aq = raw.auth_query;
  const idle_transaction_timeout = raw.idle_transaction_timeout ?? general.idle_transaction_timeout;
  return {
    name,
    server_host: raw.server_host,
    server_port: raw.server_port,
    server_database,
    pool_mode: raw.pool_mode,
    users: (raw.users ?? []).map((user) => resolveUser(user, idle_transaction_timeout)),
    auth_query: aq
      ? {
          query: aq.query,
          user: aq.user,
          password: aq.password,
          database: aq.database ?? server_database,
          workers: aq.workers,
          server_user: aq.server_user ?? null,
          server_password: aq.server_password ?? null,
          pool_size: aq.pool_size,
          min_pool_size: aq.min_pool_size,
          cache_ttl: aq.cache_ttl,
          cache_failure_ttl: aq.cache_failure_ttl,
          min_interval: aq.min_interval,
        }
      : null,
    server_tls,
    prepared_statements: preparedStatements(raw, general),
    cleanup_server_connections: raw.cleanup_server_connections,
    max_db_connections: raw.max_db_connections,
    reserve_pool_size: raw.reserve_pool_size,
    reserve_pool_timeout: raw.reserve_pool_timeout,
    idle_transaction_timeout,
  };
}

/** PgDoorman's cascade: the pool's sizes win over general's; the server cache inherits the pool cache's size. */
function preparedStatements(raw: RawPool, general: GeneralConfig): PreparedStatementsSettings {
  const cacheSize = raw.prepared_statements_cache_size ?? general.prepared_statements_cache_size;
  return {
    enabled: general.prepared_statements,
    cache_size: cacheSize,
    server_cache_size: raw.server_prepared_statements_cache_size ?? general.server_prepared_statements_cache_size ?? cacheSize,
  };
}

/** Builds the Config from a document that passed validation: defaults, absolute paths, effective per-pool TLS. */
export function resolveConfig(raw: RawConfig, ctx: ResolveContext): Config {
  const general = resolveGeneral(raw.general, ctx.baseDir, ctx.hba);
  const pools: Record<string, PoolConfig> = {};
  for (const [name, pool] of Object.entries(raw.pools ?? {})) pools[name] = resolvePool(name, pool, general, ctx.baseDir);
  const web = raw.web ?? raw.prometheus ?? DEFAULT_WEB;
  return {
    file: ctx.file,
    baseDir: ctx.baseDir,
    general,
    web: { enabled: web.enabled, host: web.host, port: web.port, inspect: web.inspect, viewer: web.viewer },
    pools,
    peers: Object.entries(raw.peers ?? {})
      .map(([id, peer]) => ({ peer_id: Number(id), host: peer.host, port: peer.port, pool_size: peer.pool_size }))
      .sort((a, b) => a.peer_id - b.peer_id),
    ignoredKeys: ctx.ignoredKeys,
  };
}
