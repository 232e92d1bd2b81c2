/** What a gateway that is one worker of several needs from the supervisor (src/proxy/cluster/worker.ts supplies it). */
import type { InstanceLease } from '../../pool/instance-slots.js';
import type { ConsoleHost } from '../admin/console-data.js';
import type { CommandRunner } from '../admin/console.js';

export interface WorkerLink {
  /** A client this worker was handed has gone: the supervisor's max_connections count drops. */
  clientClosed(): void;
  /**
   * A cancel whose key names worker `worker`: sent there through the supervisor (true), or false when it is this
   * worker's own.
   */
  routeCancel(worker: number, processId: number, secretKey: Buffer): boolean;
}

export interface WorkerPlace {
  /** 0-based; the cancel key's worker byte. */
  index: number;
  /** general.worker_threads when the workers started. */
  count: number;
  link: WorkerLink;
  /** Server slots counted for the whole instance (pool_size, max_db_connections). */
  slots: InstanceLease;
  /** The console admin sessions use: each command runs on every worker, or on the supervisor (RELOAD, SHUTDOWN, UPGRADE). */
  console(local: ConsoleHost): CommandRunner;
}

/** Worker `index`'s share of `total` split over `count` workers (the first ones take the remainder). */
export function shareOf(total: number, index: number, count: number): number {
  return Math.floor(total / count) + (index < total % count ? 1 : 0);
}
