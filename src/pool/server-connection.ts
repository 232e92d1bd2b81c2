/**
 * An established, authenticated backend connection (the server-handshake machine reached `ready`).
 * The pool owns it while idle; the relay owns its socket while a client is attached.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServerTlsMode, ServerTlsNegotiation } from '../../machines/server-handshake.types.js';
import { BackendType, MessageFramer, parseBackendMessage, query, type ErrorFields } from '../protocol/index.js';
import type { ServerTlsMaterial } from '../tls/server-tls.js';

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

export class ServerConnection {
  readonly createdAt = Date.now();
  lastUsedAt = Date.now();
  private dead = false;

  constructor(
    readonly id: string,
    readonly pool: string,
    readonly route: ServerRoute,
    readonly socket: Socket | TLSSocket,
    readonly tls: ServerTlsInfo | null,
    readonly parameters: Map<string, string>,
    readonly backendKey: BackendKey | null,
    private readonly onDestroy: (conn: ServerConnection) => void,
  ) {
    socket.once('close', () => this.destroy());
    // An idle connection has no reader; errors still must be observed or they crash the process.
    socket.on('error', () => this.destroy());
  }

  /** An idle server has nothing to say: anything it sends (FATAL 57P01 at shutdown, EOF) means it is going away. */
  private readonly onIdleData = () => this.destroy();

  /** Parked in the pool: keep reading so that a close or a FATAL is noticed at once. */
  watchIdle(): void {
    this.socket.on('data', this.onIdleData);
    this.socket.resume();
  }

  /** Taken from the pool: its new owner reads the socket. */
  unwatchIdle(): void {
    this.socket.off('data', this.onIdleData);
    this.socket.pause();
  }

  get alive(): boolean {
    return !this.dead && !this.socket.destroyed;
  }

  /**
   * Run a simple query outside the relay (session reset, parameter sync). Resolves at
   * ReadyForQuery with the transaction status and the first error, if any; ParameterStatus
   * messages update `parameters`. Rejects when the connection dies or the timeout passes.
   */
  runSimpleQuery(sql: string, timeoutMs: number): Promise<{ status: 'I' | 'T' | 'E'; error: ErrorFields | null }> {
    return new Promise((resolve, reject) => {
      const framer = new MessageFramer();
      let error: ErrorFields | null = null;
      const finish = (err: Error | null, result?: { status: 'I' | 'T' | 'E'; error: ErrorFields | null }) => {
        clearTimeout(timer);
        this.socket.off('data', onData);
        this.socket.off('close', onClose);
        this.socket.pause();
        if (err) reject(err);
        else resolve(result!);
      };
      const onData = (chunk: Buffer) => {
        try {
          framer.push(chunk);
          for (let m = framer.next(); m; m = framer.next()) {
            if (m.type === BackendType.ParameterStatus || m.type === BackendType.ErrorResponse || m.type === BackendType.ReadyForQuery) {
              const msg = parseBackendMessage(m.type, m.body);
              if (msg.type === 'parameterStatus') this.parameters.set(msg.name, msg.value);
              else if (msg.type === 'errorResponse') error ??= msg.fields;
              else if (msg.type === 'readyForQuery') {
                if (framer.buffered > 0) throw new Error('unexpected data after ReadyForQuery');
                return finish(null, { status: msg.status, error });
              }
            }
          }
        } catch (e) {
          this.destroy();
          finish(e as Error);
        }
      };
      const onClose = () => finish(new Error('server closed the connection'));
      const timer = setTimeout(() => {
        this.destroy();
        finish(new Error(`server did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.socket.on('data', onData);
      this.socket.once('close', onClose);
      this.socket.resume();
      this.socket.write(query(sql));
    });
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    this.onDestroy(this);
  }
}
