/**
 * Transaction pooling's prepared statements, as the pool and its servers hold them (DESIGN.md §7).
 * A client's statement names are the client's own; on the servers, statements carry gatehouse-owned
 * names, one per (search_path, parameter type OIDs, query text) in a pool, so clients that prepare the
 * same query share one server statement. The full text is the key: two queries never share a
 * statement because their hashes collide.
 */
import { MessageWriter } from '../protocol/wire.js';
import { FrontendType } from '../protocol/index.js';

/** The prefix of server-side statement names (visible to clients only in pg_prepared_statements). */
export const STATEMENT_PREFIX = 'GATEHOUSE_';

export class PooledStatement {
  /**
   * Set when PostgreSQL said the statement's result type changed (0A000 "cached plan must not change
   * result type", after DDL): it is never prepared again, and clients that use it get a fresh one.
   */
  retired = false;
  /** A server accepted its Parse once: the query is known to parse, so a client's Parse of it needs no server. */
  confirmed = false;

  constructor(
    /** The gatehouse-owned name on every server that has it. */
    readonly name: string,
    readonly key: string,
    /** The Parse message under `name`, built once and sent to each server that lacks it. */
    readonly parse: Buffer,
    /** The query text touches session state a transaction end must look at (see session-state.ts). */
    readonly touchesSession: boolean,
    /** Parameters it takes as PostgreSQL counts them: the types declared, or the highest $n if above. */
    readonly params: number,
  ) {}

  /** The Parse body after the name: the NUL-terminated query text, then the parameter types. */
  get queryAndTypes(): Buffer {
    return this.parse.subarray(5 + Buffer.byteLength(this.name) + 1);
  }

  /** The query text, as the client's Parse carried it. */
  get query(): string {
    const body = this.queryAndTypes;
    return body.toString('utf8', 0, body.indexOf(0));
  }
}

/** The declared parameter types, or the highest `$n` in the text when it is higher (PostgreSQL infers those). */
function parameterCount(query: Buffer, types: Buffer): number {
  let highest = types.length >= 2 ? types.readInt16BE(0) : 0;
  for (const m of query.toString('utf8').matchAll(/\$(\d+)/g)) highest = Math.max(highest, Number(m[1]));
  return highest;
}

/** Parse (name, query, parameter type OIDs as they arrived) as one message. */
function parseMessage(name: string, query: Buffer, types: Buffer): Buffer {
  const nameLength = Buffer.byteLength(name) + 1;
  return new MessageWriter(FrontendType.Parse, nameLength + query.length + types.length)
    .cstring(name, 'statement name')
    .bytes(query)
    .bytes(types)
    .done();
}

/** The pool's statements, least recently prepared first; at most `capacity` are shared. */
export class StatementCache {
  private readonly entries = new Map<string, PooledStatement>();
  private counter = 0;

  constructor(private limit: number) {}

  get capacity(): number {
    return this.limit;
  }

  /** A reload changed prepared_statements_cache_size: the least recently prepared beyond it stop being shared. */
  set capacity(limit: number) {
    this.limit = limit;
    while (this.entries.size > limit) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The shared statements, least recently prepared first (SHOW PREPARED_STATEMENTS). */
  values(): Iterable<PooledStatement> {
    return this.entries.values();
  }

  /** Approximate memory of the shared statements: their keys and Parse messages (pg_doorman_pool_prepared_cache_bytes). */
  get bytes(): number {
    let bytes = 0;
    for (const [key, stmt] of this.entries) bytes += key.length + stmt.parse.length;
    return bytes;
  }

  /**
   * The shared statement for a key, made on first use. `query` is the NUL-terminated query text and
   * `types` the parameter count and OIDs, both as the client's Parse carried them.
   */
  statement(key: string, query: Buffer, types: Buffer, touchesSession: boolean): PooledStatement {
    const found = this.entries.get(key);
    if (found) {
      this.entries.delete(key);
      this.entries.set(key, found);
      return found;
    }
    const name = `${STATEMENT_PREFIX}${++this.counter}`;
    const made = new PooledStatement(name, key, parseMessage(name, query, types), touchesSession, parameterCount(query, types));
    this.entries.set(key, made);
    // An evicted statement stays valid for the clients and servers that hold it; it is just no longer shared.
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return made;
  }

  /** The shared statement for a key, if the pool has one (not made, not moved in the LRU). */
  known(key: string): PooledStatement | undefined {
    return this.entries.get(key);
  }

  /** A fresh statement in place of a retired one (same query, new name). */
  replacement(old: PooledStatement): PooledStatement {
    old.retired = true;
    if (this.entries.get(old.key) === old) this.entries.delete(old.key);
    const body = old.queryAndTypes;
    const nul = body.indexOf(0);
    return this.statement(old.key, body.subarray(0, nul + 1), body.subarray(nul + 1), old.touchesSession);
  }
}

/**
 * The gatehouse statements one server connection has prepared, least recently used first. What the
 * relay sends is recorded as it is sent (the server runs messages in order); what the server then
 * skipped or refused is taken back when its reply says so.
 */
export class ServerStatements {
  private readonly names = new Set<string>();

  get size(): number {
    return this.names.size;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Mark as most recently used (no-op when absent). */
  touch(name: string): void {
    if (this.names.delete(name)) this.names.add(name);
  }

  add(name: string): void {
    this.names.delete(name);
    this.names.add(name);
  }

  delete(name: string): void {
    this.names.delete(name);
  }

  /** The name to evict before one more is added to a server that keeps `capacity`, or null when there is room. */
  victim(capacity: number): string | null {
    return this.names.size >= capacity ? this.names.values().next().value! : null;
  }

  /** DISCARD ALL or DEALLOCATE ALL ran: the server has none left. */
  clear(): void {
    this.names.clear();
  }
}
