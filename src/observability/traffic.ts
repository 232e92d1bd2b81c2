/**
 * Traffic counters, kept by the relay as plain number fields on three objects: one per pool (per (pool, user)),
 * one per client session and one per server connection. Metrics and the admin console read them when asked; the
 * relay only adds to them (docs/observability.md says what each counts).
 *
 * Definitions (PgBouncer's): a *query* is one round trip that ends in ReadyForQuery (a simple Query, or the
 * extended-protocol messages up to a Sync, or a FunctionCall), timed from the first client message of the round
 * trip to the ReadyForQuery; a *transaction* ends at a ReadyForQuery with status 'I' and is timed from the start of
 * its first query (a statement outside BEGIN … COMMIT is a transaction of its own). *Wait* is the time a client
 * waited for a server connection to be handed to it (0 when an idle one was ready). Bytes are the client's:
 * received from it and sent to it (a server's own counters are bytes to and from that server).
 */
import { DurationHistogram, QUERY_BUCKETS, TRANSACTION_BUCKETS, WAIT_BUCKETS } from './duration-histogram.js';

/** PgDoorman's sqlstate label values for pg_doorman_pools_errors_total, in the order of PoolTraffic.errorsBy. */
export const ERROR_GROUPS = ['08', '53', '57', '25P02', '26000', 'other'] as const;
export type ErrorGroup = (typeof ERROR_GROUPS)[number];

const C_FIELD = 0x43;
const NUL = 0;

/**
 * The ERROR_GROUPS index for the ErrorResponse body in `buf[from, to)` (its 'C' field), read in place. A body cut
 * short before its code counts as 'other'.
 */
export function errorGroupAt(buf: Buffer, from: number, to: number): number {
  let i = from;
  while (i < to && buf[i] !== NUL) {
    if (buf[i] === C_FIELD) {
      if (to - i < 6) return 5;
      const a = buf[i + 1];
      const b = buf[i + 2];
      if (a === 0x30 && b === 0x38) return 0; // 08
      if (a === 0x35 && b === 0x33) return 1; // 53
      if (a === 0x35 && b === 0x37) return 2; // 57
      if (a === 0x32 && b === 0x35 && buf[i + 3] === 0x50 && buf[i + 4] === 0x30 && buf[i + 5] === 0x32) return 3; // 25P02
      if (a === 0x32 && b === 0x36 && buf[i + 3] === 0x30 && buf[i + 4] === 0x30 && buf[i + 5] === 0x30) return 4; // 26000
      return 5;
    }
    i = buf.indexOf(NUL, i + 1);
    if (i < 0 || i >= to) return 5;
    i++;
  }
  return 5;
}

/** What client sessions, server connections and pools all count. */
export class TrafficCounts {
  transactions = 0;
  queries = 0;
  errors = 0;
  received = 0;
  sent = 0;
  transactionMicros = 0;
  queryMicros = 0;
  waitMicros = 0;
}

/** A client's prepared statements as its session holds them (transaction pooling), read at scrape time. */
export interface ClientPrepared {
  readonly namedCount: number;
  readonly anonymousCount: number;
  /** Approximate bytes: the statements' texts and names. */
  readonly cacheBytes: number;
}

export class ClientTraffic extends TrafficCounts {
  readonly connectedAt = Date.now();

  /** The client connection's id (`c<N>`, as in logs and the journal). */
  constructor(readonly id = '') {
    super();
  }

  /** performance.now() when the client began waiting for a server; 0 while it is not waiting. */
  waitingSince = 0;
  /** The longest single wait in this client's life (µs). */
  maxWaitMicros = 0;
  /** A server is attached to it now. */
  attached = false;
  /** Its prepared statements (set by the relay). */
  prepared: ClientPrepared | null = null;

  /** The wait that began at `waitingSince` ended after `micros`. */
  waited(micros: number, pool: PoolTraffic): void {
    this.waitingSince = 0;
    this.waitMicros += micros;
    if (micros > this.maxWaitMicros) this.maxWaitMicros = micros;
    pool.waitMicros += micros;
    pool.waitDurations.observe(micros);
  }
}

export class ServerTraffic extends TrafficCounts {
  preparedHits = 0;
  preparedMisses = 0;
  /**
   * performance.now() when the relay was handed it: at a session's start (session pooling) or at its transaction's
   * first message (transaction pooling, read with the clock read that times the query); 0 while idle.
   */
  activeSince = 0;
}

export class PoolTraffic extends TrafficCounts {
  /** Errors by ERROR_GROUPS index. */
  readonly errorsBy = new Float64Array(ERROR_GROUPS.length);
  preparedHits = 0;
  preparedMisses = 0;
  readonly queryDurations = new DurationHistogram(QUERY_BUCKETS);
  readonly transactionDurations = new DurationHistogram(TRANSACTION_BUCKETS);
  readonly waitDurations = new DurationHistogram(WAIT_BUCKETS);
  /** The client sessions using this pool now. */
  readonly clients = new Set<ClientTraffic>();
  readonly createdAt = performance.now();

  error(group: number): void {
    this.errors++;
    this.errorsBy[group]++;
  }
}
