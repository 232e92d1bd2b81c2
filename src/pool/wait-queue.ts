/**
 * Clients waiting for a server connection, first come first served. Each waits up to query_wait_timeout; when the
 * database has a reserve, reserve_pool_timeout into its wait it is offered a reserve connection (the pool decides
 * whether there is one).
 *
 * With 200 clients on 20 servers nearly every transaction waits here, so a wait costs no timer of its own and
 * leaving the queue costs no array shift: one timer serves the whole queue, armed for the earliest moment a
 * waiter is due (its reserve offer or its timeout), and a waiter that leaves from the middle is only marked gone
 * until the head passes it. The timer is cleared when the queue empties.
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

export interface WaitTimeouts {
  waitMs: number;
  /** The error a waiter that waited waitMs is rejected with. */
  timedOut: () => Error;
  /** null: no reserve to offer. */
  reserveMs: number | null;
  /** reserveMs passed and the waiter is still queued. */
  reserveDue: (waiter: Waiter) => void;
}

interface Entry extends Waiter {
  readonly timeouts: WaitTimeouts;
  /** performance.now() at which it times out. */
  readonly deadline: number;
  /** performance.now() at which the reserve is offered; Infinity once offered, or when there is no reserve. */
  reserveAt: number;
  gone: boolean;
}

/** Timers may fire up to a millisecond before performance.now() reaches their delay (libuv rounds to ms). */
const EARLY_MS = 1;

export class WaitQueue {
  private entries: Entry[] = [];
  /** Entries before it have left. */
  private head = 0;
  private live = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private readonly onTimer = () => this.due();

  get length(): number {
    return this.live;
  }

  get first(): Waiter | undefined {
    this.skipGone();
    return this.entries[this.head];
  }

  wait(settings: Map<string, string>, holder: string | null, timeouts: WaitTimeouts): Promise<ServerConnection> {
    return new Promise((resolve, reject) => {
      const now = performance.now();
      const entry: Entry = {
        settings,
        holder,
        since: Date.now(),
        resolve,
        reject,
        timeouts,
        deadline: now + timeouts.waitMs,
        reserveAt: timeouts.reserveMs === null ? Infinity : now + timeouts.reserveMs,
        gone: false,
      };
      this.entries.push(entry);
      this.live++;
      this.arm(Math.min(entry.deadline, entry.reserveAt));
    });
  }

  /** The first waiter, out of the queue. */
  take(): Waiter | undefined {
    this.skipGone();
    const entry = this.entries[this.head];
    if (entry) this.remove(entry);
    return entry;
  }

  remove(waiter: Waiter): void {
    const entry = waiter as Entry;
    if (entry.gone) return;
    entry.gone = true;
    this.live--;
    if (this.live === 0) {
      this.entries = [];
      this.head = 0;
      this.disarm();
    } else {
      this.skipGone();
    }
  }

  rejectAll(err: () => Error): void {
    while (this.live > 0) this.take()!.reject(err());
  }

  private skipGone(): void {
    while (this.head < this.entries.length && this.entries[this.head].gone) this.head++;
    // Drop the departed prefix once it is most of the array (amortised O(1) per waiter).
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  private arm(at: number): void {
    if (at >= this.timerAt) return;
    this.disarm();
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - performance.now()));
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /** The timer fired: offer the reserve to and time out whoever is due, then arm for the next one. */
  private due(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = performance.now() + EARLY_MS;
    let next = Infinity;
    // A reserveDue or a rejection may change the queue: walk a copy of the waiters present now.
    for (const entry of this.entries.slice(this.head)) {
      if (entry.gone) continue;
      if (entry.reserveAt <= now) {
        entry.reserveAt = Infinity;
        entry.timeouts.reserveDue(entry);
      }
      if (entry.gone) continue;
      if (entry.deadline <= now) {
        this.remove(entry);
        entry.reject(entry.timeouts.timedOut());
        continue;
      }
      next = Math.min(next, entry.deadline, entry.reserveAt);
    }
    if (this.live > 0 && next < Infinity) this.arm(next);
  }
}
