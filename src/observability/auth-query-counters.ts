/** PgDoorman's reasons for an auth_query startup parameter (or the whole value) not sent, those gatehouse has. */
export type StartupParameterDrop =
  | 'auth_query_oversize'
  | 'auth_query_invalid_json'
  | 'auth_query_invalid_shape'
  | 'auth_query_bad_type'
  | 'auth_query_invalid_entry'
  | 'dedicated_mode';

/** What one pool's auth_query did (pg_doorman_auth_query_* series); AuthQuery adds to it. */
export class AuthQueryCounters {
  /** Lookups answered from the cache. */
  hits = 0;
  /** Lookups that ran the query (no usable cache entry). */
  misses = 0;
  /** Misses for a user whose cache entry had expired or was dropped after a rejected password. */
  refetches = 0;
  /** Rejected passwords that did not drop the cache entry, because the last fetch was within min_interval. */
  rateLimited = 0;
  /** Queries run on the executor connections, and those that failed. */
  queries = 0;
  errors = 0;
  /** Logins of looked-up users: a session opened, or a password refused. */
  success = 0;
  failure = 0;
  /** auth_query startup parameters that were not sent, by PgDoorman's reason (pg_doorman_startup_parameters_dropped_total). */
  readonly startupParametersDropped: Record<StartupParameterDrop, number> = {
    auth_query_oversize: 0,
    auth_query_invalid_json: 0,
    auth_query_invalid_shape: 0,
    auth_query_bad_type: 0,
    auth_query_invalid_entry: 0,
    dedicated_mode: 0,
  };
  /** Users cached now (set by AuthQuery). */
  entries: () => number = () => 0;
}
