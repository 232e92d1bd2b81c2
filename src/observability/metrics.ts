/**
 * Prometheus metrics. Names are PgDoorman's where it has them, so existing dashboards and alert
 * rules keep working; gatehouse's additions are prefixed gatehouse_.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { AuthQueryCounters } from './auth-query-counters.js';
import { BACKEND_CREATE_BUCKETS } from './duration-histogram.js';
import { Exposition, type FamilyJson } from './exposition.js';

export class Metrics {
  readonly registry = new Registry();

  readonly serverTlsConnections = new Gauge({
    name: 'pg_doorman_server_tls_connections',
    help: 'Number of open TLS connections to PostgreSQL.',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly serverTlsHandshakeDuration = new Histogram({
    name: 'pg_doorman_server_tls_handshake_duration_seconds',
    help: 'Duration of successful TLS handshakes with PostgreSQL.',
    labelNames: ['pool'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly serverTlsHandshakeErrors = new Counter({
    name: 'pg_doorman_server_tls_handshake_errors_total',
    help: 'Failed TLS attempts with PostgreSQL, for connections and cancel requests (handshake failures, verification failures, N under require or stronger).',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly connections = new Counter({
    name: 'pg_doorman_connections_total',
    help: 'Client connections by type: plain, tls (completed handshakes), cancel, total.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly backendCreateDuration = new Histogram({
    name: 'pg_doorman_backend_create_duration_seconds',
    help: "Duration of each phase of opening a backend connection: 'tcp_connect' (the socket), 'tls' (SSLRequest to the end of the handshake), 'auth' (StartupMessage to AuthenticationOk), 'startup' (AuthenticationOk to ReadyForQuery). Successful phases only; aggregated across pools.",
    labelNames: ['phase'] as const,
    buckets: [...BACKEND_CREATE_BUCKETS],
    registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: 'pg_doorman_listener_rejections_total',
    help: "Clients refused before login, by reason (PgDoorman's values: hba, tls_required, tls_handshake_fail, protocol_error, invalid_startup, too_many_clients; and gatehouse's own).",
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly sessionFailures = new Counter({
    name: 'gatehouse_session_failures_total',
    help: 'Clients whose session failed after login, by reason (server_unavailable, server_lost, protocol_error, internal_error).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly clientTlsHandshakeDuration = new Histogram({
    name: 'gatehouse_client_tls_handshake_duration_seconds',
    help: 'Duration of successful client TLS handshakes.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly clientTlsHandshakeFailures = new Counter({
    name: 'gatehouse_client_tls_handshake_failures_total',
    help: 'Client TLS handshakes that failed, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly serverConnectFailures = new Counter({
    name: 'gatehouse_server_connect_failures_total',
    help: 'Backend connection attempts that failed, by pool and reason.',
    labelNames: ['pool', 'reason'] as const,
    registers: [this.registry],
  });
  readonly cancelRequests = new Counter({
    name: 'gatehouse_cancel_requests_total',
    help: 'Cancel requests forwarded to PostgreSQL, by pool and outcome: sent, or why not (connect_failed, timeout, tls_unsupported, certificate_untrusted, …).',
    labelNames: ['pool', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly peerCancelRequests = new Counter({
    name: 'gatehouse_peer_cancel_requests_total',
    help: "Cancel requests whose key names another gatehouse instance (general.peer_id), by that peer id and outcome: sent (forwarded to it), ttl_expired or unknown_peer (dropped), wait_timeout (no free slot of the peer's pool_size in time), or why the forward failed (connect_failed, timeout, …).",
    labelNames: ['peer', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly tlsReloadFailures = new Counter({
    name: 'gatehouse_tls_reload_failures_total',
    help: 'SIGHUP reloads of TLS material that failed (the previous material stays in use), by side.',
    labelNames: ['side'] as const,
    // Every worker reloads the same file: the instance reloaded as often as any one of them.
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'gatehouse_config_reloads_total',
    help: 'Configuration reloads (SIGHUP, admin RELOAD) by result: ok, partial (some TLS files kept their previous material), failed (the file was invalid; nothing changed).',
    labelNames: ['result'] as const,
    // Every worker reloads the same file: the instance reloaded as often as any one of them.
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly hbaReloadFailures = new Counter({
    name: 'gatehouse_hba_reload_failures_total',
    help: 'SIGHUP reloads of pg_hba rules that failed (the previous rules stay in use).',
    // Every worker reloads the same file: the instance reloaded as often as any one of them.
    aggregator: 'max',
    registers: [this.registry],
  });
  readonly serverTlsProtocols = new Gauge({
    name: 'gatehouse_server_tls_protocol_connections',
    help: 'Open TLS connections to PostgreSQL by negotiated protocol version and cipher.',
    labelNames: ['pool', 'protocol', 'cipher'] as const,
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: 'gatehouse_tls_certificate_expiry_seconds',
    help: 'Seconds until the configured certificate expires: side=client is the certificate gatehouse shows its clients, side=server the one it shows PostgreSQL (per pool).',
    labelNames: ['side', 'pool'] as const,
    registers: [this.registry],
  });
  readonly journalDropped = new Counter({
    name: 'gatehouse_journal_lines_dropped_total',
    help: 'Journal lines not written to journal_file because the disk fell behind (clients never wait for it).',
    registers: [this.registry],
  });
  readonly pinnedClients = new Gauge({
    name: 'gatehouse_pinned_clients',
    help: 'Transaction-pooled clients holding their server because of what they keep on it (LISTEN, advisory locks, temporary objects, held cursors, SQL prepared statements).',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly clientsActive = new Gauge({
    name: 'gatehouse_clients',
    help: 'Client connections currently open.',
    registers: [this.registry],
  });

  private readonly scrapeHooks: Array<() => void> = [];
  private readonly writers: Array<(out: Exposition) => void> = [];
  /** Each auth_query pool's counters, by pool name. */
  readonly authQueries = new Map<string, AuthQueryCounters>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Run `hook` before every scrape (for values computed from state, like certificate expiry). */
  beforeScrape(hook: () => void): void {
    this.scrapeHooks.push(hook);
  }

  /** The counters of pool `pool`'s auth_query, made on first use. */
  authQueryCounters(pool: string): AuthQueryCounters {
    let counters = this.authQueries.get(pool);
    if (!counters) this.authQueries.set(pool, (counters = new AuthQueryCounters()));
    return counters;
  }

  /**
   * Families written at each scrape from gatehouse's own counters (pool traffic, duration buckets), after the
   * registry's: prom-client never sees them between scrapes.
   */
  exposeAtScrape(writer: (out: Exposition) => void): void {
    this.writers.push(writer);
  }

  /** The exposition text, after the scrape hooks ran. */
  async scrape(): Promise<string> {
    return (await this.registry.metrics()) + this.written().text();
  }

  /** Every family as JSON, for the supervisor to add up with the other workers' (aggregateScrapes). */
  async snapshot(): Promise<MetricJson[]> {
    const written = this.written();
    return [...(await this.registry.getMetricsAsJSON()), ...written.json()];
  }

  private written(): Exposition {
    for (const hook of this.scrapeHooks) hook();
    const out = new Exposition();
    for (const write of this.writers) write(out);
    return out;
  }
}

export type MetricJson = MetricObjectWithValues<MetricValue<string>> | FamilyJson;

/** One exposition for the instance: every worker's families combined by their aggregator (prom-client's cluster way). */
export function aggregateScrapes(snapshots: MetricJson[][]): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots as MetricObjectWithValues<MetricValue<string>>[][]).metrics();
}
