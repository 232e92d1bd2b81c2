/**
 * The TLS material of both sides, from one Config: the client side's (ClientTlsProvider) and each pool's, for its
 * server connections. A reload re-reads the files: new handshakes use the new material, established connections
 * keep theirs, and a side whose files fail to load keeps its previous material.
 */
import type { Logger } from 'pino';
import type { Config, GeneralConfig } from '../config/types.js';
import type { Metrics } from '../observability/metrics.js';
import { ClientTlsProvider } from '../tls/client-tls.js';
import { loadServerTls, type ServerTlsMaterial } from '../tls/server-tls.js';

/** The general keys of client-side TLS: a change builds new material for new handshakes. */
const CLIENT_TLS_KEYS = [
  'tls_mode', 'tls_certificate', 'tls_private_key', 'tls_ca_cert', 'tls_min_version', 'tls_max_version', 'tls_ciphers', 'tls13_ciphersuites',
] as const;

/** Whether a reload changed the client-side TLS settings (new material, not only the same files read again). */
export function clientTlsChanged(running: GeneralConfig, next: GeneralConfig): boolean {
  return CLIENT_TLS_KEYS.some((k) => JSON.stringify(next[k]) !== JSON.stringify(running[k]));
}

export class TlsMaterial {
  readonly client: ClientTlsProvider;
  /** Per pool; null: its server connections use no TLS. */
  private readonly server = new Map<string, ServerTlsMaterial | null>();

  /** `config`: the running configuration, read as it is at each reload. */
  constructor(
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    const g = config.general;
    this.client = new ClientTlsProvider(g.tls_mode, g);
    for (const pool of Object.values(config.pools)) {
      this.server.set(pool.name, pool.server_tls.mode === 'disable' ? null : loadServerTls(pool.server_tls));
    }
  }

  /** What a pool's new server connections use. */
  serverFor(pool: string): ServerTlsMaterial | null {
    return this.server.get(pool) ?? null;
  }

  /** The certificate-expiry series, before a scrape. */
  recordExpiry(): void {
    const now = Date.now();
    const expiry = this.metrics.certificateExpiry;
    expiry.reset();
    const client = this.client.current;
    if (client) expiry.set({ side: 'client', pool: '' }, (client.notAfter.getTime() - now) / 1000);
    for (const [pool, material] of this.server) {
      if (material?.clientCertificateNotAfter) expiry.set({ side: 'server', pool }, (material.clientCertificateNotAfter.getTime() - now) / 1000);
    }
  }

  /**
   * Re-read the TLS files of both sides (`clientSettingsChanged`: the client side's settings changed too, so its
   * material is built anew). What failed to load is listed, and keeps its previous material.
   */
  reload(clientSettingsChanged: boolean): { failures: string[] } {
    const failures: string[] = [];
    const attempt = (side: 'client' | 'server', what: string, load: () => void) => {
      try {
        load();
        this.logger.info({ side, what }, 'TLS material reloaded');
      } catch (err) {
        failures.push(`${what}: ${(err as Error).message}`);
        this.metrics.tlsReloadFailures.inc({ side });
        this.logger.error({ side, what, err: (err as Error).message }, 'TLS reload failed; keeping the previous material');
      }
    };
    const g = this.config.general;
    if (clientSettingsChanged) attempt('client', 'general.tls_*', () => this.client.reconfigure(g.tls_mode, g));
    else if (this.client.available) attempt('client', 'general.tls_*', () => this.client.reload());
    for (const pool of Object.values(this.config.pools)) {
      if (pool.server_tls.mode === 'disable') {
        this.server.set(pool.name, null);
        continue;
      }
      attempt('server', `pools.${pool.name}.server_tls_*`, () => this.server.set(pool.name, loadServerTls(pool.server_tls)));
    }
    return { failures };
  }
}
