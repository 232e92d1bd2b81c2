/**
 * The relay's counting (definitions in observability/traffic.ts): round trips and transactions timed with one
 * clock read at each end, added to the pool's, the client's and the server's counters as plain numbers. One per
 * relay; nothing here allocates.
 */
import type { ClientTraffic, PoolTraffic, ServerTraffic } from '../observability/traffic.js';

const READY_IDLE = 0x49; // 'I'

export class RelayCounters {
  /** performance.now() when the round trip being answered began (0: none), and the transaction it is part of. */
  private roundTripAt = 0;
  private transactionAt = 0;

  constructor(
    readonly pool: PoolTraffic,
    readonly client: ClientTraffic,
  ) {}

  /** A client message went to `server`: a round trip starts unless one is under way. `checkout`: the server was taken for this transaction. */
  sent(server: ServerTraffic, checkout: boolean): void {
    if (this.roundTripAt !== 0) return;
    const now = performance.now();
    this.roundTripAt = now;
    if (this.transactionAt !== 0) return;
    this.transactionAt = now;
    if (checkout) server.activeSince = now;
  }

  /**
   * A ReadyForQuery with `status` ended a round trip on `server`: a query, and a transaction when the status is
   * idle. `pipelined`: more sync points were sent, so the next round trip is under way from now.
   */
  readyForQuery(status: number, server: ServerTraffic, pipelined: boolean): void {
    const now = performance.now();
    const queryMicros = this.roundTripAt === 0 ? 0 : (now - this.roundTripAt) * 1000;
    this.roundTripAt = pipelined ? now : 0;
    const { pool, client } = this;
    pool.queries++;
    pool.queryMicros += queryMicros;
    pool.queryDurations.observe(queryMicros);
    client.queries++;
    client.queryMicros += queryMicros;
    server.queries++;
    if (status !== READY_IDLE) return;
    const transactionMicros = this.transactionAt === 0 ? 0 : (now - this.transactionAt) * 1000;
    this.transactionAt = this.roundTripAt;
    pool.transactions++;
    pool.transactionMicros += transactionMicros;
    pool.transactionDurations.observe(transactionMicros);
    client.transactions++;
    client.transactionMicros += transactionMicros;
    server.transactions++;
  }

  /** An ErrorResponse of PgDoorman's group `group` (ERROR_GROUPS index) went to the client. */
  error(group: number, server: ServerTraffic): void {
    this.pool.error(group);
    this.client.errors++;
    server.errors++;
  }

  /** Bytes from the client, and to it. */
  received(bytes: number): void {
    this.client.received += bytes;
    this.pool.received += bytes;
  }

  delivered(bytes: number): void {
    this.client.sent += bytes;
    this.pool.sent += bytes;
  }
}
