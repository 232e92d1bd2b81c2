/**
 * The data path after authentication: bytes flow between the client and its server connection
 * unchanged, in the chunks they arrived in, with backpressure both ways. Only message headers are
 * scanned (in place), to know when the server is idle: no Query, Sync or FunctionCall unanswered,
 * no other message since the last ReadyForQuery, status 'I', both streams at a message boundary.
 * - session pooling: the server stays attached until the client leaves; it is reused only if idle;
 * - transaction pooling: a server is attached at the client's first message (synchronously when an
 *   idle one with matching settings is waiting) and released at the next idle ReadyForQuery.
 * A client's Terminate is not forwarded: the server connection outlives the client.
 *
 * The relay decides nothing about the client's fate: it reports how it ended (RelayEnd) and the
 * session turns that into a machine event. It never writes to the client but what the server sent.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { PoolMode } from '../config/types.js';
import { BackendType, FrontendType, ProxyError } from '../protocol/index.js';
import type { ReleaseAction, ServerPool } from '../pool/pool.js';
import type { ServerConnection } from '../pool/server-connection.js';
import { MessageScanner } from './message-scanner.js';

export type RelayEnd =
  | { kind: 'client-closed' }
  | { kind: 'server-lost'; message: string }
  /** The client sent a message the relay cannot frame. */
  | { kind: 'client-violation'; message: string }
  /** Transaction pooling: no server for the next transaction. */
  | { kind: 'no-server'; error: ProxyError }
  /** A bug: an exception that is not a ProxyError. */
  | { kind: 'internal-error'; error: unknown }
  /** The session ended for another reason (the machine finished it). */
  | { kind: 'stopped' };

export type RelayPool = Pick<ServerPool, 'acquire' | 'acquireIdleMatching' | 'release'>;

export interface RelayOptions {
  client: Socket | TLSSocket;
  mode: PoolMode;
  pool: RelayPool;
  settings: Map<string, string>;
  /** The client connection's id, recorded on the servers it holds. */
  holder: string;
  logger: Logger;
  /** How the relay ended, unless the session stopped it. */
  onEnd: (end: Exclude<RelayEnd, { kind: 'stopped' }>) => void;
  /** The attached server changed (null: none attached); used for cancel routing. */
  onServer: (server: ServerConnection | null) => void;
}

const READY_IDLE = 0x49; // 'I'

export class Relay {
  private server: ServerConnection | null = null;
  /** Sync points (Query, Sync, FunctionCall) sent and not yet answered by ReadyForQuery. */
  private outstanding = 0;
  /**
   * Extended-protocol messages (Parse, Bind, Describe, Execute, Close, Flush) went to the server after
   * the client's last sync point: the server holds them until a Sync, whatever ReadyForQuery says
   * about earlier ones. COPY data belongs to the Query or Execute that started the COPY.
   */
  private afterSync = false;
  private txStatus = READY_IDLE;
  private readonly fromClient: MessageScanner;
  private readonly fromServer: MessageScanner;
  /** Client bytes waiting for a server (transaction pooling, while one is acquired). */
  private queued: Buffer[] = [];
  private acquiring = false;
  /** The client is paused until the attached server's socket drains. */
  private clientHeld = false;
  private ended: RelayEnd | null = null;
  /** Set while scanning a client chunk: where a Terminate starts in it, or null. */
  private terminateAt: number | null = null;

  private readonly onClientData = (chunk: Buffer) => this.clientData(chunk);
  private readonly onServerData = (chunk: Buffer) => this.serverData(chunk);
  private readonly onServerClose = () => this.end({ kind: 'server-lost', message: 'server closed the connection' });
  private readonly onClientClose = () => this.end({ kind: 'client-closed' });
  private readonly onServerDrain = () => this.releaseClient();
  private readonly onClientDrain = () => this.server?.socket.resume();

  constructor(private readonly opts: RelayOptions) {
    this.fromClient = new MessageScanner(this.clientMessage);
    this.fromServer = new MessageScanner(this.serverMessage);
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
    if (early.length > 0) this.clientData(early);
    if (!this.ended && !this.acquiring && !this.clientHeld) client.resume();
  }

  /** The session is over for a reason the relay did not see: let the server go. */
  stop(): void {
    this.end({ kind: 'stopped' });
  }

  private readonly clientMessage = (type: number, _first: number, end: number): boolean => {
    if (type === FrontendType.Terminate) {
      // Where the Terminate starts in this chunk (negative: it began in a chunk already forwarded).
      this.terminateAt = end - 1 - this.fromClient.messageLength;
      return false;
    }
    if (type === FrontendType.Query || type === FrontendType.Sync || type === FrontendType.FunctionCall) {
      this.outstanding++;
      this.afterSync = false;
    } else if (type !== FrontendType.CopyData && type !== FrontendType.CopyDone && type !== FrontendType.CopyFail) {
      this.afterSync = true;
    }
    return true;
  };

