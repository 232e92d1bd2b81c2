/**
 * The data path after authentication, with backpressure both ways.
 * - Session pooling: bytes flow unchanged, in the chunks they arrived in; only message headers are
 *   scanned (in place), to know at the end whether the server is idle and can be reset and reused.
 * - Transaction pooling: a server is attached at the client's first message (synchronously when an
 *   idle one with matching settings is waiting) and released at the next idle ReadyForQuery. The
 *   client's stream is read as whole messages (ClientFramer) so that its statement names can be
 *   rewritten (StatementMap); unchanged messages go on as views of the chunks. Server replies are
 *   scanned in place (ReplyScanner): what gatehouse asked for itself is dropped, its own answers are
 *   inserted where PostgreSQL's would have been (ReplyQueue), and tags that change session state
 *   arm one look at the session when the transaction ends (session-state.ts): what the client set
 *   follows it, and what cannot move (LISTEN, advisory locks, temporary tables, held cursors, SQL
 *   prepared statements) pins it to its server until it lets go.
 * A client's Terminate is never forwarded: the server connection outlives the client.
 *
 * The relay decides nothing about the client's fate: it reports how it ended (RelayEnd) and the
 * session turns that into a machine event.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { PoolMode } from '../config/types.js';
import { BackendType, FrontendType, ProxyError, readyForQuery } from '../protocol/index.js';
import type { ReleaseAction, ServerPool } from '../pool/pool.js';
import type { ServerConnection } from '../pool/server-connection.js';
import { ClientFramer } from './client-framer.js';
import { MessageScanner } from './message-scanner.js';
import { ReplyQueue } from './reply-queue.js';
import { ReplyScanner } from './reply-scanner.js';
import { INSPECT_SQL, mayChangeSession, sessionSnapshot, tagEffect, type PinReason, type TagEffect } from './session-state.js';
import { Handled, StatementMap, type MapTarget } from './statement-map.js';
import { MessageWriter } from '../protocol/wire.js';
import { ClientTraffic, errorGroupAt, PoolTraffic } from '../observability/traffic.js';
import { RelayCounters } from './relay-counters.js';

export type RelayEnd =
  | { kind: 'client-closed' }
  /** The server connection ended; what the client was sent up to then (see the client-session machine's backend.lost). */
  | { kind: 'server-lost'; message: string; midMessage: boolean; serverErrorRelayed: boolean }
  /** The client sent a message the relay cannot frame. */
  | { kind: 'client-violation'; message: string }
  /** Transaction pooling: no server for the next transaction. */
  | { kind: 'no-server'; error: ProxyError }
  /** A bug: an exception that is not a ProxyError. */
  | { kind: 'internal-error'; error: unknown }
  /** The client sent nothing for idle_transaction_timeout while its session was inside a transaction. */
  | { kind: 'idle-in-transaction' }
  /** The session ended for another reason (the machine finished it). */
  | { kind: 'stopped' };

export type RelayPool = Pick<ServerPool, 'acquire' | 'acquireIdleMatching' | 'release' | 'statements'> & { traffic?: PoolTraffic };

/** Transaction pooling's settings (docs/pooling.md). */
export interface TransactionOptions {
  /** Remap named prepared statements (prepared_statements). */
  remap: boolean;
  /** server_prepared_statements_cache_size. */
  serverCacheSize: number;
  /** cleanup_server_connections: session settings follow the client and are undone for the next one. */
  cleanup: boolean;
  /** How long the look at a session may take (ms). */
  inspectTimeoutMs: number;
}

export const DEFAULT_TRANSACTION_OPTIONS: TransactionOptions = { remap: true, serverCacheSize: 8192, cleanup: true, inspectTimeoutMs: 5_000 };

