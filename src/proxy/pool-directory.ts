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
import { ServerPool } from '../pool/pool.js';
import type { ServerConnection } from '../pool/server-connection.js';
import type { ServerTlsMaterial } from '../tls/server-tls.js';
import { AuthQuery, type LookedUpUser } from './auth-query.js';

export interface PoolEntry {
  pool: ServerPool;
  mode: PoolMode;
  stored: StoredPassword;
  /** How this pool's backends log in; passthrough keys live here, in memory, for this (pool, user) only. */
  credential: ServerCredential;
  /** Transaction pooling's settings for this pool. */
  transaction: TransactionOptions;
  /** Sent in each new backend's StartupMessage besides user and database (auth_query's startup_parameters). */
  startupParameters: Record<string, string>;
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

/** A stored password as text, to notice that a looked-up one changed. */
function storedText(stored: StoredPassword): string {
  return stored.kind === 'md5' ? stored.hash : stored.kind === 'scram' ? formatScramSecret(stored) : `plain:${stored.password}`;
}

/** Startup parameters as text, in a stable order, to notice that they changed. */
function parametersText(parameters: Record<string, string>): string {
  return JSON.stringify(Object.entries(parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A looked-up user as if it were listed: logged in as itself, by passthrough from the hash the query returned. */
function lookedUpUser(name: string, stored: StoredPassword, poolSize: number): UserConfig {
  const plain = stored.kind === 'plain' ? stored.password : null;
  return {
    username: name,
    password: storedText(stored),
    pool_size: poolSize,
    server_username: name,
    server_password: plain,
    server_auth: plain !== null ? 'password' : stored.kind === 'md5' ? 'md5-passthrough' : 'scram-passthrough',
  };
}

function key(pool: string, user: string): string {
  return `${pool}\u0000${user}`;
}

export class PoolDirectory {
  private readonly listed = new Map<string, PoolEntry>();
  private readonly lookedUp = new Map<string, PoolEntry & { text: string }>();
  private readonly authQueries = new Map<string, AuthQueryPool>();

  constructor(
    private readonly config: Config,
    private readonly deps: PoolDirectoryDeps,
  ) {
    for (const pool of Object.values(config.pools)) {
      for (const user of pool.users) this.listed.set(key(pool.name, user.username), this.createEntry(pool, user, parseStoredPassword(user.password)));
      if (pool.auth_query) this.authQueries.set(pool.name, this.createAuthQuery(pool));
    }
  }

  /** Every backend pool (reaping, shutdown). */
  *serverPools(): Iterable<ServerPool> {
    for (const entry of this.listed.values()) yield entry.pool;
    for (const entry of this.lookedUp.values()) yield entry.pool;
    for (const aq of this.authQueries.values()) {
      yield aq.executors;
      if (aq.shared) yield aq.shared.pool;
    }
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
    const config = lookedUpUser(user, stored, pool.auth_query!.pool_size);
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
      server_username: aq.user,
      server_password: aq.password,
      server_auth: 'password',
    };
    const executors = this.createEntry({ ...pool, server_database: aq.database }, executorUser, { kind: 'plain', password: aq.password }).pool;
    let shared: PoolEntry | null = null;
    if (aq.server_user !== null) {
      const dedicated: UserConfig = {
        username: aq.server_user,
        password: aq.server_password ?? '',
        pool_size: aq.pool_size,
        server_username: aq.server_user,
        server_password: aq.server_password,
        server_auth: aq.server_password !== null ? 'password' : 'none',
      };
      shared = this.createEntry(pool, dedicated, { kind: 'plain', password: aq.server_password ?? '' });
    }
    const lookup = new AuthQuery({ pool: pool.name, config: aq, executors, queryTimeoutMs: g.connect_timeout, logger: this.deps.logger, counters: this.deps.metrics.authQueryCounters(pool.name) });
    return { config: pool, lookup, executors, shared };
  }

  private createEntry(pool: PoolConfig, user: UserConfig, stored: StoredPassword): PoolEntry {
    const g = this.config.general;
    const { metrics } = this.deps;
    const entry: PoolEntry = {
      pool: null as unknown as ServerPool,
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
    };
    entry.pool = new ServerPool({
      name: pool.name,
      user: user.username,
      size: user.pool_size,
      queryWaitTimeoutMs: g.query_wait_timeout,
      idleTimeoutMs: g.idle_timeout,
      serverLifetimeMs: g.server_lifetime,
      statementCacheSize: pool.prepared_statements.cache_size,
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
          connectTimeoutMs: g.connect_timeout,
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
