/**
 * One client's named prepared statements in transaction pooling (DESIGN.md §7, docs/pooling.md).
 * The client's names are its own: a Parse under a name becomes the pool's shared statement for that
 * query (prepared on a server under a gatehouse-owned name), and every Bind or Describe naming it is
 * rewritten to that name, after a re-Parse on the attached server when the server lacks it. The
 * client sees exactly what PostgreSQL would have sent: a ParseComplete for a Parse gatehouse did not
 * need to send, a CloseComplete for a Close it answered, 42P05 for a name already in use; what
 * gatehouse sent for itself is answered to it alone (ReplyQueue).
 *
 * Unnamed statements, portals, and names the client never prepared through the protocol (SQL PREPARE)
 * pass through unchanged; PostgreSQL then answers for them.
 */
import { BackendType, encodeErrorResponse, FrontendType, readyForQuery } from '../protocol/index.js';
import { MessageWriter, readCString } from '../protocol/wire.js';
import { STATEMENT_PREFIX, type PooledStatement, type StatementCache } from '../pool/prepared-statements.js';
import type { ServerConnection } from '../pool/server-connection.js';
import { PoolTraffic, type ClientPrepared } from '../observability/traffic.js';
import { Reply, type Pending, type ReplyKind, type ReplyQueue } from './reply-queue.js';
import { touchesSession } from './session-state.js';

const PARSE_COMPLETE = Buffer.from([BackendType.ParseComplete, 0, 0, 0, 4]);
const CLOSE_COMPLETE = Buffer.from([BackendType.CloseComplete, 0, 0, 0, 4]);
const parseComplete = () => PARSE_COMPLETE;
const closeComplete = () => CLOSE_COMPLETE;
const STATEMENT = 0x53; // 'S' in Describe and Close
const PORTAL = 0x50; // 'P'
const CLOSE_UNNAMED_PORTAL = new MessageWriter(FrontendType.Close, 2).byte(PORTAL).cstring('', 'portal name').done();
const FLUSH = new MessageWriter(FrontendType.Flush, 0).done();
const FAILED = 0x45; // ReadyForQuery 'E'
const RESULT_TYPE_CHANGED = '0A000';

/** What handling a message asks of the relay, as bit flags. */
export const Handled = {
  /** The message may change session state: inspect the session when the transaction ends. */
  TouchesSession: 1,
  /** Hold the client's next messages until the server has answered everything sent so far. */
  Barrier: 2,
} as const;

/** `DEALLOCATE [PREPARE] name` alone: the one SQL form that names a client's protocol-level statement. */
const DEALLOCATE_ONE = /^\s*deallocate\s+(?:prepare\s+)?(?:"((?:[^"]|"")+)"|([a-z_][\w$]*))\s*;?\s*$/i;
/** Statements that drop prepared statements: the client waits for their answer before its next message is mapped. */
const DROPS_STATEMENTS = /deallocate|discard/i;

const errorBytes = (sqlstate: string, message: string) => encodeErrorResponse({ severity: 'ERROR', sqlstate, message });

function localError(sqlstate: string, message: string): () => Buffer {
  const bytes = errorBytes(sqlstate, message);
  return () => bytes;
}

/** A statement name gatehouse never gives out: Describe of it makes the server refuse with 26000. */
const UNUSED_NAME = `${STATEMENT_PREFIX}0`;
const NO_SUCH_STATEMENT = ofStatement(FrontendType.Describe, UNUSED_NAME);
const NO_UNNAMED = errorBytes('26000', 'unnamed prepared statement does not exist');
const NOTHING_MORE: Partial<Pending> = {};

/**
 * A reply-queue entry, every field always present: one object shape for all of them keeps the
 * queue's property reads monomorphic (and a spread completed by a missing field is slow in V8).
 */