export interface RelayOptions {
  client: Socket | TLSSocket;
  mode: PoolMode;
  pool: RelayPool;
  /** The client's session settings, applied on each server it gets; kept current by transaction pooling. */
  settings: Map<string, string>;
  /** The client connection's id, recorded on the servers it holds. */
  holder: string;
  /** The client's counters (the session's; a fresh set when absent). */
  traffic?: ClientTraffic;
  logger: Logger;
  transaction?: TransactionOptions;
  /** How the relay ended, unless the session stopped it. */
  onEnd: (end: Exclude<RelayEnd, { kind: 'stopped' }>) => void;
  /** The attached server changed (null: none attached); used for cancel routing. */
  onServer: (server: ServerConnection | null) => void;
  /** Transaction pooling: what pins the client to its server changed (empty: nothing any more; `ending`: the relay ended). */
  onPinned?: (pins: PinReason[], ending: boolean) => void;
  /** idle_transaction_timeout (ms); 0 or absent: a client may stay idle in a transaction for ever. */
  idleTransactionTimeoutMs?: number;
}

const READY_IDLE = 0x49; // 'I'
const READY_FOR_QUERY_IDLE = readyForQuery('I');
const NUL = 0;
const EMPTY = Buffer.alloc(0);

interface Pending {
  type: number;
  bytes: Buffer;
  piece: boolean;
}

export class Relay {
  private server: ServerConnection | null = null;
  private ended: RelayEnd | null = null;
  /** The client is paused until the attached server's socket drains. */
  private clientHeld = false;
  private txStatus = READY_IDLE;
  /**
   * Extended-protocol messages (Parse, Bind, Describe, Execute, Close, Flush) went to the server after
   * the client's last sync point: the server holds them until a Sync, whatever ReadyForQuery says
   * about earlier ones. COPY data belongs to the Query or Execute that started the COPY.
   */
  private afterSync = false;

  // Session pooling: header scanning only.
  private readonly fromClient: MessageScanner;
  private readonly fromServer: MessageScanner;
  /** Sync points (Query, Sync, FunctionCall) sent and not yet answered by ReadyForQuery. */
  private outstanding = 0;
  /** Set while scanning a client chunk: where a Terminate starts in it, or null. */
  private terminateAt: number | null = null;

  // Transaction pooling: whole client messages, tracked replies.
  private readonly tx: TransactionOptions;
  private readonly framer: ClientFramer;
  private readonly replies: ReplyScanner;
  private readonly queue = new ReplyQueue();
  private readonly map: StatementMap;
  private readonly target: MapTarget;
  /** Client messages not yet handled (waiting for a server, an answer, or a look at the session). */
  private input: Pending[] = [];
  private inputAt = 0;
  private terminated = false;
  private acquiring = false;
  private inspecting = false;
  /** A statement that drops prepared statements is in flight: map nothing more until it is answered. */
  private barrier = false;
  /** Something this transaction did may have changed session state: look when it ends. */
  private inspectArmed = false;
  private pins: PinReason[] = [];
  /** Answers due at a server message's end (reused), and that message, rebuilt only if an error held back must go on. */
  private readonly due: Buffer[] = [];
  private lastType = 0;
  private lastHead: Buffer = Buffer.alloc(0);
  private readonly lastMessage = () => new MessageWriter(this.lastType, this.lastHead.length).bytes(this.lastHead).done();
  /** The type of the last whole message the server sent (an ErrorResponse last: PostgreSQL said why it went away). */
  private lastServerType = 0;
  /** Since the last Sync, only Parses answered without a server were sent (see answeredWithoutServer). */
  private parsedWithoutServer = false;

  /**
   * idle_transaction_timeout: armed when a ReadyForQuery T or E leaves the session waiting for the client, disarmed
   * by the client's next bytes. One timer per relay, made on first use and re-armed with refresh(); one that fires
   * while disarmed does nothing.
   */
  private idleTxTimer: NodeJS.Timeout | null = null;
  private idleTxArmed = false;
  /** A ReadyForQuery ended in the server chunk being scanned. */
  private readyArrived = false;
  private readonly onIdleTxTimeout = () => {
    if (this.idleTxArmed) this.end({ kind: 'idle-in-transaction' });
  };
  /** Queries, transactions, errors and bytes, counted as plain numbers (relay-counters.ts). */
  private readonly counts: RelayCounters;
  /** Session pooling: the server chunk being scanned (an ErrorResponse's code is read from it in place). */
  private serverChunk: Buffer = EMPTY;

