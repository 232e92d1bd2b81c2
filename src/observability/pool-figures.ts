/**
 * Figures derived from a pool's counters when they are read (a scrape, an admin SHOW): client states, the longest
 * wait, the oldest checkout, the clients' prepared statements. Metrics and the admin console use the same ones.
 */
import type { PoolView } from './pool-view.js';

export interface ClientStates {
  /** Connected, no server attached, not waiting for one. */
  idle: number;
  waiting: number;
  /** A server is attached (in session pooling, for the whole session). */
  active: number;
}

export function clientStates(pool: PoolView): ClientStates {
  const states: ClientStates = { idle: 0, waiting: 0, active: 0 };
  for (const c of pool.traffic.clients) {
    if (c.waitingSince !== 0) states.waiting++;
    else if (c.attached) states.active++;
    else states.idle++;
  }
  return states;
}

/**
 * PgDoorman's maxwait: the longest single wait of any client connected now, counting a wait still under way
 * (µs). A client that once waited long keeps it up until it disconnects, as in PgDoorman.
 */
export function maxWaitMicros(pool: PoolView, now = performance.now()): number {
  let max = 0;
  for (const c of pool.traffic.clients) {
    const waiting = c.waitingSince === 0 ? 0 : (now - c.waitingSince) * 1000;
    max = Math.max(max, c.maxWaitMicros, waiting);
  }
  return Math.round(max);
}

/** How long the longest-held active server has been handed out (ms); 0 when none is active. */
export function oldestActiveAgeMs(pool: PoolView, now = performance.now()): number {
  let oldest = 0;
  // A server active outside the relay (an auth_query executor, a settings sync) has no checkout time.
  for (const s of pool.connections) if (s.state === 'active' && s.traffic.activeSince !== 0) oldest = Math.max(oldest, now - s.traffic.activeSince);
  return Math.round(oldest);
}

export interface ClientPreparedTotals {
  named: number;
  anonymous: number;
  bytes: number;
}

/** The prepared statements the pool's connected clients hold, summed. */
export function clientPrepared(pool: PoolView): ClientPreparedTotals {
  const totals: ClientPreparedTotals = { named: 0, anonymous: 0, bytes: 0 };
  for (const c of pool.traffic.clients) {
    if (!c.prepared) continue;
    totals.named += c.prepared.namedCount;
    totals.anonymous += c.prepared.anonymousCount;
    totals.bytes += c.prepared.cacheBytes;
  }
  return totals;
}

/** Prepared-statement hits and misses of the servers open now (PgDoorman's live gauges; they drop when servers close). */
export function livePrepared(pool: PoolView): { hits: number; misses: number } {
  let hits = 0;
  let misses = 0;
  for (const s of pool.connections) {
    hits += s.traffic.preparedHits;
    misses += s.traffic.preparedMisses;
  }
  return { hits, misses };
}
