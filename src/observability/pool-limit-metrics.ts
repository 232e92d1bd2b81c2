/**
 * PgDoorman's pool coordinator gauge, computed from the pools at scrape time: per database (pool name), its server
 * connections (all users together), its max_db_connections (0: no cap), and its reserve (size, in use).
 */
import { Gauge, type Registry } from 'prom-client';

/** One database's numbers (pool/ DatabaseLimitStats has this shape; observability does not import pool/). */
export interface CoordinatorSample {
  database: string;
  connections: number;
  reserveInUse: number;
  maxConnections: number;
  reservePoolSize: number;
}

export function registerPoolLimitMetrics(registry: Registry, databases: () => Iterable<CoordinatorSample>): Gauge<'type' | 'database'> {
  return new Gauge({
    name: 'pg_doorman_pool_coordinator',
    help:
      'Pool coordinator current state by type and database. Types: connections (current total), reserve_in_use (current reserve), ' +
      'max_connections (configured limit, 0: none), reserve_pool_size (configured reserve).',
    labelNames: ['type', 'database'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const d of databases()) {
        this.set({ type: 'connections', database: d.database }, d.connections);
        this.set({ type: 'reserve_in_use', database: d.database }, d.reserveInUse);
        this.set({ type: 'max_connections', database: d.database }, d.maxConnections);
        this.set({ type: 'reserve_pool_size', database: d.database }, d.reservePoolSize);
      }
    },
  });
}
