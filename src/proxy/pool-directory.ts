/**
 * Which backend pool serves a (pool, user), and how its connections log in to PostgreSQL: the users listed in the
 * configuration, and those a pool's auth_query looks up (passthrough mode: a pool per looked-up user, logged in
 * as that user from the hash the query returned, with the startup parameters it returned; dedicated mode: one shared
 * pool as auth_query.server_user). Passthrough keys live in the entries, in memory only.
 */
import type { TransactionOptions } from './relay.js';
import type { Logger } from 'pino';
import { formatScramSecret, PassthroughKeys, parseStoredPassword, type ServerCredential, type StoredPassword } from '../auth/index.js';
import type { Config, PoolConfig, PoolMode, UserConfig } from '../config/types.js';
import { connectServer } from '../driver/server-driver.js';
import type { JournalBook } from '../journal/journal.js';
import type { Metrics } from '../observability/metrics.js';
import { DatabaseLimit, type DatabaseLimitStats } from '../pool/database-limit.js';
import type { InstanceLease } from '../pool/instance-slots.js';
import { ServerPool } from '../pool/pool.js';
import type { ServerConnection } from '../pool/server-connection.js';
import type { ServerTlsMaterial } from '../tls/server-tls.js';
import { AuthQuery, type LookedUpUser } from './auth-query.js';

export interface PoolEntry {
  pool: ServerPool;
  /** The settings its backends are made with; a reload that changes them replaces the pool (see reconcile). */
  fingerprint: string;
  mode: PoolMode;
  stored: StoredPassword;
  /** How this pool's backends log in; passthrough keys live here, in memory, for this (pool, user) only. */
  credential: ServerCredential;
  /** Transaction pooling's settings for this pool. */
  transaction: TransactionOptions;
  /** Sent in each new backend's StartupMessage besides user and database (auth_query's startup_parameters). */
  startupParameters: Record<string, string>;
  /** idle_transaction_timeout for this user's clients (ms; 0: never). */
  idleTransactionTimeoutMs: number;
}

interface AuthQueryPool {
  config: PoolConfig;
  lookup: AuthQuery;
  executors: ServerPool;
  /** Dedicated mode: the one pool every looked-up user shares. */
  shared: PoolEntry | null;
}

export interface PoolDirectoryDeps {
  logger: Logger;
  metrics: Metrics;
  journals: JournalBook;
  serverTls(pool: string): ServerTlsMaterial | null;
  nextServerId(): string;
  inspect(): unknown;
  /**
   * One worker's pools of several (src/proxy/cluster): new connections take instance-wide slots, and each worker
   * keeps its share of min_pool_size open.
   */
  instance?: { slots: InstanceLease; minShare(minPoolSize: number): number };
}

/** The server credential a user's settings call for (see UserConfig.server_auth). */
function serverCredential(user: UserConfig, stored: StoredPassword): ServerCredential {
  switch (user.server_auth) {
    case 'password':
      return { kind: 'password', password: user.server_password ?? '' };
    case 'md5-passthrough':
      if (stored.kind !== 'md5') throw new Error(`user ${user.username}: md5 passthrough needs an md5 hash`);
      return { kind: 'md5-passthrough', hash: stored.hash };
    case 'scram-passthrough':
      if (stored.kind !== 'scram') throw new Error(`user ${user.username}: SCRAM passthrough needs a SCRAM secret`);
      return { kind: 'scram-passthrough', keys: new PassthroughKeys(stored) };
    case 'none':
      return { kind: 'none' };
  }
}

function limitOptions(pool: PoolConfig) {
  return { maxConnections: pool.max_db_connections, reserveSize: pool.reserve_pool_size, reserveTimeoutMs: pool.reserve_pool_timeout };
}

function label(entry: PoolEntry): string {
  return `${entry.pool.opts.name}/${entry.pool.opts.user}`;
}

/** A stored password as text, to notice that a looked-up one changed. */
function storedText(stored: StoredPassword): string {
  return stored.kind === 'md5' ? stored.hash : stored.kind === 'scram' ? formatScramSecret(stored) : `plain:${stored.password}`;
}