function entry(kind: ReplyKind, more: Partial<Omit<Pending, 'kind'>> = NOTHING_MORE): Pending {
  return {
    kind,
    forward: more.forward ?? true,
    local: more.local ?? null,
    undo: more.undo ?? null,
    refused: more.refused ?? null,
    done: more.done,
    error: more.error,
  };
}

function commandComplete(tag: string): Buffer {
  return new MessageWriter(BackendType.CommandComplete, Buffer.byteLength(tag) + 1).cstring(tag, 'command tag').done();
}

const DEALLOCATED = commandComplete('DEALLOCATE');
const ABORTED = encodeErrorResponse({
  severity: 'ERROR',
  sqlstate: '25P02',
  message: 'current transaction is aborted, commands ignored until end of transaction block',
});

/** The answer PostgreSQL gives a DEALLOCATE, in the transaction state it meets. */
function deallocated(status: number): Buffer {
  return status === FAILED ? Buffer.concat([ABORTED, readyForQuery('E')]) : Buffer.concat([DEALLOCATED, readyForQuery(status === 0x54 ? 'T' : 'I')]);
}

export interface MapTarget {
  server: ServerConnection;
  /** Messages for the server, in order. */
  out: Buffer[];
  /** Answers for the client that are due at once. */
  replies: Buffer[];
  /** The transaction status the server last reported. */
  status: number;
}

export class StatementMap implements ClientPrepared {
  private readonly names = new Map<string, PooledStatement>();
  /**
   * The statement prepare() just sent for this client: the Bind that follows its Parse completes that miss and is
   * not counted as a hit (PgDoorman counts one miss, not a miss and a hit, for a statement's first execution).
   */
  private justPrepared: string | null = null;
  /**
   * The client's unnamed statement outlives its transaction in PostgreSQL: its last Parse "" (a copy),
   * and the server that has it now (another client may have replaced it on any server since).
   */
  private unnamed: Buffer | null = null;
  private unnamedOn: ServerConnection | null = null;
  /** Gatehouse refused a message itself (42P05): like PostgreSQL, drop the client's messages until its Sync. */
  private skipping = false;

  constructor(
    private readonly cache: StatementCache,
    private readonly queue: ReplyQueue,
    /** Statements each server keeps (server_prepared_statements_cache_size). */
    private readonly serverCapacity: number,
    /**
     * prepared_statements: false passes named statements through unchanged; the server then holds the
     * client's own names, which pin the client to it (the session is inspected after a named Parse or Close).
     */
    private readonly remap: boolean,
    /** The client's search_path now: part of a statement's identity (it decides what names resolve to). */
    private readonly searchPath: () => string,
    /** The pool's counters: prepared-statement hits and misses are added there and on the server. */
    private readonly traffic: PoolTraffic = new PoolTraffic(),
  ) {}

  get namedCount(): number {
    return this.names.size;
  }

  get anonymousCount(): number {
    return this.unnamed === null ? 0 : 1;
  }

  /** The client's statement names and the Parse messages behind them (shared ones counted once per client). */
  get cacheBytes(): number {
    let bytes = this.unnamed?.length ?? 0;
    for (const [name, stmt] of this.names) bytes += name.length + stmt.parse.length;
    return bytes;
  }

  /** Handle one whole client message `m` (header included); returns Handled flags. */
  handle(type: number, m: Buffer, t: MapTarget): number {
    if (this.skipping) {
      if (type !== FrontendType.Sync) return 0;
      this.skipping = false;
    }
    if (!this.remap) return this.passUnmapped(type, m, t);
    switch (type) {
      case FrontendType.Parse:
        return this.parse(m, t);
      case FrontendType.Bind:
        return this.bind(m, t);
      case FrontendType.Describe:
        return this.describeOrClose(m, t, Reply.Describe);
      case FrontendType.Close:
        return this.describeOrClose(m, t, Reply.Close);
      case FrontendType.Query:
        return this.query(m, t);
      default:
        return this.handleCommon(type, m, t);
    }
  }