  private readonly onClientData = (chunk: Buffer) => (this.opts.mode === 'session' ? this.sessionClientData(chunk) : this.txClientData(chunk));
  private readonly onServerData = (chunk: Buffer) => (this.opts.mode === 'session' ? this.sessionServerData(chunk) : this.txServerData(chunk));
  private readonly onServerClose = () => this.serverLost('server closed the connection unexpectedly');
  private readonly onClientClose = () => this.end({ kind: 'client-closed' });
  private readonly onServerDrain = () => this.releaseClient();
  private readonly onClientDrain = () => this.server?.socket.resume();

  constructor(private readonly opts: RelayOptions) {
    this.fromClient = new MessageScanner(this.sessionClientMessage);
    this.fromServer = new MessageScanner(this.sessionServerMessage);
    this.tx = opts.transaction ?? DEFAULT_TRANSACTION_OPTIONS;
    this.counts = new RelayCounters(opts.pool.traffic ?? new PoolTraffic(), opts.traffic ?? new ClientTraffic());
    this.framer = new ClientFramer((type, bytes, piece) => this.received(type, bytes, piece));
    this.replies = new ReplyScanner({ starts: (type) => this.queue.forwards(type), ended: (type, head) => this.replyEnded(type, head) });
    this.map = new StatementMap(opts.pool.statements, this.queue, this.tx.serverCacheSize, this.tx.remap, () => opts.settings.get('search_path') ?? '', this.counts.pool);
    this.counts.client.prepared = this.map;
    this.target = { server: null as unknown as ServerConnection, out: [], replies: [], status: READY_IDLE };
  }

  /** Start relaying; `first` is the server the client was welcomed with, `early` bytes the client already sent. */
  start(first: ServerConnection, early: Buffer): void {
    const { client } = this.opts;
    client.on('data', this.onClientData);
    client.on('close', this.onClientClose);
    client.on('end', this.onClientClose);
    client.on('error', this.onClientClose);
    client.on('drain', this.onClientDrain);
    if (this.opts.mode === 'session') this.attach(first);
    else this.opts.pool.release(first, 'reuse');
    if (early.length > 0) this.onClientData(early);
    if (!this.ended && !this.holdsInput() && !this.clientHeld) client.resume();
  }

  /**
   * waiting: a server is being acquired; active: a transaction or a query is in progress on the attached server;
   * idle: neither (a session-pooled client between transactions holds its server and is idle).
   */
  get activity(): 'idle' | 'active' | 'waiting' {
    if (this.acquiring) return 'waiting';
    return this.server && !this.idle() ? 'active' : 'idle';
  }

  /** The session is over for a reason the relay did not see: let the server go. */
  stop(): void {
    this.end({ kind: 'stopped' });
  }

  // ---- session pooling ----------------------------------------------------------------------

  private readonly sessionClientMessage = (type: number, _first: number, end: number): boolean => {
    if (type === FrontendType.Terminate) {
      // Where the Terminate starts in this chunk (negative: it began in a chunk already forwarded).
      this.terminateAt = end - 1 - this.fromClient.messageLength;
      return false;
    }
    this.noteSent(type);
    this.counts.sent(this.server!.traffic, false);
    if (type === FrontendType.Query || type === FrontendType.Sync || type === FrontendType.FunctionCall) this.outstanding++;
    return true;
  };

