/**
 * auth_query: a pool's users that are not listed in the configuration are looked up in PostgreSQL. `query` runs
 * with the user name as $1 (a parameter, never spliced into the SQL) on a small pool of executor connections,
 * logged in as auth_query.user. Answers are cached: found users for cache_ttl, unknown ones for
 * cache_failure_ttl; lookups of one user are shared while one is in flight. A failed lookup (PostgreSQL down, the
 * query failing or returning several rows) is a ProxyError 58000 (PgDoorman's "Authentication service
 * unavailable"), never a hang: connecting, waiting for an executor and the query itself are all bounded.
 * An optional `startup_parameters` column (PgDoorman's passthrough mode) gives the user's backend startup parameters.
 */
import type { Logger } from 'pino';
import { parseStoredPassword, type StoredPassword } from '../auth/index.js';
import type { AuthQueryConfig } from '../config/types.js';
import { AuthQueryCounters, type StartupParameterDrop } from '../observability/auth-query-counters.js';
import type { ServerPool } from '../pool/pool.js';
import type { ServerConnection } from '../pool/server-connection.js';
import {
  BackendType,
  extendedQuery,
  MessageFramer,
  parseBackendMessage,
  ProxyError,
  SqlState,
} from '../protocol/index.js';

/** A user the query knows: its stored password, and the startup parameters its backends get (passthrough mode). */
export interface LookedUpUser {
  stored: StoredPassword;
  startupParameters: Record<string, string>;
}

interface CacheEntry {
  found: LookedUpUser | null;
  fetchedAt: number;
  expiresAt: number;
}

/** PgDoorman's limit for one layer of startup parameters: the 10,000-byte startup packet less room for the rest. */
const STARTUP_PARAMETERS_BUDGET = 10_000 - 512;
/** Startup keys that are not settings, or that would change who the backend session is. */
const RESERVED_STARTUP_KEYS = new Set(['user', 'database', 'replication', 'options', 'role', 'session_authorization']);
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** Why a startup parameter from the query is dropped, or null when it can be sent. */
function startupParameterProblem(name: string, value: unknown): string | null {
  if (typeof value !== 'string') return `its value is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}, not a string`;
  if (RESERVED_STARTUP_KEYS.has(name.toLowerCase()) || name.startsWith('_pq_.')) return 'it is reserved';
  if (!SETTING_NAME.test(name)) return 'it is not a setting name';
  if (value.includes('\u0000')) return 'its value holds a NUL byte';
  return null;
}

export interface AuthQueryOptions {
  pool: string;
  config: AuthQueryConfig;
  /** The executor connections (auth_query.workers of them, as auth_query.user on auth_query.database). */
  executors: ServerPool;
  /** Longest a query may take once it is sent (ms). */
  queryTimeoutMs: number;
  logger: Logger;
  now?: () => number;
  /** What it did, for pg_doorman_auth_query_* (a private set when absent). */
  counters?: AuthQueryCounters;
}

/** One row's columns as text (null for SQL NULL), and the column names. */
interface QueryResult {
  columns: string[];
  rows: Array<Array<string | null>>;
}

function unavailable(pool: string, why: string): ProxyError {
  return new ProxyError('auth_query.unavailable', SqlState.SYSTEM_ERROR, 'Authentication service unavailable. Please try again later.', {
    severity: 'FATAL',
    detail: `auth_query of pool "${pool}": ${why}`,
  });
}

export class AuthQuery {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<LookedUpUser | null>>();
  private readonly now: () => number;
  private warnedDedicated = false;
  readonly counters: AuthQueryCounters;

  constructor(private readonly opts: AuthQueryOptions) {
    this.now = opts.now ?? Date.now;
    this.counters = opts.counters ?? new AuthQueryCounters();
    this.counters.entries = () => this.cache.size;
  }

  /** The user's stored password (md5 hash, SCRAM secret or plaintext) and startup parameters, or null: no such user. */
  lookup(user: string): Promise<LookedUpUser | null> {
    const entry = this.cache.get(user);
    if (entry && this.now() < entry.expiresAt) {
      this.counters.hits++;
      return Promise.resolve(entry.found);
    }
    let pending = this.inFlight.get(user);
    // A lookup that joins one in flight runs no query of its own: it counts as a hit.
    if (pending) this.counters.hits++;
    if (!pending) {
      this.counters.misses++;
      pending = this.fetch(user).finally(() => this.inFlight.delete(user));
      this.inFlight.set(user, pending);
    }
    return pending;
  }

  /**
   * A client failed to prove the password the cache holds: perhaps it changed in PostgreSQL. The entry is dropped,
   * so the next login looks it up again, but not more often than min_interval (a client guessing passwords must not
   * turn into a query per guess).
   */
  passwordRejected(user: string): void {
    this.counters.failure++;
    const entry = this.cache.get(user);
    if (!entry) return;
    if (this.now() - entry.fetchedAt >= this.opts.config.min_interval) {
      this.cache.delete(user);
      this.counters.refetches++;
    } else {
      this.counters.rateLimited++;
    }
  }

  /** A looked-up user logged in (its session opened). */
  loggedIn(): void {
    this.counters.success++;
  }