  /** Messages that name no statement. */
  private handleCommon(type: number, m: Buffer, t: MapTarget): number {
    switch (type) {
      case FrontendType.Execute:
        return this.pass(m, t, Reply.Execute);
      case FrontendType.Sync:
        return this.pass(m, t, Reply.Sync);
      case FrontendType.FunctionCall:
        return this.pass(m, t, Reply.Query);
      default:
        // Flush, COPY data and anything PostgreSQL will judge itself: no reply of its own to track.
        t.out.push(m);
        return 0;
    }
  }

  /**
   * A Parse while the client holds no server (a driver preparing before it executes, like libpq's
   * PQprepare): when the pool knows the query parses, the name is mapped and ParseComplete answered
   * at once, so preparing never waits for a server (false: it needs one).
   */
  parseWithoutServer(m: Buffer, replies: Buffer[]): boolean {
    if (!this.remap || this.skipping) return false;
    const name = readCString(m, 5, m.length, 'statement name');
    if (name.value === '' || this.names.has(name.value)) return false;
    const stmt = this.cache.known(`${this.searchPath()}\0${m.toString('latin1', name.next)}`);
    if (!stmt?.confirmed || stmt.retired) return false;
    this.names.set(name.value, stmt);
    replies.push(PARSE_COMPLETE);
    return true;
  }

  /** A piece of a CopyData message: it goes on unless gatehouse is skipping to the client's Sync. */
  piece(bytes: Buffer, t: MapTarget): number {
    if (!this.skipping) t.out.push(bytes);
    return 0;
  }

  private passUnmapped(type: number, m: Buffer, t: MapTarget): number {
    switch (type) {
      case FrontendType.Parse:
        this.pass(m, t, Reply.Parse);
        return m[5] !== 0 || touchesSession(readCString(m, 6, m.length, 'query string').value) ? Handled.TouchesSession : 0;
      case FrontendType.Bind:
        return this.pass(m, t, Reply.Bind);
      case FrontendType.Describe:
        return this.pass(m, t, Reply.Describe);
      case FrontendType.Close:
        this.pass(m, t, Reply.Close);
        return m[5] === STATEMENT && m[6] !== 0 ? Handled.TouchesSession : 0;
      case FrontendType.Query:
        this.pass(m, t, Reply.Query);
        return touchesSession(m.toString('latin1', 5, m.length - 1)) ? Handled.TouchesSession : 0;
      default:
        return this.handleCommon(type, m, t);
    }
  }

  /** DISCARD ALL or DEALLOCATE ALL ran: PostgreSQL dropped every statement of the session. */
  forgetAll(): void {
    this.names.clear();
    this.unnamed = null;
    this.unnamedOn = null;
  }

  /** The client let its server go: another client may replace the unnamed statement there before it returns. */
  released(): void {
    this.unnamedOn = null;
  }

  /** A simple Query: PostgreSQL drops the unnamed statement when it runs one (not when it skips it). */
  private simpleQuery(m: Buffer, t: MapTarget): void {
    if (this.unnamed === null) return void this.pass(m, t, Reply.Query);
    const restore = [this.unnamed, this.unnamedOn] as const;
    this.unnamed = null;
    this.unnamedOn = null;
    t.out.push(m);
    this.queue.push(entry(Reply.Query, { undo: () => void ([this.unnamed, this.unnamedOn] = restore) }), t.replies, t.status);
  }

  private parseUnnamed(m: Buffer, t: MapTarget, text: string): number {
    const [before, beforeOn] = [this.unnamed, this.unnamedOn];
    let restore = [before, beforeOn] as const;
    this.unnamed = Buffer.from(m);
    this.unnamedOn = t.server;
    t.out.push(m);
    this.queue.push(
      entry(Reply.Parse, {
        // PostgreSQL drops the old unnamed statement before it parses the new one: a refused Parse leaves none.
        refused: () => void (restore = [null, null]),
        undo: () => void ([this.unnamed, this.unnamedOn] = restore),
      }),
      t.replies,
      t.status,
    );
    return touchesSession(text) ? Handled.TouchesSession : 0;
  }

