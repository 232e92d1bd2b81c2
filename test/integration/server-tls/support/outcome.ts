// What a client sees when it logs in through gatehouse: the session works and its backend hop is (or
// is not) encrypted, as pg_stat_ssl reports it through gatehouse; or the login is refused with a FATAL.
import pg from 'pg';
import { APP_USER } from '../../../fixtures/clusters.js';
import type { RunningGatehouse } from '../../../fixtures/gatehouse.js';
import { metricValue } from '../../../fixtures/gatehouse.js';

export type Outcome =
  | { kind: 'session'; ssl: boolean }
  | { kind: 'refused'; severity: string | undefined; code: string | undefined; message: string };

export const SSL_OF_THIS_SESSION = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

/** A node-postgres client of gatehouse in plain (the client hop is not what these tests look at). */
export function plainClient(gh: RunningGatehouse, database: string): pg.Client {
  const client = new pg.Client({
    host: gh.host,
    port: gh.port,
    database,
    user: APP_USER.name,
    password: APP_USER.password,
    ssl: false,
    connectionTimeoutMillis: 15_000,
  });
  client.on('error', () => {});
  return client;
}

export async function connectPlain(gh: RunningGatehouse, database: string): Promise<pg.Client> {
  const client = plainClient(gh, database);
  await client.connect();
  return client;
}

/** Whether the backend connection behind `client` is TLS, read from pg_stat_ssl through gatehouse. */
export async function backendSsl(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ssl: boolean }>(SSL_OF_THIS_SESSION);
  if (rows.length !== 1) throw new Error(`pg_stat_ssl has ${rows.length} rows for this backend`);
  return rows[0].ssl;
}

/**
 * Logs in to `database` through gatehouse and reads pg_stat_ssl; `whileOpen` runs before the session ends.
 */
export async function attempt(gh: RunningGatehouse, database: string, whileOpen?: () => Promise<void>): Promise<Outcome> {
  const client = plainClient(gh, database);
  try {
    await client.connect();
  } catch (err) {
    const e = err as Error & { code?: string; severity?: string };
    return { kind: 'refused', severity: e.severity, code: e.code, message: e.message };
  }
  try {
    const ssl = await backendSsl(client);
    await whileOpen?.();
    return { kind: 'session', ssl };
  } finally {
    await client.end();
  }
}

export interface ServerTlsCounters {
  handshakes: number;
  errors: number;
  open: number;
}

/** The three server-side TLS series of one pool, from gatehouse's own registry. */
export async function serverTlsCounters(gh: RunningGatehouse, pool: string): Promise<ServerTlsCounters> {
  const text = await gh.gateway.metrics.scrape();
  return {
    handshakes: metricValue(text, 'pg_doorman_server_tls_handshake_duration_seconds_count', { pool }),
    errors: metricValue(text, 'pg_doorman_server_tls_handshake_errors_total', { pool }),
    open: metricValue(text, 'pg_doorman_server_tls_connections', { pool }),
  };
}