  private readonly sessionServerMessage = (type: number, first: number, end: number): boolean => {
    this.lastServerType = type;
    if (type === BackendType.ReadyForQuery) {
      this.txStatus = first;
      this.readyArrived = true;
      this.readyForQuery(first);
    } else if (type === BackendType.ErrorResponse) {
      // Its code is read where the message lies whole in this chunk; one split across reads counts as 'other'.
      const start = end - 1 - this.fromServer.messageLength;
      this.counts.error(start >= 0 ? errorGroupAt(this.serverChunk, start + 5, end) : 5, this.server!.traffic);
    }
    return true;
  };

  private sessionClientData(chunk: Buffer): void {
    if (this.ended) return;
    this.idleTxArmed = false;
    this.counts.received(chunk.length);
    this.terminateAt = null;
    try {
      this.fromClient.scan(chunk);
    } catch (err) {
      return this.failClient(err);
    }
    // No byte of a Terminate is ever forwarded: one cut across chunks is held back until it is whole.
    const terminateAt = this.terminateAt;
    if (terminateAt !== null) {
      if (terminateAt > 0) this.writeServer(chunk.subarray(0, terminateAt));
      return this.end({ kind: 'client-closed' });
    }
    const partial = this.fromClient.partial;
    if (partial.type !== FrontendType.Terminate) return this.writeServer(chunk);
    if (partial.start > 0) this.writeServer(chunk.subarray(0, partial.start));
  }

  private sessionServerData(chunk: Buffer): void {
    if (this.ended) return;
    this.server!.traffic.received += chunk.length;
    this.serverChunk = chunk;
    try {
      this.fromServer.scan(chunk);
    } catch (err) {
      return this.failServer(err);
    } finally {
      this.serverChunk = EMPTY;
    }
    this.writeClient(chunk);
    if (this.readyArrived) this.readyEnded();
  }

  // ---- transaction pooling ------------------------------------------------------------------

  private txClientData(chunk: Buffer): void {
    if (this.ended) return;
    this.idleTxArmed = false;
    this.counts.received(chunk.length);
    try {
      this.framer.push(chunk);
      this.pump();
    } catch (err) {
      this.failClient(err);
    }
  }

  private received(type: number, bytes: Buffer, piece: boolean): void {
    if (this.terminated) return;
    if (type === FrontendType.Terminate && !piece) this.terminated = true;
    else this.input.push({ type, bytes, piece });
  }

  private holdsInput(): boolean {
    return this.acquiring || this.inspecting || this.barrier;
  }

  /** Handle the client's messages in order, as far as the state allows. */
  private pump(): void {
    const t = this.target;
    while (this.inputAt < this.input.length && !this.ended && !this.holdsInput()) {
      if (!this.server && this.answeredWithoutServer(this.input[this.inputAt])) {
        this.inputAt++;
        continue;
      }
      if (!this.server && !this.attachForTransaction()) break;
      this.parsedWithoutServer = false;
      const { type, bytes, piece } = this.input[this.inputAt++];
      t.server = this.server!;
      t.status = this.txStatus;
      const handled = piece ? this.map.piece(bytes, t) : this.map.handle(type, bytes, t);
      if (!piece) {
        this.noteSent(type);
        this.counts.sent(this.server!.traffic, true);
        if (type === FrontendType.Query || type === FrontendType.Sync || type === FrontendType.FunctionCall) this.outstanding++;
      }
      if (handled & Handled.TouchesSession) this.inspectArmed = true;
      // Nothing owed any more (a local answer went out at once): nothing to wait for.
      if (handled & Handled.Barrier && this.queue.owes) this.barrier = true;
    }
    if (this.inputAt === this.input.length) {
      this.input = [];
      this.inputAt = 0;
    }
    this.flush();
    if (this.ended) return;
    if (this.terminated && this.input.length === 0) return this.end({ kind: 'client-closed' });
    this.settle();
  }