  /** Bind or Describe of the unnamed statement: make sure this server has the client's, or refuse as PostgreSQL would. */
  private useUnnamed(m: Buffer, t: MapTarget, kind: ReplyKind): number {
    if (this.unnamedOn !== t.server) {
      if (this.unnamed === null) {
        t.out.push(NO_SUCH_STATEMENT);
        this.queue.push(entry(Reply.Describe, { error: { sqlstate: '26000', bytes: NO_UNNAMED } }), t.replies, t.status);
        return 0;
      }
      const before = this.unnamedOn;
      this.unnamedOn = t.server;
      t.out.push(this.unnamed);
      this.queue.push(entry(Reply.Parse, { forward: false, undo: () => void (this.unnamedOn = before) }), t.replies, t.status);
    }
    return this.pass(m, t, kind);
  }

  private pass(m: Buffer, t: MapTarget, kind: ReplyKind): number {
    t.out.push(m);
    this.queue.push(entry(kind), t.replies, t.status);
    return 0;
  }

  private answer(local: (status: number) => Buffer, kind: ReplyKind, undo: (() => void) | null, t: MapTarget): void {
    this.queue.push(entry(kind, { local, undo }), t.replies, t.status);
  }

  private parse(m: Buffer, t: MapTarget): number {
    const { value: name, next: queryAt } = readCString(m, 5, m.length, 'statement name');
    const query = readCString(m, queryAt, m.length, 'query string');
    if (name === '') return this.parseUnnamed(m, t, query.value);
    if (this.names.has(name)) {
      // The server judges the client's Parse under the shared name it already has, in PostgreSQL's order of checks
      // (syntax, aborted transaction, then 42P05), and aborts a transaction and skips to Sync as PostgreSQL would.
      // In an aborted transaction PostgreSQL refuses the Parse (25P02) unless its text does not parse (42601): a
      // server that lacks the statement cannot be given it then, so the client's Parse goes under a name never used.
      let target = UNUSED_NAME;
      if (t.status !== FAILED || t.server.statements.has(this.names.get(name)!.name)) {
        const stmt = this.resolve(name, Reply.Parse, t);
        if (stmt === 'answered') return 0;
        target = stmt!.name;
      }
      t.out.push(renamed(m, 5, queryAt, target));
      this.queue.push(entry(Reply.Parse, { error: { sqlstate: '42P05', bytes: errorBytes('42P05', `prepared statement "${name}" already exists`) } }), t.replies, t.status);
      return 0;
    }
    const key = `${this.searchPath()}\0${m.toString('latin1', queryAt)}`;
    const stmt = this.cache.statement(key, m.subarray(queryAt, query.next), m.subarray(query.next), touchesSession(query.value));
    this.names.set(name, stmt);
    const forget = () => {
      if (this.names.get(name) === stmt) this.names.delete(name);
    };
    const { statements } = t.server;
    if (statements.has(stmt.name) && t.status !== FAILED) {
      statements.touch(stmt.name);
      this.answer(parseComplete, Reply.Parse, forget, t);
      return 0;
    }
    if (statements.has(stmt.name)) {
      // In a failed transaction PostgreSQL refuses the Parse (25P02): let the server say so.
      t.out.push(renamed(m, 5, queryAt, stmt.name));
      this.queue.push(entry(Reply.Parse, { undo: forget }), t.replies, t.status);
      return 0;
    }
    this.prepare(stmt, t, true, forget);
    return 0;
  }

