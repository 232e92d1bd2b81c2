import type { ServerTlsMode, ServerTlsNegotiation } from '../../machines/server-tls-policy.js';
import type { HbaRuleSet } from './hba.js';

// What each server_tls_mode means (and so which modes exist) is defined once, next to the machines that act on it.
export { SERVER_TLS_MODES, SERVER_TLS_NEGOTIATIONS, type ServerTlsMode, type ServerTlsNegotiation } from '../../machines/server-tls-policy.js';
export const CLIENT_TLS_MODES = ['disable', 'allow', 'require', 'verify-full'] as const;
export const POOL_MODES = ['session', 'transaction'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** Ordered lowest first, so that an index comparison tells which version is higher. */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export const TLS13_CIPHERSUITE_NAMES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_CCM_SHA256',
  'TLS_AES_128_CCM_8_SHA256',
] as const;
/** Databases that reach the admin console instead of a pool (PgDoorman's and PgBouncer's names). */
export const ADMIN_DATABASES: readonly string[] = ['pgdoorman', 'pgbouncer'];
export const CLIENT_CERT_IDENTITIES = ['none', 'cn'] as const;

export type ClientTlsMode = (typeof CLIENT_TLS_MODES)[number];
export type PoolMode = (typeof POOL_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type TlsVersion = (typeof TLS_VERSIONS)[number];
export type Tls13CiphersuiteName = (typeof TLS13_CIPHERSUITE_NAMES)[number];
export type ClientCertIdentity = (typeof CLIENT_CERT_IDENTITIES)[number];

/** TLS towards PostgreSQL as one pool uses it (pool settings override general ones field by field). */
export interface ServerTlsSettings {
  mode: ServerTlsMode;
  ca_cert: string | null;
  certificate: string | null;
  private_key: string | null;
  /**
   * 'postgres': plaintext SSLRequest first, TLS after PostgreSQL answers 'S' (every PostgreSQL version).
   * 'direct': TLS handshake straight away with ALPN "postgresql" (PostgreSQL 17+ `sslnegotiation=direct`); only
   * with mode require, verify-ca or verify-full.
   */
  negotiation: ServerTlsNegotiation;
}

/** `general` section. Durations are milliseconds; file paths are absolute. */
export interface GeneralConfig {
  host: string;
  port: number;
  /** 'allow' by default: TLS is offered only when a certificate is configured. */
  tls_mode: ClientTlsMode;
  tls_certificate: string | null;
  tls_private_key: string | null;
  tls_ca_cert: string | null;
  /** TLS handshakes accepted per second; 0 = no limit. */
  tls_rate_limit_per_second: number;
  /** Lowest TLS version negotiated; 'TLSv1.2' by default. Never above tls_max_version. */
  tls_min_version: TlsVersion;
  /** Highest TLS version negotiated; 'TLSv1.3' by default. */
  tls_max_version: TlsVersion;
  /**
   * OpenSSL cipher list for TLS 1.2 (for example "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
   * checked to select at least one cipher. null = gatehouse's default, the Mozilla "intermediate" list.
   */
  tls_ciphers: string | null;
  /**
   * Colon-separated TLS 1.3 suites, each one of TLS13_CIPHERSUITE_NAMES. null = OpenSSL's default three
   * (TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256).
   */
  tls13_ciphersuites: string | null;
  /**
   * What a client certificate must prove beyond chaining to tls_ca_cert. 'none' (default): nothing more.
   * 'cn': its Common Name must equal the user name the client logs in as; needs tls_mode verify-full.
   */
  tls_client_cert_identity: ClientCertIdentity;
  server_tls_mode: ServerTlsMode;
  server_tls_ca_cert: string | null;
  server_tls_certificate: string | null;
  server_tls_private_key: string | null;
  /** How TLS towards PostgreSQL starts, 'postgres' by default; see ServerTlsSettings.negotiation. */
  server_tls_negotiation: ServerTlsNegotiation;
  connect_timeout: number;
  /** Remap clients' named prepared statements in transaction pooling (default true; docs/pooling.md). */
  prepared_statements: boolean;
  /** Shared statements each pool remembers, keyed by query text, parameter types and search_path (default 8192). */
  prepared_statements_cache_size: number;
  /** Statements each server connection keeps prepared (LRU, Close for what it evicts); null: the pool cache's size. */
  server_prepared_statements_cache_size: number | null;
  query_wait_timeout: number;
  idle_timeout: number;
  server_lifetime: number;
  /**
   * A client that sends nothing this long while its session is inside a transaction (ReadyForQuery T or E) is
   * disconnected with FATAL 25P03 and its server closed (PgBouncer's idle_transaction_timeout; ms, 0: never).
   */
  idle_transaction_timeout: number;
  shutdown_timeout: number;
  client_login_timeout: number;
  max_connections: number;
  /**
   * Worker processes sharing the listeners (PgDoorman's key; default: the number of CPUs, at most 255).
   * pool_size, max_db_connections and max_connections hold for all of them together (docs/scaling.md).
   */
  worker_threads: number;
  /**
   * PgBouncer's peer_id: this instance's id among the gatehouse instances behind one load balancer (1..16383), written
   * into every cancel key it issues so that a CancelRequest reaching another instance is forwarded here; 0 (default):
   * peering is off. Restart only: keys already issued name the id they were issued with.
   */
  peer_id: number;
  log_level: LogLevel;
  /** Who may log in to the admin console (databases pgdoorman and pgbouncer); 'admin' by default. */
  admin_username: string;
  /**
   * The admin's password: plaintext, `md5<32 hex>` or a SCRAM secret. null (default): there is no admin console,
   * and pgdoorman/pgbouncer are unknown databases like any other.
   */
  admin_password: string | null;
  /** How many ended connections keep their event journal in memory (oldest dropped first); 0 keeps none. */
  journal_size: number;
  /**
   * Absolute path of a file that every journal event is appended to as JSON lines, or null (default) for none.
   * Its directory must exist and be writable.
   */
  journal_file: string | null;
  /**
   * Client access rules, first match wins: from `general.pg_hba` (pg_hba.conf text inline, `{ path }` or
   * `{ content }`) or from PgDoorman's legacy `general.hba` list of CIDRs (source `general.hba`). null: none
   * configured, every client may try its password.
   */
  pg_hba: HbaRuleSet | null;
  /**
   * Directory of the Unix-domain socket `.s.PGSQL.<port>` gatehouse also listens on (absolute), or null for none.
   * `psql -h <dir>` connects there; pg_hba `local` rules apply to it, and TLS is never offered on it.
   */
  unix_socket_dir: string | null;
  /** Permission bits of the socket file (default 0o600: only gatehouse's own OS user may connect). */
  unix_socket_mode: number;
}

/** `web` section (PgDoorman's older name `prometheus` is accepted as an alias). */
export interface WebConfig {
  enabled: boolean;
  host: string;
  port: number;
  /** Stream state-machine events to the Stately inspector relay (false by default). */
  inspect: boolean;
  /** Serve the self-hosted state-machine viewer on the web listener (false by default). */
  viewer: boolean;
}

export interface UserConfig {
  username: string;
  /** Plaintext, `md5<32 hex>` or `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. */
  password: string;
  pool_size: number;
  /** Server connections kept open even when unused (opened within a second of start, or of the first login for SCRAM passthrough). */
  min_pool_size: number;
  /** Effective idle_transaction_timeout for this user's clients (ms, 0: never): the user's, else the pool's, else general's. */
  idle_transaction_timeout: number;
  /** Defaults to `username`. */
  server_username: string;
  /** Defaults to `password` when that is plaintext, otherwise null. */
  server_password: string | null;
  /**
   * How gatehouse logs in to PostgreSQL as server_username, derived from the keys above:
   * 'password': with server_password (a plaintext `password` doubles as it);
   * 'md5-passthrough' / 'scram-passthrough': no server_password, server_username is the user itself and `password`
   * is an md5 hash or SCRAM secret, so gatehouse answers PostgreSQL from the hash (md5) or with the ClientKey its
   * clients' SCRAM proofs reveal (PgDoorman's passthrough authentication);
   * 'none': no password at all (server_username differs and no server_password): PostgreSQL must trust gatehouse.
   */
  server_auth: ServerAuth;
}

export type ServerAuth = 'password' | 'md5-passthrough' | 'scram-passthrough' | 'none';

/**
 * `pools.<name>.auth_query`: users that are not listed are looked up in PostgreSQL with `query` ($1 = the user name),
 * run as `user`/`password` on `database`. Without server_user (passthrough mode) each user gets its own backend pool,
 * logged in as that user by passthrough from the hash the query returned; with server_user (dedicated mode) they
 * share one backend pool logged in as server_user with server_password.
 */
export interface AuthQueryConfig {
  query: string;
  user: string;
  password: string;
  /** Defaults to the pool's server_database. */
  database: string;
  /** Executor connections running lookups at once. */
  workers: number;
  server_user: string | null;
  server_password: string | null;
  /** Server connections of each looked-up user's pool (passthrough) or of the shared pool (dedicated). */
  pool_size: number;
  /** Connections each of those pools keeps open (a looked-up user's from its first login on). */
  min_pool_size: number;
  /** How long a found user is remembered (ms); 0: every login looks up again. */
  cache_ttl: number;
  /** How long a user the query did not find is remembered (ms). */
  cache_failure_ttl: number;
  /** After a failed login, the remembered password is looked up again at most this often (ms). */
  min_interval: number;
}

export interface PoolConfig {
  name: string;
  server_host: string;
  server_port: number;
  /** Defaults to the pool name. */
  server_database: string;
  pool_mode: PoolMode;
  users: UserConfig[];
  auth_query: AuthQueryConfig | null;
  /** Effective server-side TLS for this pool. */
  server_tls: ServerTlsSettings;
  /** Effective prepared-statement remapping for this pool (transaction pooling only). */
  prepared_statements: PreparedStatementsSettings;
  /**
   * Transaction pooling: session state a client changed (SET, RESET, SET ROLE, …) is captured when its transaction
   * ends, follows the client to its next server and is undone before another client gets the server (default true).
   */
  cleanup_server_connections: boolean;
  /** Server connections of all this pool's users together (listed, looked up, dedicated); 0: no cap. */
  max_db_connections: number;
  /** Extra connections for clients that waited reserve_pool_timeout (beyond pool_size or max_db_connections); 0: none. */
  reserve_pool_size: number;
  /** ms; 0 disables the reserve. */
  reserve_pool_timeout: number;
  /** Effective idle_transaction_timeout of the pool (its own, else general's); users may override it. */
  idle_transaction_timeout: number;
}

export interface PreparedStatementsSettings {
  enabled: boolean;
  /** The pool's shared statements (prepared_statements_cache_size). */
  cache_size: number;
  /** Per server connection (server_prepared_statements_cache_size). */
  server_cache_size: number;
}

/** A `peers` entry: another gatehouse instance, and how cancels for its sessions reach it. */
export interface PeerConfig {
  /** Its general.peer_id (the key of the entry). */
  peer_id: number;
  /** A host name or IP address, or an absolute directory holding its Unix socket `.s.PGSQL.<port>`. */
  host: string;
  port: number;
  /** Forwarded cancels in flight to it at once (PgBouncer's pool_size); more wait for a free slot. */
  pool_size: number;
}

export interface Config {
  /** Absolute path of the configuration file. */
  file: string;
  /** The directory its relative paths are resolved against (a SIGHUP re-reads pg_hba from the file with it). */
  baseDir: string;
  general: GeneralConfig;
  web: WebConfig;
  pools: Record<string, PoolConfig>;
  /** `peers`, by peer id (ascending); may include this instance's own id, which is never forwarded to. */
  peers: PeerConfig[];
  /**
   * Key paths of PgDoorman settings that were accepted for compatibility but have no effect in gatehouse
   * (for example `general.worker_threads`). Set by parseConfig/loadConfig; see configWarnings().
   */
  ignoredKeys?: string[];
}