  /**
   * Between transactions, a Parse the pool knows is answered without a server, and so are the Flush
   * and the Sync that end such Parses (ReadyForQuery 'I': no transaction is open). A driver that
   * prepares before it executes (libpq's PQprepare) then never waits for a server to prepare.
   */
  private answeredWithoutServer(p: Pending): boolean {
    if (p.piece) return false;
    if (p.type === FrontendType.Parse) {
      if (!this.map.parseWithoutServer(p.bytes, this.target.replies)) return false;
      this.afterSync = this.parsedWithoutServer = true;
      return true;
    }
    if (!this.parsedWithoutServer) return false;
    if (p.type === FrontendType.Sync) {
      this.target.replies.push(READY_FOR_QUERY_IDLE);
      this.afterSync = this.parsedWithoutServer = false;
      return true;
    }
    return p.type === FrontendType.Flush;
  }

  /** Write what handling produced: answers due to the client, then messages to the server. */
  private flush(): void {
    const t = this.target;
    if (t.replies.length > 0) {
      this.writeClient(joined(t.replies));
      t.replies = [];
    }
    if (t.out.length > 0) {
      this.writeServer(joined(t.out));
      t.out = [];
    }
  }

  /** Attach an idle server at once, or start acquiring one (false: the input waits for it). */
  private attachForTransaction(): boolean {
    const idle = this.opts.pool.acquireIdleMatching(this.opts.settings, this.opts.holder);
    if (idle) {
      this.counts.client.waited(0, this.counts.pool);
      this.attach(idle);
      return true;
    }
    this.acquiring = true;
    this.opts.client.pause();
    const waitingSince = (this.counts.client.waitingSince = performance.now());
    this.opts.pool.acquire(this.opts.settings, this.opts.holder).then(
      (server) => {
        this.acquiring = false;
        this.counts.client.waited((performance.now() - waitingSince) * 1000, this.counts.pool);
        if (this.ended) return this.opts.pool.release(server, 'reuse');
        this.attach(server);
        if (!this.clientHeld) this.opts.client.resume();
        this.pump();
      },
      (err: unknown) => {
        this.acquiring = false;
        this.counts.client.waitingSince = 0;
        this.end(err instanceof ProxyError ? { kind: 'no-server', error: err } : { kind: 'internal-error', error: err });
      },
    );
    return false;
  }

  private txServerData(chunk: Buffer): void {
    if (this.ended) return;
    this.server!.traffic.received += chunk.length;
    let out: Buffer[];
    try {
      out = this.replies.scan(chunk);
    } catch (err) {
      return this.failServer(err);
    }
    if (out.length > 0) this.writeClient(joined(out));
    if (this.readyArrived) this.readyEnded();
    if (this.barrier && !this.queue.owes) {
      this.barrier = false;
      return this.pump();
    }
    this.settle();
  }

  private replyEnded(type: number, head: Buffer): void {
    let sqlstate: string | null = null;
    this.lastServerType = type;
    if (type === BackendType.ReadyForQuery) {
      this.txStatus = head[0];
      this.readyArrived = true;
      this.readyForQuery(head[0]);
    } else if (type === BackendType.CommandComplete) {
      if (mayChangeSession(head)) this.tagSeen(tagEffect(head.toString('latin1', 0, head.indexOf(NUL) >>> 0)));
    } else if (type === BackendType.ErrorResponse) {
      sqlstate = errorCode(head);
      this.counts.error(errorGroupAt(head, 0, head.length), this.server!.traffic);
    }
    // Most messages (DataRows) complete nothing: no work and no allocation for them.
    if (!this.queue.owes) return;
    this.lastType = type;
    this.lastHead = head;
    this.queue.answered(type, sqlstate, this.due, this.txStatus, this.lastMessage);
    if (this.due.length === 0) return;
    for (const m of this.due) this.replies.insert(m);
    this.due.length = 0;
  }

  private tagSeen(effect: TagEffect): void {
    if (effect.inspect && (this.tx.cleanup || !effect.settingsOnly)) this.inspectArmed = true;
    if (effect.statementsGone) {
      this.server!.statements.clear();
      this.map.forgetAll();
    }
  }

  /** Idle between transactions: the server can be let go. */
  private idle(): boolean {
    return this.txStatus === READY_IDLE && this.waitingForClient();
  }