  /** Send `stmt`'s Parse to the server (evicting its least recently used statement when full). */
  private prepare(stmt: PooledStatement, t: MapTarget, forward: boolean, undo: (() => void) | null): void {
    const { statements } = t.server;
    const victim = statements.victim(this.serverCapacity);
    if (victim !== null) {
      statements.delete(victim);
      t.out.push(ofStatement(FrontendType.Close, victim));
      this.queue.push(entry(Reply.Close, { forward: false, undo: () => statements.add(victim) }), t.replies, t.status);
    }
    statements.add(stmt.name);
    t.out.push(stmt.parse);
    t.server.traffic.preparedMisses++;
    this.traffic.preparedMisses++;
    this.justPrepared = stmt.name;
    const unprepare = () => {
      statements.delete(stmt.name);
      undo?.();
    };
    this.queue.push(entry(Reply.Parse, { forward, undo: unprepare, done: () => void (stmt.confirmed = true) }), t.replies, t.status);
  }

  /**
   * The server statement for a client name, prepared on the attached server if it lacks it; null
   * when the client never prepared the name (or gatehouse answered for it: `answered` true).
   */
  private resolve(name: string, kind: ReplyKind, t: MapTarget): PooledStatement | 'answered' | null {
    let stmt = this.names.get(name);
    if (!stmt) return null;
    const { statements } = t.server;
    if (stmt.retired) {
      const fresh = this.cache.replacement(stmt);
      this.names.set(name, fresh);
      if (!statements.has(stmt.name)) {
        // PostgreSQL would refuse the old statement once more; the client's next use gets the fresh one.
        this.answer(localError(RESULT_TYPE_CHANGED, 'cached plan must not change result type'), kind, null, t);
        this.skipping = true;
        return 'answered';
      }
      stmt = fresh;
    }
    if (statements.has(stmt.name)) {
      statements.touch(stmt.name);
      if (kind === Reply.Bind) this.bindFound(stmt, t);
    } else {
      this.prepare(stmt, t, false, null);
      // This Bind's own miss: the next Bind of it may be a hit.
      if (kind === Reply.Bind) this.justPrepared = null;
    }
    return stmt;
  }

  /** A Bind found its statement on the server: a hit, unless this client's Parse just put it there. */
  private bindFound(stmt: PooledStatement, t: MapTarget): void {
    if (this.justPrepared === stmt.name) {
      this.justPrepared = null;
      return;
    }
    t.server.traffic.preparedHits++;
    this.traffic.preparedHits++;
  }

  /** After DDL, PostgreSQL refuses a statement whose result type changed: retire it, and re-point this client's name. */
  private retireOn(name: string, stmt: PooledStatement): (sqlstate: string) => void {
    return (sqlstate) => {
      if (sqlstate !== RESULT_TYPE_CHANGED || this.names.get(name) !== stmt) return;
      this.names.set(name, this.cache.replacement(stmt));
    };
  }

  private bind(m: Buffer, t: MapTarget): number {
    const portal = readCString(m, 5, m.length, 'portal name');
    const name = readCString(m, portal.next, m.length, 'statement name');
    if (name.value === '') return this.useUnnamed(m, t, Reply.Bind);
    const known = this.names.get(name.value);
    if (known && t.status === FAILED && !t.server.statements.has(known.name)) {
      // PostgreSQL checks the parameter count before it refuses a Bind in an aborted transaction (25P02); a re-Parse
      // here would only be refused with 25P02, so a wrong count is answered as PostgreSQL would.
      const supplied = bindParameterCount(m, name.next);
      if (supplied !== known.params) {
        const message = `bind message supplies ${supplied} parameters, but prepared statement "${name.value}" requires ${known.params}`;
        this.answer(localError('08P01', message), Reply.Bind, null, t);
        this.skipping = true;
        return 0;
      }
    }
    const stmt = this.resolve(name.value, Reply.Bind, t);
    if (stmt === 'answered') return 0;
    if (stmt === null) return this.pass(m, t, Reply.Bind);
    t.out.push(renamed(m, portal.next, name.next, stmt.name));
    this.queue.push(entry(Reply.Bind, { refused: this.retireOn(name.value, stmt) }), t.replies, t.status);
    return stmt.touchesSession ? Handled.TouchesSession : 0;
  }