  private async fetch(user: string): Promise<LookedUpUser | null> {
    const { config, executors, pool } = this.opts;
    let conn: ServerConnection;
    try {
      conn = await executors.acquire(new Map());
    } catch (err) {
      this.counters.errors++;
      throw unavailable(pool, `cannot connect as "${config.user}" to database "${config.database}": ${(err as Error).message}`);
    }
    let result: QueryResult;
    this.counters.queries++;
    try {
      result = await runQuery(conn, config.query, [user], this.opts.queryTimeoutMs);
      executors.release(conn, 'reuse');
    } catch (err) {
      executors.release(conn, 'close');
      this.counters.errors++;
      throw unavailable(pool, (err as Error).message);
    }
    const stored = this.storedPassword(result, user);
    const found = stored && { stored, startupParameters: this.startupParameters(result, user) };
    const fetchedAt = this.now();
    const ttl = found === null ? config.cache_failure_ttl : config.cache_ttl;
    if (ttl > 0) this.cache.set(user, { found, fetchedAt, expiresAt: fetchedAt + ttl });
    else this.cache.delete(user);
    return found;
  }

  /**
   * The `startup_parameters` column, if the query has one: a JSON object of strings (text, json or jsonb), sent in
   * the user's backend StartupMessage. As in PgDoorman, what cannot be sent is dropped with a warning and the login
   * goes on: the whole value when it is not a JSON object or too long, an entry whose value is not a string or
   * whose name is reserved (user, database, role, …) or not a setting name. Dedicated mode ignores the column:
   * every looked-up user shares server_user's connections.
   */
  private startupParameters(result: QueryResult, user: string): Record<string, string> {
    const index = result.columns.indexOf('startup_parameters');
    const text = index === -1 ? null : (result.rows[0]?.[index] ?? null);
    if (text === null || text === '') return {};
    const { pool, logger, config } = this.opts;
    const dropped = this.counters.startupParametersDropped;
    const drop = (why: string, reason: StartupParameterDrop) => {
      dropped[reason]++;
      logger.warn({ pool, user }, `auth_query startup_parameters ignored: ${why}`);
      return {};
    };
    if (config.server_user !== null) {
      dropped.dedicated_mode++;
      if (!this.warnedDedicated) logger.warn({ pool }, 'auth_query startup_parameters are ignored in dedicated mode: every looked-up user shares server_user\'s connections');
      this.warnedDedicated = true;
      return {};
    }
    if (Buffer.byteLength(text) > STARTUP_PARAMETERS_BUDGET) return drop(`the value is longer than ${STARTUP_PARAMETERS_BUDGET} bytes`, 'auth_query_oversize');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return drop('the value is not JSON', 'auth_query_invalid_json');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return drop('the value is not a JSON object', 'auth_query_invalid_shape');
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(parsed)) {
      const problem = startupParameterProblem(name, value);
      if (problem) {
        dropped[typeof value === 'string' ? 'auth_query_invalid_entry' : 'auth_query_bad_type']++;
        logger.warn({ pool, user, parameter: name }, `auth_query startup parameter ignored: ${problem}`);
      } else Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  /** PgDoorman's reading of the result: column passwd, else password, else the only one; no row or NULL/'' is unknown. */
  private storedPassword(result: QueryResult, user: string): StoredPassword | null {
    const { pool } = this.opts;
    if (result.rows.length > 1) throw unavailable(pool, `the query returned ${result.rows.length} rows for user "${user}" (expected at most one)`);
    const index = result.columns.includes('passwd')
      ? result.columns.indexOf('passwd')
      : result.columns.includes('password')
        ? result.columns.indexOf('password')
        : result.columns.length === 1
          ? 0
          : -1;
    if (index === -1) throw unavailable(pool, `the query returns columns ${result.columns.join(', ')}: expected one named passwd or password, or a single column`);
    const value = result.rows[0]?.[index] ?? null;
    if (value === null || value === '') return null;
    try {
      return parseStoredPassword(value);
    } catch (err) {
      throw unavailable(pool, `the password the query returned for user "${user}" is unusable: ${(err as Error).message}`);
    }
  }
}

function readRowDescription(body: Buffer): string[] {
  const count = body.readInt16BE(0);
  const names: string[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const end = body.indexOf(0, at);
    if (end < 0) throw new Error('malformed RowDescription');
    names.push(body.toString('utf8', at, end));
    at = end + 1 + 18;
  }
  return names;
}

function readDataRow(body: Buffer): Array<string | null> {
  const count = body.readInt16BE(0);
  const values: Array<string | null> = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const len = body.readInt32BE(at);
    at += 4;
    if (len < 0) values.push(null);
    else {
      if (at + len > body.length) throw new Error('malformed DataRow');
      values.push(body.toString('utf8', at, at + len));
      at += len;
    }
  }
  return values;
}

/** Runs one parameterised statement on an idle executor connection and collects its rows (text format). */
function runQuery(conn: ServerConnection, sql: string, params: string[], timeoutMs: number): Promise<QueryResult> {
  const socket = conn.socket;
  return new Promise((resolve, reject) => {
    const framer = new MessageFramer();
    const result: QueryResult = { columns: [], rows: [] };
    let error: string | null = null;
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      conn.unread();
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      try {
        framer.push(chunk);
        for (let m = framer.next(); m; m = framer.next()) {
          if (m.type === BackendType.RowDescription) result.columns = readRowDescription(m.body);
          else if (m.type === BackendType.DataRow) result.rows.push(readDataRow(m.body));
          else if (m.type === BackendType.ErrorResponse) {
            const msg = parseBackendMessage(m.type, m.body);
            if (msg.type === 'errorResponse') error ??= `the query failed: ${msg.fields.message} (SQLSTATE ${msg.fields.code ?? '?'})`;
          } else if (m.type === BackendType.ReadyForQuery) {
            return finish(error === null ? null : new Error(error));
          }
        }
      } catch (err) {
        finish(err as Error);
      }
    };
    const onClose = () => finish(new Error('the server closed the connection during the query'));
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    conn.read(onData);
    socket.once('close', onClose);
    socket.write(extendedQuery(sql, params));
  });
}