  /** Everything the client sent is answered and nothing is half-way: the session waits for the client. */
  private waitingForClient(): boolean {
    if (this.opts.mode === 'session') {
      return !this.afterSync && this.outstanding === 0 && this.fromServer.atBoundary && this.fromClient.atBoundary;
    }
    return this.queue.empty && !this.afterSync && this.replies.atBoundary && this.framer.atBoundary && this.input.length === 0 && !this.holdsInput();
  }

  /** A ReadyForQuery went to the client: inside a transaction with nothing more to do, the idle timeout starts. */
  private readyEnded(): void {
    this.readyArrived = false;
    const ms = this.opts.idleTransactionTimeoutMs;
    if (!ms || this.ended || this.txStatus === READY_IDLE || !this.waitingForClient()) return;
    this.idleTxArmed = true;
    if (this.idleTxTimer) this.idleTxTimer.refresh();
    else this.idleTxTimer = setTimeout(this.onIdleTxTimeout, ms).unref();
  }

  /** The transaction may be over: look at the session if it asked for it, then let the server go unless pinned. */
  private settle(): void {
    if (!this.server || !this.idle()) return;
    if (this.inspectArmed) return this.inspect(this.server);
    if (this.pins.length === 0) this.detach('reuse');
  }

  private inspect(server: ServerConnection): void {
    this.inspectArmed = false;
    this.inspecting = true;
    // The query takes the socket's data until it is answered; the relay reads again after it.
    // A NOTIFY for a listening client may arrive while gatehouse asks: it is the client's.
    server.runSimpleQuery(INSPECT_SQL, this.tx.inspectTimeoutMs, (m) => this.writeClient(m)).then(
      (result) => {
        this.inspecting = false;
        if (this.ended) return;
        if (result.error || result.rows.length !== 1) {
          return this.serverLost(`could not read the session's state: ${result.error?.message ?? 'no row'}`);
        }
        const snapshot = sessionSnapshot(result.rows[0]);
        if (this.tx.cleanup) {
          replaceAll(this.opts.settings, snapshot.settings);
          replaceAll(server.settings, snapshot.settings);
        }
        if (snapshot.pins.join() !== this.pins.join()) {
          this.pins = snapshot.pins;
          this.opts.onPinned?.(snapshot.pins, false);
        }
        server.read(this.onServerData, this.onServerClose);
        if (this.pins.length === 0) this.detach('reuse');
        this.pump();
      },
      (err: Error) => {
        this.inspecting = false;
        this.serverLost(`could not read the session's state: ${err.message}`);
      },
    );
  }

  // ---- both ---------------------------------------------------------------------------------

  /** A ReadyForQuery answered one sync point (Query, Sync, FunctionCall). */
  private readyForQuery(status: number): void {
    if (this.outstanding > 0) this.outstanding--;
    this.counts.readyForQuery(status, this.server!.traffic, this.outstanding > 0);
  }

  private noteSent(type: number): void {
    if (type === FrontendType.Query || type === FrontendType.Sync || type === FrontendType.FunctionCall) this.afterSync = false;
    else if (type !== FrontendType.CopyData && type !== FrontendType.CopyDone && type !== FrontendType.CopyFail) this.afterSync = true;
  }

  private writeServer(data: Buffer): void {
    if (this.ended) return;
    const server = this.server!;
    server.traffic.sent += data.length;
    if (!server.socket.write(data) && !this.clientHeld) {
      this.clientHeld = true;
      this.opts.client.pause();
      server.socket.once('drain', this.onServerDrain);
    }
  }

  private writeClient(data: Buffer): void {
    this.counts.delivered(data.length);
    if (!this.opts.client.write(data)) this.server?.socket.pause();
  }

  private releaseClient(): void {
    if (!this.clientHeld) return;
    this.clientHeld = false;
    if (!this.ended && !this.acquiring) this.opts.client.resume();
  }

