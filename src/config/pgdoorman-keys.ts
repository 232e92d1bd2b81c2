/**
 * PgDoorman settings that gatehouse accepts so that a PgDoorman configuration loads unchanged, but that have no
 * effect here (gatehouse has no admin console, no Patroni fallback, no prepared-statement cache, …). They are
 * reported through Config.ignoredKeys so the caller can warn. Their values are not validated.
 */
export const IGNORED_GENERAL_KEYS: readonly string[] = [
  'admin_username', 'admin_password', 'backlog', 'client_anonymous_prepared_cache_size',
  'client_prepared_statements_cache_size', 'daemon_pid_file', 'fallback_connect_timeout', 'fallback_cooldown',
  'fallback_lifetime', 'log_client_connections', 'log_client_disconnections', 'max_blocking_threads',
  'max_concurrent_creates', 'max_memory_usage', 'message_size_to_be_stream', 'patroni_api_timeout',
  'patroni_api_urls', 'pooler_check_query', 'prepared_statements', 'prepared_statements_cache_size',
  'proxy_copy_data_timeout', 'retain_connections_max', 'retain_connections_time', 'scaling_cooldown_sleep',
  'scaling_fast_retries', 'scaling_max_parallel_creates', 'scaling_warm_pool_ratio',
  'server_idle_check_timeout', 'server_prepared_statements_cache_size', 'server_round_robin', 'startup_parameters',
  'sync_server_parameters', 'syslog_prog_name', 'tcp_keepalives_count', 'tcp_keepalives_idle',
  'tcp_keepalives_interval', 'tcp_no_delay', 'tcp_so_linger', 'tcp_socket_buffer_size', 'tcp_user_timeout',
  'tokio_event_interval', 'tokio_global_queue_interval', 'unix_socket_buffer_size',
  'worker_cpu_affinity_pinning', 'worker_stack_size', 'worker_threads',
];

export const IGNORED_POOL_KEYS: readonly string[] = [
  'application_name', 'cleanup_server_connections', 'connect_timeout', 'fallback_connect_timeout',
  'fallback_cooldown', 'fallback_lifetime', 'idle_timeout', 'log_client_parameter_status_changes',
  'max_db_connections', 'min_connection_lifetime', 'min_guaranteed_pool_size', 'patroni_api_timeout',
  'patroni_api_urls', 'prepared_statements_cache_size', 'reserve_pool_size', 'reserve_pool_timeout',
  'scaling_cooldown_sleep', 'scaling_fast_retries', 'scaling_warm_pool_ratio',
  'server_prepared_statements_cache_size', 'server_lifetime', 'startup_parameters',
];

export const IGNORED_USER_KEYS: readonly string[] = ['auth_pam_service', 'min_pool_size', 'server_lifetime'];

/** auth_query keys of PgDoorman's that gatehouse has no use for: it keeps no warm minimum of dynamic pools. */
export const IGNORED_AUTH_QUERY_KEYS: readonly string[] = ['min_pool_size'];

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
