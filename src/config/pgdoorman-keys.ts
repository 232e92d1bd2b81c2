/**
 * PgDoorman settings that gatehouse accepts so that a PgDoorman configuration loads unchanged, but that have no
 * effect here (no Patroni fallback, no Talos, …). They are
 * reported through Config.ignoredKeys so the caller can warn. Their values are not validated.
 */
export const IGNORED_GENERAL_KEYS: readonly string[] = [
  'backlog', 'client_anonymous_prepared_cache_size',
  'client_prepared_statements_cache_size', 'daemon_pid_file', 'fallback_connect_timeout', 'fallback_cooldown',
  'fallback_lifetime', 'log_client_connections', 'log_client_disconnections', 'max_blocking_threads',
  'max_concurrent_creates', 'max_memory_usage', 'message_size_to_be_stream', 'patroni_api_timeout',
  'patroni_api_urls', 'pooler_check_query',
  'proxy_copy_data_timeout', 'retain_connections_max', 'retain_connections_time', 'scaling_cooldown_sleep',
  'scaling_fast_retries', 'scaling_max_parallel_creates', 'scaling_warm_pool_ratio',
  'server_idle_check_timeout', 'server_round_robin', 'startup_parameters',
  'sync_server_parameters', 'syslog_prog_name', 'tcp_keepalives_count', 'tcp_keepalives_idle',
  'tcp_keepalives_interval', 'tcp_no_delay', 'tcp_so_linger', 'tcp_socket_buffer_size', 'tcp_user_timeout',
  'tokio_event_interval', 'tokio_global_queue_interval', 'unix_socket_buffer_size',
  'worker_cpu_affinity_pinning', 'worker_stack_size',
];

export const IGNORED_POOL_KEYS: readonly string[] = [
  'application_name', 'connect_timeout', 'fallback_connect_timeout',
  'fallback_cooldown', 'fallback_lifetime', 'idle_timeout', 'log_client_parameter_status_changes',
  'min_connection_lifetime', 'min_guaranteed_pool_size', 'patroni_api_timeout',
  'patroni_api_urls',
  'scaling_cooldown_sleep', 'scaling_fast_retries', 'scaling_warm_pool_ratio',
  'server_lifetime', 'startup_parameters',
];

export const IGNORED_USER_KEYS: readonly string[] = ['auth_pam_service', 'server_lifetime'];

/** auth_query keys of PgDoorman's that gatehouse has no use for (none at present: every one has its effect). */
export const IGNORED_AUTH_QUERY_KEYS: readonly string[] = [];

export const IGNORED_WEB_KEYS: readonly string[] = [
  'log_tap_max_entries', 'sso_admin_groups', 'sso_allowed_users', 'sso_audience', 'sso_enabled', 'sso_groups_claim',
  'sso_proxy_url', 'sso_public_key_file', 'sso_require_https', 'trusted_proxies', 'ui', 'ui_anonymous',
];

export const IGNORED_ROOT_KEYS: readonly string[] = ['talos'];

/**
 * PgDoorman settings gatehouse refuses: ignoring them would drop
 * configuration kept in other files (`include`) or run a user in a pool mode it did not ask for (`pool_mode`).
 */
export const UNSUPPORTED_KEYS: Readonly<Record<'root' | 'general' | 'user', Readonly<Record<string, string>>>> = {
  root: {
    include: 'not supported: gatehouse reads a single file, so merge the included files into this one',
  },
  general: {},
  user: {
    pool_mode: 'not supported per user: set pool_mode on the pool (gatehouse runs one pool mode per pool)',
  },
};

