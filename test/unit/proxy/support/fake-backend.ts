/**
 * A scripted PostgreSQL backend behind a FakeSocket. It frames what the relay writes to it, answers
 * like PostgreSQL does (simple queries flush at once and end with ReadyForQuery; extended-protocol
 * answers are held until Flush or Sync; COPY FROM STDIN consumes CopyData until CopyDone/CopyFail;
 * an error in the extended protocol skips to the next Sync), and keeps its own account of whether
 * it could safely serve another client: this account, not the relay's, is what the tests check.
 *
 * What a query does is in its text: `begin`, `commit`, `rollback`, `select error`, `copy … from
 * stdin`, `set …`, `notice`, `select big` (a 20 KB row), anything else is a one-row select.
 */
import { ServerConnection } from '../../../../src/pool/server-connection.js';
import { FakeSocket } from './fake-socket.js';
import { be } from './pg-messages.js';

export type TxStatus = 'I' | 'T' | 'E';
export type BackendState = 'held' | 'idle' | 'closed';

const FRONTEND = new Set('QPBDECSHdcfFX'.split('').map((c) => c.charCodeAt(0)));

export class FakeBackend {
  readonly socket = new FakeSocket();
  readonly conn: ServerConnection;
  /** Every chunk written to this backend, in order. */
  readonly received: Buffer[] = [];
  state: BackendState = 'held';
  tx: TxStatus = 'I';
  private input: Buffer = Buffer.alloc(0);
  /** Answers produced but not flushed (extended protocol, until Flush or Sync). */
  private held: Buffer[] = [];
  /** Flushed output the relay has not read yet. */
  private pending: Buffer = Buffer.alloc(0);
  private produced = 0;
  /** Output bytes the relay has read. */
  delivered = 0;
  /** Output offsets where a message ends, and where a ReadyForQuery ends. */
  private readonly messageEnds = new Set<number>([0]);
  private readonly readyEnds: number[] = [];
  private readyDelivered = 0;
  /** Sync points (Query, Sync, FunctionCall) received and acted on. */
  private syncPoints = 0;
  /** A message other than a sync point arrived since the last sync point (an implicit transaction is open). */
  private dirty = false;
  private copyIn = false;
  private skipTillSync = false;
  private lastParsed = '';
  /** Framing was lost (a message that is not a frontend message, or a bad length). */
  desynced = false;
  /** It sent something that is not a message. */
  broken = false;
  sawTerminate = false;

  constructor(
    readonly id: string,
    /** Asked after each ReadyForQuery: send a NotificationResponse right behind it (another session's NOTIFY). */
    private readonly notifyAfterReady: () => boolean = () => false,
  ) {
    this.conn = new ServerConnection({
      id,
      pool: 'app',
      route: { host: '127.0.0.1', port: 5432, mode: 'disable', negotiation: 'postgres', material: null },
      socket: this.socket.asSocket,
      tls: null,
      parameters: new Map(),
      backendKey: null,
      onClosed: () => {
        this.state = 'closed';
      },
    });
    this.socket.onWrite = (data) => this.receive(data);
  }

  /** Output waiting to be read by whoever reads the socket. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Up to `n` bytes of pending output, now counted as delivered. */
  take(n: number): Buffer {
    const chunk = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(chunk.length);
    this.delivered += chunk.length;
    while (this.readyDelivered < this.readyEnds.length && this.readyEnds[this.readyDelivered] <= this.delivered) this.readyDelivered++;
    return chunk;
  }

  /** Why this backend cannot serve another client now, or null when it can. */
  unsafeReason(): string | null {
    if (this.desynced) return 'its input lost framing';
    if (this.broken) return 'it sent an impossible message length';
    if (this.sawTerminate) return 'it received a Terminate';
    if (this.input.length > 0) return `it holds ${this.input.length} bytes of an incomplete client message`;
    if (this.copyIn) return 'it is in COPY FROM STDIN';
    if (this.dirty || this.held.length > 0) return 'it has extended-protocol messages not followed by a Sync';
    if (this.skipTillSync) return 'it is skipping to a Sync after an error';
    if (this.readyDelivered < this.syncPoints) return `${this.syncPoints - this.readyDelivered} of its ReadyForQuery not yet read`;
    if (!this.messageEnds.has(this.delivered)) return 'its output was read up to the middle of a message';
    if (this.tx !== 'I') return `its transaction status is ${this.tx}`;
    return null;
  }

  private receive(data: Buffer): void {
    this.received.push(data);
    this.input = this.input.length ? Buffer.concat([this.input, data]) : data;
    while (!this.desynced && this.input.length >= 5) {
      const type = this.input[0];
      const length = this.input.readInt32BE(1);
      if (!FRONTEND.has(type) || length < 4) {
        this.desynced = true;
        return;
      }
      if (this.input.length < 1 + length) return;
      const body = this.input.subarray(5, 1 + length);
      this.input = this.input.subarray(1 + length);
      this.handle(type, body);
    }
  }

