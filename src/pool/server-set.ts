/**
 * The server connections of one pool and their counts. Each ServerConnection carries its own state (idle, active,
 * resetting, closing); the set keeps the idle ones in a stack, every live one in `all`, and counts handshakes in
 * progress; with instance slots, each connection open or opening holds one, given back when it closes or fails
 * to open. Which client gets a connection, and whether a new one may be opened, is the pool's (pool.ts).
 */
import type { InstanceSlots } from './instance-slots.js';
import type { PoolOptions } from './pool-options.js';
import type { ServerConnection } from './server-connection.js';
import { settingsMatch } from './startup-parameters.js';

/** How many connections are in each state. */
export interface ServerCounts {
  idle: number;
  active: number;
  resetting: number;
  connecting: number;
}

export class ServerSet {
  /** Idle connections, most recently used last. */
  private readonly idle: ServerConnection[] = [];
  /** Every connection that is not closing, whatever its state. */
  readonly all = new Set<ServerConnection>();
  private connecting = 0;
  /** Reserve connections (open, not closing), and reserve handshakes in progress. */
  private readonly reserve = new Set<ServerConnection>();
  private reserveConnecting = 0;
  /** RECONNECT: connections in use when it came, closed instead of reused when they are released. */
  private readonly retired = new WeakSet<ServerConnection>();

  /** `opts`: the pool's options, read as they are now (a reload changes server_lifetime in place). */
  constructor(
    private readonly opts: Pick<PoolOptions, 'connect' | 'serverLifetimeMs'>,
    private readonly slots: InstanceSlots | null,
  ) {}

  /** Open and opening. */
  get count(): number {
    return this.all.size + this.connecting;
  }

  /** Open, not closing. */
  get openCount(): number {
    return this.all.size;
  }

  get reserveCount(): number {
    return this.reserve.size + this.reserveConnecting;
  }

  get counts(): ServerCounts {
    let active = 0;
    let resetting = 0;
    for (const s of this.all) {
      if (s.state === 'active') active++;
      else if (s.state === 'resetting') resetting++;
    }
    return { idle: this.idle.length, active, resetting, connecting: this.connecting };
  }

  /** The most recently used idle connection whose settings already match, handed to `holder`; or null. */
  takeIdleMatching(settings: Map<string, string>, holder: string | null): ServerConnection | null {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i];
      if (!this.usable(conn)) continue;
      if (!settingsMatch(conn.settings, settings, conn.parameters)) continue;
      this.idle.splice(i, 1);
      conn.toActive(holder);
      return conn;
    }
    return null;
  }

  /** The most recently used idle connection, whatever its settings, handed to `holder`; or null. */
  takeIdle(holder: string | null): ServerConnection | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!this.usable(conn)) continue;
      conn.toActive(holder);
      return conn;
    }
    return null;
  }

  private usable(conn: ServerConnection): boolean {
    if (conn.alive && !this.expired(conn)) return true;
    conn.close();
    return false;
  }

  /** Past server_lifetime. */
  expired(conn: ServerConnection, now = Date.now()): boolean {
    return now - conn.createdAt > this.opts.serverLifetimeMs;
  }

  /** Not to be reused: closed, past server_lifetime, or in use when RECONNECT came. */
  spent(conn: ServerConnection): boolean {
    return !conn.alive || this.expired(conn) || this.retired.has(conn);
  }

  /** A new connection, counted from the start of its handshake. */
  async open(reserve: boolean): Promise<ServerConnection> {
    this.connecting++;
    if (reserve) this.reserveConnecting++;
    try {
      const conn = await this.opts.connect();
      this.all.add(conn);
      if (reserve) this.reserve.add(conn);
      return conn;
    } catch (err) {
      // The slot it was opened in is free again.
      this.slots?.release();
      throw err;
    } finally {
      this.connecting--;
      if (reserve) this.reserveConnecting--;
    }
  }

  isReserve(conn: ServerConnection): boolean {
    return this.reserve.has(conn);
  }

  park(conn: ServerConnection): void {
    conn.toIdle();
    this.idle.push(conn);
  }

  /** A connection closed: whether it was one of these (it is not any more). */
  forget(conn: ServerConnection): boolean {
    if (!this.all.delete(conn)) return false;
    this.slots?.release();
    this.reserve.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    return true;
  }

  /** The least recently used idle connection, if closing it leaves more than `minSize`. */
  evictionCandidate(minSize: number): ServerConnection | null {
    if (this.idle.length === 0 || this.count <= minSize) return null;
    // The stack's bottom is the least recently used.
    return this.idle[0];
  }

  /** Idle connections past server_lifetime close, and those past `idleTimeoutMs` down to `minSize`. */
  reap(now: number, idleTimeoutMs: number, minSize: number): void {
    for (const conn of [...this.idle]) {
      if (this.expired(conn, now)) conn.close();
      else if (now - conn.lastUsedAt > idleTimeoutMs && this.count > minSize) conn.close();
    }
  }

  /** Idle connections close while more than `size` are open (a reload shrank the pool). */
  shrinkTo(size: number): void {
    for (const conn of [...this.idle]) if (this.all.size > size) conn.close();
  }

  /** RECONNECT: idle connections close now; those in use close when released (spent). */
  reconnect(): void {
    for (const conn of this.all) if (conn.state !== 'idle') this.retired.add(conn);
    this.closeIdle();
  }

  closeIdle(): void {
    for (const conn of [...this.idle]) conn.close();
  }

  closeAll(): void {
    for (const conn of [...this.all]) conn.close();
  }
}
