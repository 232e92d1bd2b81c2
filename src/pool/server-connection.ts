/**
 * An established, authenticated backend connection (the server-handshake machine reached `ready`)
 * and its one explicit state:
 *
 *   (connecting: a server-handshake machine, counted by the pool) → idle ⇄ active → resetting → idle
 *                                                                    any → closing → closed
 *
 * The pool moves it between idle, active and resetting; whoever holds it while active (the session)
 * reads and writes its socket. `closing` is entered once, by close(), whoever calls it.
 *
 * The socket has one 'data' listener for the connection's whole life, which hands each chunk to whoever
 * reads now (read()): the pool's watch while idle, the holder's relay, a query gatehouse runs itself.
 * Moving a server between idle and a holder, once per transaction in transaction pooling, then adds and
 * removes no listener and neither pauses nor resumes the socket (a resume costs a tick of its own).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServerTlsMode, ServerTlsNegotiation } from '../../machines/server-handshake.types.js';
import { BackendType, MessageFramer, parseBackendMessage, query, type ErrorFields } from '../protocol/index.js';
import { MessageWriter } from '../protocol/wire.js';
import { ServerTraffic } from '../observability/traffic.js';
import type { ServerTlsMaterial } from '../tls/server-tls.js';
import { ServerStatements } from './prepared-statements.js';

/** Takes the server's bytes, chunk by chunk, as they arrive. */
export type ServerReader = (chunk: Buffer) => void;

export interface BackendKey {
  processId: number;
  secretKey: Buffer;
}

/** How the connection was reached: cancel requests take the same way on a new socket. */
export interface ServerRoute {
  host: string;
  port: number;
  mode: ServerTlsMode;
  negotiation: ServerTlsNegotiation;
  /** The TLS material in use when this connection was made (a later reload does not change it). */
  material: ServerTlsMaterial | null;
}

export interface ServerTlsInfo {
  protocol: string;
  cipher: string;
}

export type ServerState = 'idle' | 'active' | 'resetting' | 'closing';

export interface ServerConnectionInit {
  id: string;
  pool: string;
  route: ServerRoute;
  socket: Socket | TLSSocket;
  tls: ServerTlsInfo | null;
  /** ParameterStatus values the server reported during startup; kept current by later reports. */
  parameters: Map<string, string>;
  backendKey: BackendKey | null;
  /** Called once, when the connection enters `closing`. */
  onClosed: (conn: ServerConnection) => void;
}

export interface SimpleQueryResult {
  status: 'I' | 'T' | 'E';
  error: ErrorFields | null;
  /** DataRow values in text format (null for SQL NULL), in order. */
  rows: Array<Array<string | null>>;
}

/** The text-format values of a DataRow body. */
function dataRowValues(body: Buffer): Array<string | null> {
  const values: Array<string | null> = [];
  let pos = 2;
  for (let i = body.readInt16BE(0); i > 0; i--) {
    const length = body.readInt32BE(pos);
    pos += 4;
    if (length < 0) {
      values.push(null);
      continue;
    }
    values.push(body.toString('utf8', pos, pos + length));
    pos += length;
  }
  return values;
}

export class ServerConnection {
  readonly id: string;
  readonly pool: string;
  readonly route: ServerRoute;
  readonly socket: Socket | TLSSocket;
  readonly tls: ServerTlsInfo | null;
  readonly parameters: Map<string, string>;
  readonly backendKey: BackendKey | null;
  readonly createdAt = Date.now();
  /** When it last went idle (or was created). */
  lastUsedAt = Date.now();
  /** What clients SET on it (startup parameters); empty right after a DISCARD ALL. */
  readonly settings = new Map<string, string>();
  /** Gatehouse-owned prepared statements it holds (transaction pooling). */
  readonly statements = new ServerStatements();
  /** What the relay counted on it (SHOW SERVERS, prepared-statement hits and misses). */
  readonly traffic = new ServerTraffic();
  /** The client session it serves while active (for SHOW SERVERS and logs). */
  holder: string | null = null;
  private current: ServerState = 'active';
  private readonly onClosed: (conn: ServerConnection) => void;
  /**
   * Nobody reads: the socket pauses and keeps the chunk for the next reader, as a paused socket keeps what it
   * has not emitted yet (the holder of a server handed over asynchronously reads it a tick later).
   */
  private readonly hold: ServerReader = (chunk) => {
    this.socket.pause();
    this.socket.unshift(chunk);
  };
  /** Who reads the socket now, and who hears that it closed (the holder, while active). */
  private reader: ServerReader = this.hold;
  private lost: (() => void) | null = null;

