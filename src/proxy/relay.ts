/**
 * The data path after authentication: bytes flow between the client and its server connection
 * unchanged, in the chunks they arrived in, with backpressure both ways. Only message headers are
 * scanned, to know when the server is idle (no query outstanding, ReadyForQuery 'I'):
 * - session pooling: the server stays attached until the client leaves; it is reused only if idle;
 * - transaction pooling: the server is attached at the client's first message and released at
 *   the next idle ReadyForQuery.
 * A client's Terminate is not forwarded: the server connection outlives the client.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { PoolMode } from '../config/types.js';
import { FrontendType, BackendType, encodeErrorResponse, ProxyError } from '../protocol/index.js';
import type { ReleaseAction, ServerPool } from '../pool/pool.js';
import type { ServerConnection } from '../pool/server-connection.js';
import { MessageScanner } from './message-scanner.js';

export type RelayEnd = { kind: 'client-closed' } | { kind: 'server-lost'; message: string };

export interface RelayOptions {
  client: Socket | TLSSocket;
  mode: PoolMode;
  pool: Pick<ServerPool, 'acquire' | 'release'>;
  settings: Map<string, string>;
  logger: Logger;
  onEnd: (end: RelayEnd) => void;
  /** The attached server changed (null: none attached); used for cancel routing. */
  onServer: (server: ServerConnection | null) => void;
}

export class Relay {
  private server: ServerConnection | null = null;
  /** Sync points (Query, Sync, FunctionCall) sent and not yet answered by ReadyForQuery. */
  private outstanding = 0;
  /** A client message went to the server since the last ReadyForQuery that settled everything (Flush without Sync, COPY data…). */
  private busy = false;
  private txStatus = 0x49; // 'I'
  private readonly fromClient = new MessageScanner();
  private fromServer = new MessageScanner();
  private pending: Buffer[] = [];
  private acquiring = false;
  private ended = false;
  /** A Terminate started in an already-forwarded chunk: the server saw part of a message. */
  private serverDesynced = false;

  private readonly onClientData = (chunk: Buffer) => this.clientData(chunk);
  private readonly onServerData = (chunk: Buffer) => this.serverData(chunk);
  private readonly onServerClose = () => this.end({ kind: 'server-lost', message: 'server closed the connection' });
  private readonly onClientClose = () => this.end({ kind: 'client-closed' });

  constructor(private readonly opts: RelayOptions) {}

  /** Start relaying; `first` is the server the client was welcomed with, `early` bytes the client already sent. */
  start(first: ServerConnection, early: Buffer): void {
    const { client } = this.opts;
    client.on('data', this.onClientData);
    client.on('close', this.onClientClose);
    client.on('end', this.onClientClose);
    client.on('error', this.onClientClose);
    if (this.opts.mode === 'session') this.attach(first);
    else this.opts.pool.release(first, 'reuse');
    if (early.length > 0) this.clientData(early);
    client.resume();
  }

  private clientData(chunk: Buffer): void {
    if (this.ended) return;
    let terminated = false;
    let terminateAt = 0;
    try {
      this.fromClient.scan(chunk, (m) => {
        if (m.type === FrontendType.Terminate) {
          terminated = true;
          terminateAt = m.end - 5;
          return false;
        }
        this.busy = true;
        if (m.type === FrontendType.Query || m.type === FrontendType.Sync || m.type === FrontendType.FunctionCall) this.outstanding++;
      });
    } catch (err) {
      return this.protocolError(err as ProxyError);
    }
    if (terminated && terminateAt < 0) this.serverDesynced = true;
    const data = terminated ? chunk.subarray(0, Math.max(0, terminateAt)) : chunk;
    if (data.length > 0) this.toServer(data);
    if (terminated) this.end({ kind: 'client-closed' });
  }

  private toServer(data: Buffer): void {
    if (!this.server) {
      this.pending.push(data);
      if (!this.acquiring) this.acquireForTransaction();
      return;
    }
    if (!this.server.socket.write(data)) {
      this.opts.client.pause();
      this.server.socket.once('drain', () => this.opts.client.resume());
    }
  }

  private acquireForTransaction(): void {
    this.acquiring = true;
    this.opts.client.pause();
    this.opts.pool.acquire(this.opts.settings).then(
      (server) => {
        this.acquiring = false;
        if (this.ended) return this.opts.pool.release(server, 'reuse');
        this.attach(server);
        const queued = this.pending;
        this.pending = [];
        for (const data of queued) this.toServer(data);
        this.opts.client.resume();
      },
      (err: ProxyError) => {
        this.acquiring = false;
        if (this.ended) return;
        this.opts.client.write(encodeErrorResponse({ severity: 'FATAL', sqlstate: err.sqlstate ?? '08006', message: err.message }));
        this.end({ kind: 'server-lost', message: err.message });
      },
    );
  }

  private serverData(chunk: Buffer): void {
    if (this.ended) return;
    try {
      this.fromServer.scan(chunk, (m) => {
        if (m.type === BackendType.ReadyForQuery) {
          if (this.outstanding > 0) this.outstanding--;
          if (this.outstanding === 0) this.busy = false;
          this.txStatus = m.first;
        }
      });
    } catch (err) {
      return this.protocolError(err as ProxyError);
    }
    if (!this.opts.client.write(chunk)) {
      const server = this.server!;
      server.socket.pause();
      this.opts.client.once('drain', () => {
        if (this.server === server) server.socket.resume();
      });
    }
    if (this.opts.mode === 'transaction' && this.idle()) this.detach('reuse');
  }

  private idle(): boolean {
    return (
      !this.busy && this.outstanding === 0 && this.txStatus === 0x49 && this.fromServer.atBoundary && this.fromClient.atBoundary && !this.serverDesynced
    );
  }

  private attach(server: ServerConnection): void {
    this.server = server;
    this.fromServer = new MessageScanner();
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
    server.socket.pause();
    this.opts.onServer(null);
    this.opts.pool.release(server, action);
  }

  private protocolError(err: ProxyError): void {
    this.opts.logger.warn({ err: err.message }, 'protocol error in relayed stream');
    if (this.server) this.detach('close');
    this.opts.client.destroy();
    this.end({ kind: 'server-lost', message: err.message });
  }

  private end(end: RelayEnd): void {
    if (this.ended) return;
    this.ended = true;
    const { client } = this.opts;
    client.off('data', this.onClientData);
    client.off('close', this.onClientClose);
    client.off('end', this.onClientClose);
    client.off('error', this.onClientClose);
    client.on('error', () => {});
    // Reused only when idle; session pooling resets the session (DISCARD ALL) for the next client.
    if (this.server) this.detach(end.kind !== 'client-closed' || !this.idle() ? 'close' : this.opts.mode === 'session' ? 'reset' : 'reuse');
    if (end.kind === 'server-lost') client.end();
    this.opts.onEnd(end);
  }
}