  private describeOrClose(m: Buffer, t: MapTarget, kind: typeof Reply.Describe | typeof Reply.Close): number {
    if (m.length < 6 || m[5] !== STATEMENT) return this.pass(m, t, kind);
    const name = readCString(m, 6, m.length, 'statement name');
    if (name.value === '') {
      if (kind === Reply.Describe) return this.useUnnamed(m, t, kind);
      this.unnamed = null;
      return this.pass(m, t, kind);
    }
    if (!this.names.has(name.value)) return this.pass(m, t, kind);
    if (kind === Reply.Close) {
      // The server keeps the shared statement for others; the client's name is gone, as PostgreSQL would have it.
      const stmt = this.names.get(name.value)!;
      this.names.delete(name.value);
      this.answer(closeComplete, Reply.Close, () => this.names.set(name.value, stmt), t);
      return 0;
    }
    const stmt = this.resolve(name.value, kind, t);
    if (stmt === 'answered') return 0;
    t.out.push(renamed(m, 6, name.next, stmt!.name));
    this.queue.push(entry(kind, { refused: this.retireOn(name.value, stmt!) }), t.replies, t.status);
    return 0;
  }

  private query(m: Buffer, t: MapTarget): number {
    const text = m.toString('latin1', 5, m.length - 1);
    const drops = DROPS_STATEMENTS.test(text);
    if (drops) {
      const one = DEALLOCATE_ONE.exec(text);
      const name = one && (one[1] !== undefined ? Buffer.from(one[1].replace(/""/g, '"'), 'latin1').toString('utf8') : one[2].toLowerCase());
      if (name && this.names.has(name)) {
        // Answered when its turn comes (the barrier holds what follows): like any simple query it drops the unnamed
        // statement and the unnamed portal (the server's by a hidden Close, flushed because the answer waits for its
        // CloseComplete; closing a portal that is not there is no error), and it deallocates only outside an aborted
        // transaction (there PostgreSQL refuses it).
        const answer = (status: number) => {
          this.unnamed = null;
          this.unnamedOn = null;
          if (status !== FAILED) this.names.delete(name);
          return deallocated(status);
        };
        t.out.push(CLOSE_UNNAMED_PORTAL, FLUSH);
        this.queue.push(entry(Reply.Close, { forward: false }), t.replies, t.status);
        this.answer(answer, Reply.Query, null, t);
        return Handled.Barrier;
      }
    }
    this.simpleQuery(m, t);
    return (touchesSession(text) ? Handled.TouchesSession : 0) | (drops ? Handled.Barrier : 0);
  }
}

/** `m` with the C string at [from, to) replaced by `name` (the rest copied as is). */
function renamed(m: Buffer, from: number, to: number, name: string): Buffer {
  const nameLength = Buffer.byteLength(name);
  const out = Buffer.allocUnsafe(m.length - (to - from) + nameLength + 1);
  m.copy(out, 0, 0, from);
  out.write(name, from, 'latin1');
  out[from + nameLength] = 0;
  m.copy(out, from + nameLength + 1, to);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/** The parameter count of a Bind whose parameter format codes start at `at`. */
function bindParameterCount(m: Buffer, at: number): number {
  if (at + 2 > m.length) return -1;
  const formats = m.readInt16BE(at);
  const countAt = at + 2 + 2 * formats;
  return countAt + 2 <= m.length ? m.readInt16BE(countAt) : -1;
}

/** Describe or Close (`type`) of the prepared statement `name`. */
function ofStatement(type: typeof FrontendType.Describe | typeof FrontendType.Close, name: string): Buffer {
  return new MessageWriter(type, 1 + Buffer.byteLength(name) + 1).byte(STATEMENT).cstring(name, 'statement name').done();
}