const WHY = {
  prepared: 'anonymous statements pass through unchanged, so there is no per-client anonymous cache to size',
  threads: 'gatehouse runs general.worker_threads Node.js processes, each one event loop: there are no Tokio threads to size, pin or tune',
  tcp: "socket options are the operating system's defaults (Nagle is off on every gatehouse socket)",
  fallback: 'there is no Patroni-assisted fallback: server_host is the only server',
  scaling: 'pools open server connections on demand (beyond min_pool_size); there is no pre-replacement, burst scaling or eviction-age tuning',
  daemon: 'gatehouse runs in the foreground and logs JSON to stdout (run it under systemd or a container runtime)',
  logging: 'every connection is journaled (journal_file, gatehouse replay) and logged at info',
  memory: 'the relay forwards messages as they arrive, without buffering whole messages',
  backlog: 'gatehouse listens with a backlog of 4096 (capped by net.core.somaxconn)',
  probe: 'idle server connections are watched for a close or a FATAL instead of probed with a query',
  roundRobin: 'each pool has one server',
  parameters: "a client's own startup parameters are applied to its server connection (docs/configuration.md)",
  sync: 'a client\'s session settings always follow it from server to server (cleanup_server_connections, docs/pooling.md)',
  perPool: 'gatehouse takes it from general only',
  web: 'the web listener serves /metrics and the machine viewer only: no web UI, no SSO',
  talos: 'there is no Talos/JWT authentication',
  pam: 'there is no PAM authentication',
} as const;

const REASONS: Readonly<Record<string, string>> = {
  backlog: WHY.backlog,
  client_anonymous_prepared_cache_size: WHY.prepared,
  client_prepared_statements_cache_size: WHY.prepared,
  daemon_pid_file: WHY.daemon,
  syslog_prog_name: WHY.daemon,
  fallback_connect_timeout: WHY.fallback,
  fallback_cooldown: WHY.fallback,
  fallback_lifetime: WHY.fallback,
  patroni_api_timeout: WHY.fallback,
  patroni_api_urls: WHY.fallback,
  log_client_connections: WHY.logging,
  log_client_disconnections: WHY.logging,
  log_client_parameter_status_changes: WHY.logging,
  max_blocking_threads: WHY.threads,
  tokio_event_interval: WHY.threads,
  tokio_global_queue_interval: WHY.threads,
  worker_cpu_affinity_pinning: WHY.threads,
  worker_stack_size: WHY.threads,
  max_concurrent_creates: WHY.scaling,
  retain_connections_max: WHY.scaling,
  retain_connections_time: WHY.scaling,
  scaling_cooldown_sleep: WHY.scaling,
  scaling_fast_retries: WHY.scaling,
  scaling_max_parallel_creates: WHY.scaling,
  scaling_warm_pool_ratio: WHY.scaling,
  min_connection_lifetime: WHY.scaling,
  min_guaranteed_pool_size: WHY.scaling,
  max_memory_usage: WHY.memory,
  message_size_to_be_stream: WHY.memory,
  proxy_copy_data_timeout: WHY.memory,
  pooler_check_query: WHY.probe,
  server_idle_check_timeout: WHY.probe,
  server_round_robin: WHY.roundRobin,
  startup_parameters: WHY.parameters,
  sync_server_parameters: WHY.sync,
  application_name: WHY.parameters,
  tcp_keepalives_count: WHY.tcp,
  tcp_keepalives_idle: WHY.tcp,
  tcp_keepalives_interval: WHY.tcp,
  tcp_no_delay: WHY.tcp,
  tcp_so_linger: WHY.tcp,
  tcp_socket_buffer_size: WHY.tcp,
  tcp_user_timeout: WHY.tcp,
  unix_socket_buffer_size: WHY.tcp,
  talos: WHY.talos,
  auth_pam_service: WHY.pam,
};

/**
 * Why an accepted PgDoorman key has no effect in gatehouse, for the compatibility report. `keyPath` is the key's
 * path in the file (`general.worker_threads`, `pools.app.users[0].server_lifetime`, `web.ui`).
 */
export function ignoredKeyReason(keyPath: string): string {
  const segments = keyPath.split('.');
  const key = segments[segments.length - 1];
  if (segments[0] === 'web' || segments[0] === 'prometheus') return WHY.web;
  if (segments[0] === 'pools' && ['connect_timeout', 'idle_timeout', 'server_lifetime'].includes(key)) {
    return `${WHY.perPool} (general.${key}; a per-${keyPath.includes('.users[') ? 'user' : 'pool'} value is not supported)`;
  }
  return REASONS[key] ?? 'gatehouse does not implement it';
}
