/**
 * One client's life after login: acquiring its first server, the welcome (ParameterStatus,
 * BackendKeyData with gatehouse's own cancel key, ReadyForQuery), cancel routing while it runs,
 * the relay, and the end. What happens is reported to the client-session machine as events; the
 * machine decides what the client is told (a FATAL, or nothing) and the driver carries it out.
 * Only ProxyErrors become events a client hears about; anything else is logged with its stack.
 */
import type { Logger } from 'pino';
import type { PoolMode } from '../config/types.js';
import type { Login, SessionEvent, SessionHandle } from '../driver/session-port.js';
import type { ServerConnection } from '../pool/server-connection.js';
import { backendKeyData, parameterStatus, ProxyError, readyForQuery } from '../protocol/index.js';
import { ClientTraffic } from '../observability/traffic.js';
import type { CancelKey } from './cancel-key.js';
import type { CancelRegistry } from './cancel-registry.js';
import type { PinReason } from './session-state.js';
import { Relay, type RelayEnd, type RelayPool, type TransactionOptions } from './relay.js';

export interface SessionDeps {
  pool: RelayPool;
  mode: PoolMode;
  transaction?: TransactionOptions;
  cancels: Pick<CancelRegistry, 'register' | 'attach' | 'unregister'>;
  /** A client became pinned to its server (+1) or let go (-1). */
  pinned?: (delta: 1 | -1) => void;
  /** idle_transaction_timeout (ms; 0 or absent: off). */
  idleTransactionTimeoutMs?: number;
}

export class Session implements SessionHandle {
  /** What this client did (SHOW CLIENTS); listed in its pool's traffic while the session lives. */
  readonly traffic: ClientTraffic;
  private server: ServerConnection | null = null;
  private relay: Relay | null = null;
  private cancelKey: CancelKey | null = null;
  private ended = false;
  private pinned = false;
  private readonly log: Logger;

  constructor(
    private readonly login: Login,
    private readonly report: (event: SessionEvent) => void,
    private readonly deps: SessionDeps,
  ) {
    this.log = login.logger;
    this.traffic = new ClientTraffic(login.id);
    deps.pool.traffic?.clients.add(this.traffic);
    this.acquire();
  }

  private acquire(): void {
    const fast = this.deps.pool.acquireIdleMatching(this.login.settings, this.login.id);
    if (fast) {
      if (this.deps.pool.traffic) this.traffic.waited(0, this.deps.pool.traffic);
      // Reported on a microtask all the same: the machine is still taking the step that asked.
      queueMicrotask(() => this.acquired(fast));
      return;
    }
    const waitingSince = (this.traffic.waitingSince = performance.now());
    this.deps.pool.acquire(this.login.settings, this.login.id).then(
      (server) => {
        if (this.deps.pool.traffic) this.traffic.waited((performance.now() - waitingSince) * 1000, this.deps.pool.traffic);
        this.acquired(server);
      },
      (err: unknown) => {
        this.traffic.waitingSince = 0;
        this.failed(err, 'pool');
      },
    );
  }

  private acquired(server: ServerConnection): void {
    if (this.ended) return this.deps.pool.release(server, 'reuse');
    this.server = server;
    this.report({ type: 'pool.acquired', serverId: server.id });
  }

  private failed(err: unknown, where: 'pool' | 'relay'): void {
    if (this.ended) return;
    if (err instanceof ProxyError) return this.report({ type: 'pool.failed', sqlstate: err.sqlstate, message: err.message });
    this.log.error({ err }, `internal error in the session's ${where}`);
    this.report({ type: 'internal.error', where });
  }

  activity(): 'idle' | 'active' | 'waiting' {
    return this.relay ? this.relay.activity : this.server ? 'active' : 'waiting';
  }

  start(early: Buffer): void {
    const server = this.server!;
    this.server = null;
    const key = this.deps.cancels.register();
    this.cancelKey = key;
    const welcome: Buffer[] = [];
    for (const [name, value] of server.parameters) welcome.push(parameterStatus(name, value));
    welcome.push(backendKeyData(key.processId, key.secretKey), readyForQuery('I'));
    this.login.socket.write(Buffer.concat(welcome));
    this.relay = new Relay({
      client: this.login.socket,
      mode: this.deps.mode,
      pool: this.deps.pool,
      settings: this.login.settings,
      holder: this.login.id,
      traffic: this.traffic,
      logger: this.log,
      transaction: this.deps.transaction,
      onServer: (s) => this.deps.cancels.attach(key, s),
      onPinned: (pins, ending) => this.pinChanged(pins, ending),
      onEnd: (end) => this.relayEnded(end),
      idleTransactionTimeoutMs: this.deps.idleTransactionTimeoutMs,
    });
    this.relay.start(server, early);
  }

  /** Counted while pinned; reported to the machine (and so journaled) while the session runs (its end says the rest). */
  private pinChanged(pins: PinReason[], ending: boolean): void {
    const now = pins.length > 0;
    if (now !== this.pinned) this.deps.pinned?.(now ? 1 : -1);
    this.pinned = now;
    if (!this.ended && !ending) this.report({ type: 'session.pinned', pins });
  }

  private relayEnded(end: Exclude<RelayEnd, { kind: 'stopped' }>): void {
    switch (end.kind) {
      case 'client-closed':
        return this.report({ type: 'socket.closed' });
      case 'server-lost':
        return this.report({ type: 'backend.lost', message: end.message, midMessage: end.midMessage, serverErrorRelayed: end.serverErrorRelayed });
      case 'client-violation':
        return this.report({ type: 'client.invalidMessage', message: end.message });
      case 'idle-in-transaction':
        // The relay closed the server (it was inside the client's transaction); the machine tells the client.
        return this.report({ type: 'client.idleInTransaction' });
      case 'no-server':
      case 'internal-error':
        return this.failed(end.error, 'relay');
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.deps.pool.traffic?.clients.delete(this.traffic);
    this.relay?.stop();
    // Acquired but never used by the client: nothing was sent on it.
    if (this.server) this.deps.pool.release(this.server, 'reuse');
    this.server = null;
    if (this.cancelKey !== null) this.deps.cancels.unregister(this.cancelKey);
  }
}