  private readonly serverMessage = (type: number, first: number): boolean => {
    if (type === BackendType.ReadyForQuery) {
      if (this.outstanding > 0) this.outstanding--;
      this.txStatus = first;
    }
    return true;
  };

  private clientData(chunk: Buffer): void {
    if (this.ended) return;
    this.terminateAt = null;
    try {
      this.fromClient.scan(chunk);
    } catch (err) {
      return this.end(err instanceof ProxyError ? { kind: 'client-violation', message: err.message } : { kind: 'internal-error', error: err });
    }
    // No byte of a Terminate is ever forwarded: one cut across chunks is held back until it is whole
    // (so a server never sees half a message, and none is taken from the pool only to be closed).
    const terminateAt = this.terminateAt;
    if (terminateAt !== null) {
      if (terminateAt > 0) this.toServer(chunk.subarray(0, terminateAt));
      return this.end({ kind: 'client-closed' });
    }
    const partial = this.fromClient.partial;
    if (partial.type !== FrontendType.Terminate) return this.toServer(chunk);
    if (partial.start > 0) this.toServer(chunk.subarray(0, partial.start));
  }

  private toServer(data: Buffer): void {
    if (this.ended) return;
    if (!this.server) {
      if (!this.acquiring) {
        const idle = this.opts.pool.acquireIdleMatching(this.opts.settings, this.opts.holder);
        if (idle) this.attach(idle);
      }
      if (!this.server) {
        this.queued.push(data);
        if (!this.acquiring) this.acquireForTransaction();
        return;
      }
    }
    if (!this.server.socket.write(data) && !this.clientHeld) {
      this.clientHeld = true;
      this.opts.client.pause();
      this.server.socket.once('drain', this.onServerDrain);
    }
  }

  private releaseClient(): void {
    if (!this.clientHeld) return;
    this.clientHeld = false;
    if (!this.ended && !this.acquiring) this.opts.client.resume();
  }

  private acquireForTransaction(): void {
    this.acquiring = true;
    this.opts.client.pause();
    this.opts.pool.acquire(this.opts.settings, this.opts.holder).then(
      (server) => {
        this.acquiring = false;
        if (this.ended) return this.opts.pool.release(server, 'reuse');
        this.attach(server);
        const queued = this.queued;
        this.queued = [];
        for (const data of queued) this.toServer(data);
        if (!this.clientHeld && !this.ended) this.opts.client.resume();
      },
      (err: unknown) => {
        this.acquiring = false;
        this.end(err instanceof ProxyError ? { kind: 'no-server', error: err } : { kind: 'internal-error', error: err });
      },
    );
  }

  private serverData(chunk: Buffer): void {
    if (this.ended) return;
    const server = this.server!;
    try {
      this.fromServer.scan(chunk);
    } catch (err) {
      return this.end(err instanceof ProxyError ? { kind: 'server-lost', message: err.message } : { kind: 'internal-error', error: err });
    }
    if (!this.opts.client.write(chunk)) server.socket.pause();
    if (this.opts.mode === 'transaction' && this.idle()) this.detach('reuse');
  }

  private idle(): boolean {
    return (
      !this.afterSync &&
      this.outstanding === 0 &&
      this.txStatus === READY_IDLE &&
      this.fromServer.atBoundary &&
      this.fromClient.atBoundary
    );
  }

  private attach(server: ServerConnection): void {
    this.server = server;
    server.socket.on('data', this.onServerData);
    server.socket.on('close', this.onServerClose);
    server.socket.resume();
    this.opts.onServer(server);
  }

  private detach(action: ReleaseAction): void {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.socket.off('data', this.onServerData);
    server.socket.off('close', this.onServerClose);
    server.socket.off('drain', this.onServerDrain);
    server.socket.pause();
    this.releaseClient();
    this.opts.onServer(null);
    this.opts.pool.release(server, action);
  }

  /** How a server still attached at the end goes back: only an idle one after a clean end is reused. */
  private finalRelease(end: RelayEnd): ReleaseAction {
    const clean = end.kind === 'client-closed' || end.kind === 'stopped';
    if (!clean || !this.idle()) return 'close';
    // Session pooling: the next client must not see this one's session.
    return this.opts.mode === 'session' ? 'reset' : 'reuse';
  }

  private end(end: RelayEnd): void {
    if (this.ended) return;
    this.ended = end;
    const { client } = this.opts;
    client.off('data', this.onClientData);
    client.off('close', this.onClientClose);
    client.off('end', this.onClientClose);
    client.off('error', this.onClientClose);
    client.off('drain', this.onClientDrain);
    client.on('error', () => {});
    this.queued = [];
    if (end.kind === 'server-lost' || end.kind === 'client-violation') this.opts.logger.info({ end: end.kind, message: end.message }, 'session ended');
    this.detach(this.finalRelease(end));
    if (end.kind !== 'stopped') this.opts.onEnd(end);
  }
}
