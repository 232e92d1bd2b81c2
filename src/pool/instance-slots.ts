/**
 * One worker's pool of several (src/proxy/cluster): each new connection first takes one of the instance's slots,
 * so that pool_size and max_db_connections hold for all workers together. A pool asks the instance for a slot
 * (InstanceLease.request), is answered later by `granted()` (at once, or when another worker's connection closes),
 * and gives back every slot it holds or was granted and does not use (release).
 */
import type { DatabaseLimit } from './database-limit.js';

/** What the instance reads of a pool that asks for slots, and how it answers it. */
export interface SlotHolder {
  readonly opts: { readonly name: string; readonly user: string; readonly size: number };
  readonly limit: DatabaseLimit;
  /** The instance granted the oldest slot this pool asked for. */
  granted(): void;
}

/** The instance's slots for one (pool, user), as one worker's pool asks for them. */
export interface InstanceLease {
  request(from: SlotHolder, reserve: boolean): void;
  release(from: SlotHolder): void;
}

/** One pool's side of the lease: the slots it asked for and not got yet, and a slot another worker waits for. */
export class InstanceSlots {
  /** Instance slots asked for and not granted yet, oldest first: whether each is a reserve one. */
  private readonly requested: boolean[] = [];
  /** Another worker waits for a slot this pool holds: the next connection that would go idle closes instead. */
  private yieldOnPark = false;

  constructor(
    private readonly lease: InstanceLease,
    private readonly holder: SlotHolder,
  ) {}

  /** Slots asked for and not granted yet (the waiters they are for are served when they are). */
  get pending(): number {
    return this.requested.length;
  }

  ask(reserve: boolean): void {
    this.requested.push(reserve);
    this.lease.request(this.holder, reserve);
  }

  /** The oldest slot asked for was granted: whether it is a reserve one. */
  granted(): boolean {
    return this.requested.shift() ?? false;
  }

  /** A slot held or granted goes back: its connection closed, its connect failed, or nobody here needs it. */
  release(): void {
    this.lease.release(this.holder);
  }

  /** Another worker waits for one of this pool's slots: `idle` closes for it, or without one the next to go idle. */
  yieldSlot(idle: { close(): void } | null): void {
    if (idle) idle.close();
    else this.yieldOnPark = true;
  }

  /** A connection is about to go idle above min_pool_size: whether it closes instead, for the worker that waits. */
  takeYield(): boolean {
    if (!this.yieldOnPark) return false;
    this.yieldOnPark = false;
    return true;
  }
}