  constructor(init: ServerConnectionInit) {
    this.id = init.id;
    this.pool = init.pool;
    this.route = init.route;
    this.socket = init.socket;
    this.tls = init.tls;
    this.parameters = init.parameters;
    this.backendKey = init.backendKey;
    this.onClosed = init.onClosed;
    this.socket.on('data', (chunk: Buffer) => this.reader(chunk));
    this.socket.once('close', () => {
      this.close();
      this.lost?.();
    });
    // Whoever reads the socket may come and go; errors must always be observed or they crash the process.
    this.socket.on('error', () => this.close());
  }

  get state(): ServerState {
    return this.current;
  }

  /** Usable: not closing and the socket is open. */
  get alive(): boolean {
    return this.current !== 'closing' && !this.socket.destroyed;
  }

  /** An idle server has nothing to say: anything it sends (FATAL 57P01 at shutdown, EOF) means it is going away. */
  private readonly onIdleData = () => this.close();

  /** Parked in the pool: keep reading so that a close or a FATAL is noticed at once. */
  toIdle(): void {
    if (this.current === 'closing') return;
    this.current = 'idle';
    this.holder = null;
    this.traffic.activeSince = 0;
    this.lastUsedAt = Date.now();
    this.read(this.onIdleData);
  }

  /** Handed to a session: its new holder reads the socket (read()); until then what the server sends waits. */
  toActive(holder: string | null): void {
    if (this.current === 'closing') return;
    this.unread();
    this.current = 'active';
    this.holder = holder;
  }

  /** From now on `reader` gets what the server sends (what waited first) and `lost` hears that the socket closed. */
  read(reader: ServerReader, lost: (() => void) | null = null): void {
    this.lost = lost;
    this.listen(reader);
  }

  /** Nobody reads any more: what the server sends waits for the next reader. */
  unread(): void {
    this.reader = this.hold;
    this.lost = null;
  }

  /** `reader` takes the socket's data; whoever hears of its close stays. */
  private listen(reader: ServerReader): void {
    this.reader = reader;
    if (this.socket.isPaused()) this.socket.resume();
  }

  /** Being restored for the next client (DISCARD ALL); nobody holds it. */
  toResetting(): void {
    if (this.current === 'closing') return;
    this.current = 'resetting';
    this.holder = null;
  }

  /**
   * Run a simple query outside the relay (session reset, parameter sync, session inspection). Resolves
   * at ReadyForQuery with the transaction status, the first error, if any, and the rows; ParameterStatus
   * messages update `parameters`; a NOTIFY delivered meanwhile goes to `onNotification` (the session's
   * client is listening). Rejects when the connection dies or the timeout passes.
   */
  runSimpleQuery(sql: string, timeoutMs: number, onNotification?: (message: Buffer) => void): Promise<SimpleQueryResult> {
    return new Promise((resolve, reject) => {
      const framer = new MessageFramer();
      let error: ErrorFields | null = null;
      const rows: Array<Array<string | null>> = [];
      const finish = (err: Error | null, result?: SimpleQueryResult) => {
        clearTimeout(timer);
        this.reader = this.hold;
        this.socket.off('close', onClose);
        if (err) reject(err);
        else resolve(result!);
      };
      const onData = (chunk: Buffer) => {
        try {
          framer.push(chunk);
          for (let m = framer.next(); m; m = framer.next()) {
            if (m.type === BackendType.DataRow) rows.push(dataRowValues(m.body));
            else if (m.type === BackendType.NotificationResponse) onNotification?.(new MessageWriter(m.type, m.body.length).bytes(m.body).done());
            else if (m.type === BackendType.ParameterStatus || m.type === BackendType.ErrorResponse || m.type === BackendType.ReadyForQuery) {
              const msg = parseBackendMessage(m.type, m.body);
              if (msg.type === 'parameterStatus') this.parameters.set(msg.name, msg.value);
              else if (msg.type === 'errorResponse') error ??= msg.fields;
              else if (msg.type === 'readyForQuery') {
                if (framer.buffered > 0) throw new Error('unexpected data after ReadyForQuery');
                return finish(null, { status: msg.status, error, rows });
              }
            }
          }
        } catch (e) {
          this.close();
          finish(e as Error);
        }
      };
      const onClose = () => finish(new Error('server closed the connection'));
      const timer = setTimeout(() => {
        this.close();
        finish(new Error(`server did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listen(onData);
      this.socket.once('close', onClose);
      this.socket.write(query(sql));
    });
  }

  /** Enter `closing`: the socket is destroyed and the owner told, once. */
  close(): void {
    if (this.current === 'closing') return;
    this.current = 'closing';
    this.holder = null;
    this.socket.destroy();
    this.onClosed(this);
  }
}
