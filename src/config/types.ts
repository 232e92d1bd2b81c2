export const CLIENT_TLS_MODES = ['disable', 'allow', 'require', 'verify-full'] as const;
export const SERVER_TLS_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export const POOL_MODES = ['session', 'transaction'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export type ClientTlsMode = (typeof CLIENT_TLS_MODES)[number];
export type ServerTlsMode = (typeof SERVER_TLS_MODES)[number];
export type PoolMode = (typeof POOL_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

/** TLS towards PostgreSQL as one pool uses it (pool settings override general ones field by field). */
export interface ServerTlsSettings {
  mode: ServerTlsMode;
  ca_cert: string | null;
  certificate: string | null;
  private_key: string | null;
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
  server_tls_mode: ServerTlsMode;
  server_tls_ca_cert: string | null;
  server_tls_certificate: string | null;
  server_tls_private_key: string | null;
  connect_timeout: number;
  query_wait_timeout: number;
  idle_timeout: number;
  server_lifetime: number;
  shutdown_timeout: number;
  client_login_timeout: number;
  max_connections: number;
  log_level: LogLevel;
}

/** `web` section (PgDoorman's older name `prometheus` is accepted as an alias). */
export interface WebConfig {
  enabled: boolean;
  host: string;
  port: number;
}

export interface UserConfig {
  username: string;
  /** Plaintext, `md5<32 hex>` or `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. */
  password: string;
  pool_size: number;
  /** Defaults to `username`. */
  server_username: string;
  /** Defaults to `password` when that is plaintext, otherwise null. */
  server_password: string | null;
}

export interface PoolConfig {
  name: string;
  server_host: string;
  server_port: number;
  /** Defaults to the pool name. */
  server_database: string;
  pool_mode: PoolMode;
  users: UserConfig[];
  /** Effective server-side TLS for this pool. */
  server_tls: ServerTlsSettings;
}

export interface Config {
  /** Absolute path of the configuration file. */
  file: string;
  general: GeneralConfig;
  web: WebConfig;
  pools: Record<string, PoolConfig>;
  /**
   * Key paths of PgDoorman settings that were accepted for compatibility but have no effect in gatehouse
   * (for example `general.worker_threads`). Set by parseConfig/loadConfig; see configWarnings().
   */
  ignoredKeys?: string[];
}
