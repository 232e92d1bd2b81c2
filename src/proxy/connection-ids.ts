/**
 * The ids of journals and log lines: `c12`, `s13` (clients and servers, one sequence), `x3` (cancels), `xp2` (cancels
 * forwarded to peers). Worker i of n numbers i, i+n, i+2n, … so that journals and logs of all workers never clash.
 */
import type { WorkerPlace } from './cluster/worker-place.js';

export type IdPrefix = 'c' | 's' | 'x' | 'xp';

export class ConnectionIds {
  /** Ids handed out so far, per sequence. */
  private readonly numbered = new Map<string, number>();

  /** `place`: this process is one worker of several; null: it is the instance. */
  constructor(private readonly place: Pick<WorkerPlace, 'index' | 'count'> | null) {}

  next(prefix: IdPrefix): string {
    const sequence = prefix === 's' ? 'c' : prefix;
    const n = (this.numbered.get(sequence) ?? 0) + 1;
    this.numbered.set(sequence, n);
    return `${prefix}${n * (this.place?.count ?? 1) + (this.place?.index ?? 0)}`;
  }
}