/** Startup parameters as text, in a stable order, to notice that they changed. */
function parametersText(parameters: Record<string, string>): string {
  return JSON.stringify(Object.entries(parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A looked-up user as if it were listed: logged in as itself, by passthrough from the hash the query returned. */
function lookedUpUser(name: string, stored: StoredPassword, pool: PoolConfig): UserConfig {
  const plain = stored.kind === 'plain' ? stored.password : null;
  return {
    username: name,
    password: storedText(stored),
    pool_size: pool.auth_query!.pool_size,
    min_pool_size: pool.auth_query!.min_pool_size,
    idle_transaction_timeout: pool.idle_transaction_timeout,
    server_username: name,
    server_password: plain,
    server_auth: plain !== null ? 'password' : stored.kind === 'md5' ? 'md5-passthrough' : 'scram-passthrough',
  };
}

function key(pool: string, user: string): string {
  return `${pool}\u0000${user}`;
}

/** What a pool's backends are made with, and how its sessions run: a change needs a new pool. */
function poolFingerprint(pool: PoolConfig): string {
  const { server_host, server_port, server_database, pool_mode, server_tls, prepared_statements, cleanup_server_connections } = pool;
  return JSON.stringify({ server_host, server_port, server_database, pool_mode, server_tls, prepared_statements, cleanup_server_connections });
}

function entryFingerprint(pool: PoolConfig, user: UserConfig): string {
  // A passthrough credential comes from the stored hash itself; otherwise the client-facing password changes nothing on servers.
  const passthrough = user.server_auth === 'md5-passthrough' || user.server_auth === 'scram-passthrough';
  const server = { name: user.server_username, password: user.server_password, auth: user.server_auth, hash: passthrough ? user.password : null };
  return `${poolFingerprint(pool)}\u0000${JSON.stringify(server)}`;
}

/** What a reload did to the pools, for its log line. */
export interface ReconcileReport {
  added: string[];
  removed: string[];
  /** Replaced because their server settings changed: new backends use the new ones. */
  rebuilt: string[];
  /** Resized or retimed in place. */
  resized: string[];
}

export class PoolDirectory {
  private readonly listed = new Map<string, PoolEntry>();
  private readonly lookedUp = new Map<string, PoolEntry & { text: string }>();
  private readonly authQueries = new Map<string, AuthQueryPool>();
  /** Pools a reload replaced or removed, kept (for reaping and shutdown) until their last server is gone. */
  private readonly retired = new Set<ServerPool>();
  /** Per pool name: max_db_connections and the reserve, shared by its users' pools (auth_query executors aside). */
  private readonly limits = new Map<string, DatabaseLimit>();

  constructor(
    private readonly config: Config,
    private readonly deps: PoolDirectoryDeps,
  ) {
    for (const pool of Object.values(config.pools)) {
      this.limits.set(pool.name, new DatabaseLimit({ database: pool.name, ...limitOptions(pool) }));
      for (const user of pool.users) this.listed.set(key(pool.name, user.username), this.createEntry(pool, user, parseStoredPassword(user.password)));
      if (pool.auth_query) this.authQueries.set(pool.name, this.createAuthQuery(pool));
    }
  }

  /** Every backend pool (reaping, shutdown), those a reload retired included. */
  *serverPools(): Iterable<ServerPool> {
    for (const pool of this.retired) {
      if (!pool.empty) {
        yield pool;
        continue;
      }
      this.retired.delete(pool);
      pool.limit.leave(pool);
    }
    yield* this.currentPools();
  }

  /** The pools of the configuration in force (metrics: one per (pool, user), a replaced one shares its counters). */
  *currentPools(): Iterable<ServerPool> {
    for (const entry of this.listed.values()) yield entry.pool;
    for (const entry of this.lookedUp.values()) yield entry.pool;
    for (const aq of this.authQueries.values()) {
      yield aq.executors;
      if (aq.shared) yield aq.shared.pool;
    }
  }

  /**
   * A reload: the configuration object now holds the new file's settings. Pools of (pool, user)s that are gone
   * retire; those whose backend settings changed are replaced by a new pool that shares the old one's statement
   * cache and takes over its sessions' next acquires; a changed pool_size or timeout is applied in place; a changed
   * client password is used for the next login. Open sessions keep working throughout.
   */
  reconcile(): ReconcileReport {
    const report: ReconcileReport = { added: [], removed: [], rebuilt: [], resized: [] };
    for (const pool of Object.values(this.config.pools)) {
      const limit = this.limits.get(pool.name);
      if (limit) limit.configure(limitOptions(pool));
      else this.limits.set(pool.name, new DatabaseLimit({ database: pool.name, ...limitOptions(pool) }));
    }
    for (const name of this.limits.keys()) if (!(name in this.config.pools)) this.limits.delete(name);
    const wanted = new Map<string, { pool: PoolConfig; user: UserConfig }>();
    for (const pool of Object.values(this.config.pools)) for (const user of pool.users) wanted.set(key(pool.name, user.username), { pool, user });
    for (const [k, entry] of this.listed) {
      if (wanted.has(k)) continue;
      this.retire(entry.pool, null);
      this.listed.delete(k);
      report.removed.push(label(entry));
    }
    for (const [k, { pool, user }] of wanted) {
      const existing = this.listed.get(k);
      const stored = parseStoredPassword(user.password);
      if (!existing) {
        this.listed.set(k, this.createEntry(pool, user, stored));
        report.added.push(`${pool.name}/${user.username}`);
      } else if (existing.fingerprint !== entryFingerprint(pool, user)) {
        const next = this.createEntry(pool, user, stored, existing.pool);
        next.pool.statements.capacity = pool.prepared_statements.cache_size;
        this.retire(existing.pool, next.pool);
        this.listed.set(k, next);
        report.rebuilt.push(label(next));
      } else {
        existing.stored = stored;
        existing.idleTransactionTimeoutMs = user.idle_transaction_timeout;
        if (this.configurePool(existing, pool, user)) report.resized.push(label(existing));
      }
    }
    this.reconcileAuthQueries(report);
    return report;
  }

  private minShare(minPoolSize: number): number {
    return this.deps.instance ? this.deps.instance.minShare(minPoolSize) : minPoolSize;
  }

  /** Applies pool_size, min_pool_size and the general timeouts in place; true when something changed. */
  private configurePool(entry: PoolEntry, pool: PoolConfig, user: UserConfig): boolean {
    const g = this.config.general;
    const settings = {
      size: user.pool_size,
      minSize: this.minShare(user.min_pool_size),
      queryWaitTimeoutMs: g.query_wait_timeout,
      idleTimeoutMs: g.idle_timeout,
      serverLifetimeMs: g.server_lifetime,
    };
    const o = entry.pool.opts;
    const changed = (Object.keys(settings) as Array<keyof typeof settings>).some((k) => (o[k] ?? 0) !== settings[k]);
    entry.pool.configure(settings);
    entry.pool.statements.capacity = pool.prepared_statements.cache_size;
    // A new object, so that sessions already running keep the options they started with.
    entry.transaction = { ...entry.transaction, inspectTimeoutMs: g.query_wait_timeout };
    return changed;
  }

  private retire(pool: ServerPool, successor: ServerPool | null): void {
    pool.retire(successor);
    this.retired.add(pool);
  }

  /** auth_query pools whose settings changed are built again; looked-up users are then looked up again at login. */
  private reconcileAuthQueries(report: ReconcileReport): void {
    for (const [name, aq] of this.authQueries) {
      const pool = this.config.pools[name];
      if (pool?.auth_query && JSON.stringify(pool.auth_query) === JSON.stringify(aq.config.auth_query) && poolFingerprint(pool) === poolFingerprint(aq.config)) continue;
      this.retire(aq.executors, null);
      if (aq.shared) this.retire(aq.shared.pool, null);
      for (const [k, entry] of this.lookedUp) {
        if (entry.pool.opts.name !== name) continue;
        this.retire(entry.pool, null);
        this.lookedUp.delete(k);
      }
      this.authQueries.delete(name);
      report.removed.push(`${name} (auth_query)`);
    }
    for (const pool of Object.values(this.config.pools)) {
      if (!pool.auth_query || this.authQueries.has(pool.name)) continue;
      this.authQueries.set(pool.name, this.createAuthQuery(pool));
      report.added.push(`${pool.name} (auth_query)`);
    }
  }

  /** Every (pool, user) clients log in to, with its backend pool (the admin console's SHOW POOLS, SHOW DATABASES). */
  *entries(): Iterable<{ database: string; user: string; entry: PoolEntry }> {
    for (const entry of this.listed.values()) yield { database: entry.pool.opts.name, user: entry.pool.opts.user, entry };
    for (const entry of this.lookedUp.values()) yield { database: entry.pool.opts.name, user: entry.pool.opts.user, entry };
    for (const aq of this.authQueries.values()) {
      if (aq.shared) yield { database: aq.config.name, user: aq.shared.pool.opts.user, entry: aq.shared };
    }
  }

  /** Per pool name (database): its max_db_connections, server connections of all its users, and reserve (SHOW DATABASES, metrics). */
  *databaseLimits(): Iterable<DatabaseLimitStats> {
    for (const limit of this.limits.values()) yield limit.stats;
  }

  /** One pool name's numbers (see databaseLimits), or null for a name no pool has. */
  databaseLimit(database: string): DatabaseLimitStats | null {
    return this.limits.get(database)?.stats ?? null;
  }

  /** A listed user's password, 'auth_query' when the pool looks unlisted users up, or null. Listed users win. */
  userPassword(database: string, user: string): StoredPassword | null | 'auth_query' {
    const listed = this.listed.get(key(database, user));
    if (listed) return listed.stored;
    return this.authQueries.has(database) ? 'auth_query' : null;
  }

  async lookupUser(database: string, user: string): Promise<StoredPassword | null> {
    const aq = this.authQueries.get(database);
    if (!aq) return null;
    const found = await aq.lookup.lookup(user);
    if (found !== null && aq.shared === null) this.lookedUpEntry(aq.config, user, found);
    return found?.stored ?? null;
  }

  passwordRejected(database: string, user: string): void {
    this.authQueries.get(database)?.lookup.passwordRejected(user);
  }

  learnClientKey(database: string, user: string, clientKey: Buffer): void {
    const credential = (this.listed.get(key(database, user)) ?? this.lookedUp.get(key(database, user)))?.credential;
    if (credential?.kind === 'scram-passthrough') credential.keys.learn(clientKey);
  }

  /** The pool a logged-in client's session uses. */
  entryFor(database: string, user: string): PoolEntry {
    const entry = this.listed.get(key(database, user)) ?? this.lookedUp.get(key(database, user)) ?? this.authQueries.get(database)?.shared;
    if (!entry) throw new Error(`no pool for user "${user}" in pool "${database}"`);
    if (!this.listed.has(key(database, user))) this.authQueries.get(database)?.lookup.loggedIn();
    return entry;
  }

  /**
   * Passthrough mode: the looked-up user's own pool. A changed password gets a new credential (and new keys), changed
   * startup parameters reach the backends opened from now on; connections already open keep what they started with.
   */
  private lookedUpEntry(pool: PoolConfig, user: string, found: LookedUpUser): void {
    const { stored, startupParameters } = found;
    const text = `${storedText(stored)}\u0000${parametersText(startupParameters)}`;
    const existing = this.lookedUp.get(key(pool.name, user));
    if (existing?.text === text) return;
    const config = lookedUpUser(user, stored, pool);
    if (existing) {
      existing.stored = stored;
      existing.credential = serverCredential(config, stored);
      existing.startupParameters = startupParameters;
      existing.text = text;
      return;
    }
    // The same object the pool's connect reads its credential from, so that a later change reaches new connections.
    const entry = Object.assign(this.createEntry(pool, config, stored), { text });
    entry.startupParameters = startupParameters;
    this.lookedUp.set(key(pool.name, user), entry);
  }

  private createAuthQuery(pool: PoolConfig): AuthQueryPool {
    const aq = pool.auth_query!;
    const g = this.config.general;
    const executorUser: UserConfig = {
      username: aq.user,
      password: aq.password,
      pool_size: aq.workers,
      min_pool_size: 0,
      idle_transaction_timeout: 0,
      server_username: aq.user,
      server_password: aq.password,
      server_auth: 'password',
    };
    // Executors are gatehouse's own lookups, outside max_db_connections: a full database must not block logins.
    const executors = this.createEntry({ ...pool, server_database: aq.database }, executorUser, { kind: 'plain', password: aq.password }, null).pool;
    let shared: PoolEntry | null = null;
    if (aq.server_user !== null) {
      const dedicated: UserConfig = {
        username: aq.server_user,
        password: aq.server_password ?? '',
        pool_size: aq.pool_size,
        min_pool_size: aq.min_pool_size,
        idle_transaction_timeout: pool.idle_transaction_timeout,
        server_username: aq.server_user,
        server_password: aq.server_password,
        server_auth: aq.server_password !== null ? 'password' : 'none',
      };
      shared = this.createEntry(pool, dedicated, { kind: 'plain', password: aq.server_password ?? '' });
    }
    const lookup = new AuthQuery({ pool: pool.name, config: aq, executors, queryTimeoutMs: g.connect_timeout, logger: this.deps.logger, counters: this.deps.metrics.authQueryCounters(pool.name) });
    return { config: pool, lookup, executors, shared };
  }

  private createEntry(
    pool: PoolConfig,
    user: UserConfig,
    stored: StoredPassword,
    replaces: ServerPool | null = null,
    limit: DatabaseLimit | null = this.limits.get(pool.name) ?? null,
  ): PoolEntry {
    const g = this.config.general;
    const { metrics } = this.deps;
    const entry: PoolEntry = {
      pool: null as unknown as ServerPool,
      fingerprint: entryFingerprint(pool, user),
      mode: pool.pool_mode,
      stored,
      credential: serverCredential(user, stored),
      transaction: {
        remap: pool.prepared_statements.enabled,
        serverCacheSize: pool.prepared_statements.server_cache_size,
        cleanup: pool.cleanup_server_connections,
        inspectTimeoutMs: g.query_wait_timeout,
      },
      startupParameters: {},
      idleTransactionTimeoutMs: user.idle_transaction_timeout,
    };
    entry.pool = new ServerPool({
      name: pool.name,
      user: user.username,
      size: user.pool_size,
      queryWaitTimeoutMs: g.query_wait_timeout,
      idleTimeoutMs: g.idle_timeout,
      serverLifetimeMs: g.server_lifetime,
      statementCacheSize: pool.prepared_statements.cache_size,
      statements: replaces?.statements,
      traffic: replaces?.traffic,
      minSize: this.minShare(user.min_pool_size),
      limit: limit ?? undefined,
      instance: this.deps.instance?.slots,
      // SCRAM passthrough logs in with the ClientKey a client's login revealed: no warm-up before the first login.
      canWarm: () => entry.credential.kind !== 'scram-passthrough' || entry.credential.keys.ready,
      logger: this.deps.logger,
      connect: async () => {
        const conn = await connectServer({
          id: this.deps.nextServerId(),
          pool: pool.name,
          host: pool.server_host,
          port: pool.server_port,
          mode: pool.server_tls.mode,
          negotiation: pool.server_tls.negotiation,
          tls: this.deps.serverTls(pool.name),
          user: user.server_username,
          // Read at each connect: a looked-up user's password may have been replaced since the pool was made.
          credential: entry.credential,
          startupParameters: { ...entry.startupParameters, user: user.server_username, database: pool.server_database },
          // Read at each connect: a reload may have changed it.
          connectTimeoutMs: this.config.general.connect_timeout,
          logger: this.deps.logger.child({ pool: pool.name }),
          metrics,
          journals: this.deps.journals,
          inspect: this.deps.inspect(),
          onClosed: (c: ServerConnection) => {
            if (c.tls) {
              metrics.serverTlsConnections.dec({ pool: pool.name });
              metrics.serverTlsProtocols.dec({ pool: pool.name, ...c.tls });
            }
            entry.pool.forget(c);
          },
        });
        if (conn.tls) {
          metrics.serverTlsConnections.inc({ pool: pool.name });
          metrics.serverTlsProtocols.inc({ pool: pool.name, ...conn.tls });
        }
        return conn;
      },
    });
    return entry;
  }
}
