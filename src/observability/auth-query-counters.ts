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
  /** Users cached now (set by AuthQuery). */
  entries: () => number = () => 0;
}
