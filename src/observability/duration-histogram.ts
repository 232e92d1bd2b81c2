/**
 * Durations counted into fixed buckets, and the most recent ones kept for percentiles. Observing costs a few
 * comparisons and number stores into preallocated arrays: nothing is allocated and no prom-client code runs, so
 * the relay can observe per query and per transaction. The Prometheus exposition is written at scrape time from
 * these counts (exposition.ts); SHOW POOLS_EXTENDED's percentiles come from the sample ring.
 */

/** PgDoorman's buckets (seconds) for pg_doorman_pools_query_duration_seconds. */
export const QUERY_BUCKETS = [0.0005, 0.005, 0.05, 0.5, 5] as const;
/** … for pg_doorman_pools_transaction_duration_seconds. */
export const TRANSACTION_BUCKETS = [0.001, 0.01, 0.1, 1, 10] as const;
/** … for pg_doorman_pools_wait_duration_seconds. */
export const WAIT_BUCKETS = [0.0001, 0.001, 0.01, 0.1, 1] as const;
/** … for pg_doorman_backend_create_duration_seconds. */
export const BACKEND_CREATE_BUCKETS = [0.001, 0.01, 0.1, 1, 10] as const;

/** How many recent samples the percentiles are computed from. */
export const SAMPLE_RING = 1024;

export class DurationHistogram {
  /** Upper bounds in microseconds, ascending. */
  private readonly boundsMicros: Float64Array;
  /** Per bucket, not cumulative; the last slot is +Inf. */
  private readonly counts: Float64Array;
  private readonly ring = new Float64Array(SAMPLE_RING);
  private ringAt = 0;
  /** The ring sorted, as of `sortedAt` observations: readers asking several percentiles sort once. */
  private sorted: Float64Array = new Float64Array(0);
  private sortedAt = 0;
  count = 0;
  /** Sum of observed durations, microseconds. */
  sumMicros = 0;

  constructor(readonly bucketsSeconds: readonly number[]) {
    this.boundsMicros = Float64Array.from(bucketsSeconds, (s) => s * 1e6);
    this.counts = new Float64Array(bucketsSeconds.length + 1);
  }

  observe(micros: number): void {
    const bounds = this.boundsMicros;
    let i = 0;
    while (i < bounds.length && micros > bounds[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sumMicros += micros;
    this.ring[this.ringAt] = micros;
    this.ringAt = (this.ringAt + 1) % SAMPLE_RING;
  }

  /** Cumulative counts per bucket bound, +Inf last (Prometheus's `le` series). */
  cumulative(): number[] {
    const out: number[] = [];
    let total = 0;
    for (const c of this.counts) out.push((total += c));
    return out;
  }

  /**
   * The q-quantile (0 < q ≤ 1) of the last SAMPLE_RING observations, in microseconds (nearest rank); 0 when
   * nothing was observed.
   */
  percentile(q: number): number {
    const n = Math.min(this.count, SAMPLE_RING);
    if (n === 0) return 0;
    if (this.sortedAt !== this.count) {
      this.sorted = this.ring.slice(0, n).sort();
      this.sortedAt = this.count;
    }
    return this.sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  }
}
