/**
 * A worker's side of the instance-wide server slots (SlotLedger in the supervisor): pools ask it for slots and
 * give them back; grants and "close an idle one" requests from the supervisor reach the pool they are for.
 */
import type { InstanceLease, SlotHolder } from '../../pool/instance-slots.js';
import type { ServerPool } from '../../pool/pool.js';
import type { LeaseRequest } from './slot-ledger.js';

export const poolKey = (pool: SlotHolder) => JSON.stringify([pool.opts.name, pool.opts.user]);

export class LeaseBroker implements InstanceLease {
  /** Pools that asked for a slot not granted yet, per key, in the order they asked. */
  private readonly asking = new Map<string, SlotHolder[]>();

  constructor(
    private readonly send: (message: object) => void,
    /** The pools serving a key now (a reload may have replaced the one that asked). */
    private readonly poolsFor: (key: string) => ServerPool[],
  ) {}

  request(from: SlotHolder, reserve: boolean): void {
    const key = poolKey(from);
    let queue = this.asking.get(key);
    if (!queue) this.asking.set(key, (queue = []));
    queue.push(from);
    const { maxConnections, reserveSize } = from.limit.opts;
    const request: LeaseRequest = {
      pool: key,
      database: from.opts.name,
      poolSize: from.opts.size,
      maxDbConnections: maxConnections,
      reserve: reserve ? reserveSize : 0,
    };
    this.send({ t: 'lease', request });
  }

  release(from: SlotHolder): void {
    this.send({ t: 'unlease', pool: poolKey(from), database: from.opts.name });
  }

  /** The supervisor granted the oldest request for `key`. */
  granted(key: string): void {
    const queue = this.asking.get(key);
    const pool = queue?.shift();
    if (queue?.length === 0) this.asking.delete(key);
    if (pool) pool.granted();
    else this.send({ t: 'unlease', pool: key, database: JSON.parse(key)[0] });
  }

  /** Another worker waits for one of `key`'s slots. */
  yieldSlot(key: string): void {
    this.poolsFor(key)[0]?.yieldSlot();
  }
}
