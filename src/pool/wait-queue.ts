/**
 * Clients waiting for a server connection, first come first served. Each waits up to query_wait_timeout; when the
 * database has a reserve, reserve_pool_timeout into its wait it is offered a reserve connection (the pool decides
 * whether there is one). The timers are this queue's: they are cleared whenever a waiter leaves it.
 */
import type { ServerConnection } from './server-connection.js';

export interface Waiter {
  readonly settings: Map<string, string>;
  readonly holder: string | null;
  /** When it started waiting (the longest waiter of a database gets a freed slot first). */
  readonly since: number;
  resolve(conn: ServerConnection): void;
  reject(err: Error): void;
}

interface Entry extends Waiter {
  timer: NodeJS.Timeout;
  reserveTimer: NodeJS.Timeout | null;
}

export interface WaitTimeouts {
  waitMs: number;
  /** The error a waiter that waited waitMs is rejected with. */
  timedOut: () => Error;
  /** null: no reserve to offer. */
  reserveMs: number | null;
  /** reserveMs passed and the waiter is still queued. */
  reserveDue: (waiter: Waiter) => void;
}

export class WaitQueue {
  private readonly entries: Entry[] = [];

  get length(): number {
    return this.entries.length;
  }

  get first(): Waiter | undefined {
    return this.entries[0];
  }

  has(waiter: Waiter): boolean {
    return this.entries.includes(waiter as Entry);
  }

  wait(settings: Map<string, string>, holder: string | null, t: WaitTimeouts): Promise<ServerConnection> {
    return new Promise((resolve, reject) => {
      const entry: Entry = { settings, holder, since: Date.now(), resolve, reject, timer: null as unknown as NodeJS.Timeout, reserveTimer: null };
      entry.timer = setTimeout(() => {
        this.remove(entry);
        reject(t.timedOut());
      }, t.waitMs);
      if (t.reserveMs !== null) {
        entry.reserveTimer = setTimeout(() => {
          entry.reserveTimer = null;
          if (this.has(entry)) t.reserveDue(entry);
        }, t.reserveMs);
      }
      this.entries.push(entry);
    });
  }

  /** The first waiter, out of the queue. */
  take(): Waiter | undefined {
    const entry = this.entries[0];
    if (entry) this.remove(entry);
    return entry;
  }

  remove(waiter: Waiter): void {
    const entry = waiter as Entry;
    const i = this.entries.indexOf(entry);
    if (i >= 0) this.entries.splice(i, 1);
    clearTimeout(entry.timer);
    if (entry.reserveTimer) clearTimeout(entry.reserveTimer);
  }

  rejectAll(err: () => Error): void {
    while (this.entries.length > 0) this.take()!.reject(err());
  }
}