  private emit(...messages: Buffer[]): void {
    for (const m of messages) {
      this.produced += m.length;
      this.messageEnds.add(this.produced);
      this.pending = Buffer.concat([this.pending, m]);
      if (m[0] === 0x5a) {
        this.readyEnds.push(this.produced);
        if (this.notifyAfterReady()) this.emit(be.notification('jobs', `after ${this.produced}`));
      }
    }
  }

  /** A header with an impossible length right behind ReadyForQuery: this server is broken. */
  private garbage(): void {
    this.broken = true;
    const bad = Buffer.from([0x5a, 0, 0, 0, 1]);
    this.produced += bad.length;
    this.pending = Buffer.concat([this.pending, bad]);
  }

  private flush(): void {
    const held = this.held;
    this.held = [];
    this.emit(...held);
  }

  private handle(type: number, body: Buffer): void {
    const c = String.fromCharCode(type);
    if (c === 'X') {
      this.sawTerminate = true;
      return;
    }
    if (this.copyIn) {
      if (c === 'd') return;
      this.copyIn = false;
      if (c === 'c') this.emit(be.commandComplete('COPY 2'));
      else this.fail(c === 'f' ? 'COPY from stdin failed' : 'unexpected message type during COPY from stdin');
      this.emit(be.readyForQuery(this.tx));
      return;
    }
    if (this.skipTillSync && c !== 'S') return;
    const text = () => body.toString('latin1', body.indexOf(0) + 1, body.indexOf(0, body.indexOf(0) + 1));
    switch (c) {
      case 'Q': {
        this.syncPoints++;
        this.dirty = false;
        this.flush();
        const sql = body.toString('latin1', 0, body.length - 1);
        if (/^copy .* from stdin$/.test(sql) && this.tx !== 'E') {
          this.emit(be.copyInResponse());
          this.copyIn = true;
          return;
        }
        this.emit(...this.execute(sql));
        this.emit(be.readyForQuery(this.tx));
        if (sql === 'select 1 then garbage') this.garbage();
        return;
      }
      case 'S':
        this.syncPoints++;
        this.dirty = false;
        this.skipTillSync = false;
        this.flush();
        this.emit(be.readyForQuery(this.tx));
        return;
      case 'F':
        this.syncPoints++;
        this.dirty = false;
        this.flush();
        this.emit(be.functionCallResponse(), be.readyForQuery(this.tx));
        return;
      case 'H':
        this.flush();
        return;
      case 'd':
      case 'c':
      case 'f':
        return; // outside COPY, PostgreSQL accepts and ignores them
    }
    this.dirty = true;
    switch (c) {
      case 'P':
        this.lastParsed = text();
        this.held.push(be.parseComplete());
        return;
      case 'B':
        this.held.push(be.bindComplete());
        return;
      case 'D':
        this.held.push(this.lastParsed.startsWith('select') ? be.rowDescription() : be.noData());
        return;
      case 'C':
        this.held.push(be.closeComplete());
        return;
      case 'E': {
        const answer = this.execute(this.lastParsed);
        this.held.push(...answer.filter((m) => m[0] !== 0x54)); // Execute sends no RowDescription
        if (answer.some((m) => m[0] === 0x45)) this.skipTillSync = true;
        return;
      }
    }
  }

  private fail(text: string): Buffer {
    if (this.tx === 'T') this.tx = 'E';
    const error = be.errorResponse('XX000', text);
    this.emit(error);
    return error;
  }

  /** The answer to one statement, without ReadyForQuery; updates the transaction status. */
  private execute(sql: string): Buffer[] {
    const error = (code: string, text: string) => {
      if (this.tx === 'T') this.tx = 'E';
      return [be.errorResponse(code, text)];
    };
    if (sql === 'commit' || sql === 'rollback') {
      const tag = this.tx === 'E' ? 'ROLLBACK' : sql.toUpperCase();
      this.tx = 'I';
      return [be.commandComplete(tag)];
    }
    if (this.tx === 'E') return [be.errorResponse('25P02', 'current transaction is aborted')];
    if (sql === 'begin') {
      this.tx = 'T';
      return [be.commandComplete('BEGIN')];
    }
    if (sql === 'select error') return error('22012', 'division by zero');
    if (sql.startsWith('copy')) return error('0A000', 'COPY FROM STDIN in the extended protocol is not scripted');
    if (sql.startsWith('set ')) return [be.parameterStatus('application_name', sql.slice(4)), be.commandComplete('SET')];
    if (sql === 'notice') return [be.noticeResponse('just so you know'), be.commandComplete('DO')];
    if (sql === 'select big') return [be.rowDescription(), be.dataRow(Buffer.alloc(20_000, 0x7a)), be.commandComplete('SELECT 1')];
    return [be.rowDescription(), be.dataRow(sql), be.commandComplete('SELECT 1')];
  }
}