  private failClient(err: unknown): void {
    this.end(err instanceof ProxyError ? { kind: 'client-violation', message: err.message } : { kind: 'internal-error', error: err });
  }

  private failServer(err: unknown): void {
    if (err instanceof ProxyError) this.serverLost(err.message);
    else this.end({ kind: 'internal-error', error: err });
  }

  /** The server is gone: with the facts the machine needs to decide whether the client can still be told. */
  private serverLost(message: string): void {
    const midMessage = this.opts.mode === 'session' ? !this.fromServer.atBoundary : !this.replies.atBoundary;
    this.end({ kind: 'server-lost', message, midMessage, serverErrorRelayed: this.lastServerType === BackendType.ErrorResponse });
  }

  private attach(server: ServerConnection): void {
    this.server = server;
    this.counts.client.attached = true;
    if (this.opts.mode === 'session') server.traffic.activeSince = performance.now();
    server.read(this.onServerData, this.onServerClose);
    this.opts.onServer(server);
  }

  private detach(action: ReleaseAction): void {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.counts.client.attached = false;
    // Nothing is outstanding once a transaction-pooled server goes back (a local Sync answer is not counted).
    this.outstanding = 0;
    this.map.released();
    server.unread();
    if (this.clientHeld) server.socket.off('drain', this.onServerDrain);
    this.releaseClient();
    this.opts.onServer(null);
    this.opts.pool.release(server, action);
  }

  /** How a server still attached at the end goes back: only an idle one after a clean end is reused. */
  private finalRelease(end: RelayEnd): ReleaseAction {
    const clean = end.kind === 'client-closed' || end.kind === 'stopped';
    if (!clean || this.inspecting || !this.idle()) return 'close';
    // The next client must not see this one's session: session pooling, or a client pinned by what it holds.
    return this.opts.mode === 'session' || this.pins.length > 0 ? 'reset' : 'reuse';
  }

  private end(end: RelayEnd): void {
    if (this.ended) return;
    const release = this.server ? this.finalRelease(end) : 'close';
    this.ended = end;
    if (this.idleTxTimer) clearTimeout(this.idleTxTimer);
    const { client } = this.opts;
    client.off('data', this.onClientData);
    client.off('close', this.onClientClose);
    client.off('end', this.onClientClose);
    client.off('error', this.onClientClose);
    client.off('drain', this.onClientDrain);
    client.on('error', () => {});
    this.input = [];
    this.queue.clear();
    if (end.kind === 'server-lost' || end.kind === 'client-violation') this.opts.logger.info({ end: end.kind, message: end.message }, 'session ended');
    this.detach(release);
    if (this.pins.length > 0) {
      this.pins = [];
      this.opts.onPinned?.([], true);
    }
    if (end.kind !== 'stopped') this.opts.onEnd(end);
  }
}

/** The SQLSTATE ('C' field) among the first bytes of an ErrorResponse body. */
function errorCode(head: Buffer): string | null {
  let i = 0;
  while (i < head.length && head[i] !== NUL) {
    const end = head.indexOf(NUL, i + 1);
    if (end < 0) return null;
    if (head[i] === 0x43) return head.toString('latin1', i + 1, end);
    i = end + 1;
  }
  return null;
}

/**
 * One buffer for one write (backpressure is judged per write): views that lie side by side in one
 * chunk are joined without copying, which covers messages passed through unchanged; anything else is copied.
 */
function joined(parts: Buffer[]): Buffer {
  if (parts.length === 1) return parts[0];
  let merged = parts[0];
  for (let i = 1; i < parts.length; i++) {
    const next = parts[i];
    if (next.buffer !== merged.buffer || merged.byteOffset + merged.length !== next.byteOffset) return Buffer.concat(parts);
    merged = Buffer.from(merged.buffer, merged.byteOffset, merged.length + next.length);
  }
  return merged;
}


function replaceAll(target: Map<string, string>, source: ReadonlyMap<string, string>): void {
  target.clear();
  for (const [k, v] of source) target.set(k, v);
}
