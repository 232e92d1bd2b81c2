/**
 * Scripted collaborators of the client driver: a handshake limiter, a pool and a cancel registry
 * whose answers the test gives at the step that calls for them, plus a tiny backend whose sockets
 * back the ServerConnections the pool hands out.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { ReleaseAction } from '../../../src/pool/pool.js';
import type { ServerConnection as ServerConnectionType } from '../../../src/pool/server-connection.js';
import { ServerConnection } from '../../../src/pool/server-connection.js';
import { ProxyError, type SqlStateCode } from '../../../src/protocol/index.js';
import { CancelRegistry } from '../../../src/proxy/cancel-registry.js';
import { HandshakeLimiter } from '../../../src/tls/handshake-limiter.js';
import { ByteReader } from './byte-reader.js';
import { StatementCache } from '../../../src/pool/prepared-statements.js';

/** Every acquire() waits until the test grants or denies the slot. */
export class ScriptedLimiter extends HandshakeLimiter {
  readonly requests: Array<{ deadline: number; signal: AbortSignal | undefined; answer: (granted: boolean) => void }> = [];

  constructor() {
    super(1);
  }

  override acquire(deadline: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((answer) => this.requests.push({ deadline, signal, answer }));
  }

  answer(granted: boolean): void {
    const request = this.requests.at(-1);
    if (!request) throw new Error('the driver never asked for a TLS handshake slot');
    request.answer(granted);
  }
}

/** Records forwarded cancel requests instead of dialling a server. */
export class RecordingCancels extends CancelRegistry {
  readonly forwarded: Array<{ processId: number; secretKey: Buffer }> = [];

  override forward(processId: number, secretKey: Buffer): Promise<void> {
    this.forwarded.push({ processId, secretKey: Buffer.from(secretKey) });
    return Promise.resolve();
  }
}

export const BACKEND_PARAMETERS: ReadonlyArray<[string, string]> = [
  ['server_version', '16.4'],
  ['client_encoding', 'UTF8'],
];

/** A listening socket standing in for PostgreSQL behind an established ServerConnection. */
export class BackendStub {
  private readonly server = net.createServer();
  private readonly accepted: net.Socket[] = [];
  private waiting: ((s: net.Socket) => void) | null = null;

  async start(): Promise<void> {
    this.server.on('connection', (socket) => {
      socket.on('error', () => {});
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(socket);
      } else this.accepted.push(socket);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** An authenticated server connection as the pool would hand it out, and the backend's end of it. */
  async connection(id: string): Promise<{ conn: ServerConnectionType; peer: net.Socket; reader: ByteReader }> {
    const peerPromise = new Promise<net.Socket>((resolve) => {
      const ready = this.accepted.shift();
      if (ready) resolve(ready);
      else this.waiting = resolve;
    });
    const socket = net.connect(this.port, '127.0.0.1');
    await once(socket, 'connect');
    const peer = await peerPromise;
    const conn = new ServerConnection({
      id,
      pool: 'model',
      route: { host: '127.0.0.1', port: this.port, mode: 'disable', negotiation: 'postgres', material: null },
      socket,
      tls: null,
      parameters: new Map(BACKEND_PARAMETERS),
      backendKey: { processId: 4242, secretKey: Buffer.from([1, 2, 3, 4]) },
      onClosed: () => {},
    });
    return { conn, peer, reader: new ByteReader(peer, 'backend') };
  }

  async stop(): Promise<void> {
    for (const s of this.accepted) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A pool as transaction pooling sees it: a server released for reuse is idle and is taken back by
 * the synchronous fast path; acquire() waits for the test to hand out a connection or an error,
 * unless the test armed the next acquire to fail.
 */
export class ScriptedPool {
  readonly statements = new StatementCache(100);
  readonly acquires: Array<Map<string, string>> = [];
  readonly releases: Array<{ server: ServerConnectionType; action: ReleaseAction }> = [];
  private readonly idle: ServerConnectionType[] = [];
  private failNext: Error | null = null;
  private pending: { resolve: (c: ServerConnectionType) => void; reject: (e: Error) => void } | null = null;

  acquireIdleMatching(): ServerConnectionType | null {
    return this.failNext ? null : (this.idle.pop() ?? null);
  }

  acquire(settings: Map<string, string>): Promise<ServerConnectionType> {
    this.acquires.push(settings);
    const failure = this.failNext;
    this.failNext = null;
    if (failure) return Promise.reject(failure);
    return new Promise((resolve, reject) => (this.pending = { resolve, reject }));
  }

  release(server: ServerConnectionType, action: ReleaseAction): void {
    this.releases.push({ server, action });
    if (action === 'reuse') this.idle.push(server);
  }

  /** The next acquire finds no idle server and fails with this (a ProxyError, or a bug). */
  armFailure(error: Error): void {
    this.failNext = error;
  }

  private take(): { resolve: (c: ServerConnectionType) => void; reject: (e: Error) => void } {
    const p = this.pending;
    if (!p) throw new Error('the driver never asked the pool for a server connection');
    this.pending = null;
    return p;
  }

  hand(conn: ServerConnectionType): void {
    this.take().resolve(conn);
  }

  fail(sqlstate: string, message: string): void {
    this.take().reject(poolFailure(sqlstate, message));
  }

  /** The pending acquire fails with an exception that is not a ProxyError: a bug in gatehouse. */
  crash(): void {
    this.take().reject(new TypeError('model: a bug in the pool'));
  }
}

export function poolFailure(sqlstate: string, message: string): ProxyError {
  return new ProxyError('pool.model_failure', sqlstate as SqlStateCode, message);
}
