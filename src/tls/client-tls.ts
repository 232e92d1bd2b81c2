/**
 * TLS material for the client side (clients → gatehouse): gatehouse is the TLS server here.
 * The secure context is built once per (re)load and shared by every handshake.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { GeneralConfig, ClientTlsMode } from '../config/types.js';
import { readCaBundle } from './ca-bundle.js';
import { MOZILLA_INTERMEDIATE_TLS12_CIPHERS, TLS13_CIPHERSUITES } from './cipher-policy.js';

export type ClientTlsSettings = Pick<
  GeneralConfig,
  'tls_certificate' | 'tls_private_key' | 'tls_ca_cert' | 'tls_min_version' | 'tls_max_version' | 'tls_ciphers' | 'tls13_ciphersuites'
>;

export interface ClientTlsMaterial {
  context: SecureContext;
  /** Expiry of the configured server certificate, for the expiry gauge. */
  notAfter: Date;
  loadedAt: Date;
}

export class ClientTlsProvider {
  private material: ClientTlsMaterial | null;

  constructor(
    private tlsMode: ClientTlsMode,
    private settings: ClientTlsSettings,
  ) {
    this.material = tlsMode === 'disable' ? null : loadClientTls(settings);
  }

  /** tls_mode as new connections get it. */
  get mode(): ClientTlsMode {
    return this.tlsMode;
  }

  /**
   * A reload changed tls_mode or a tls_* setting: new handshakes use the new ones. If the new files do not load,
   * the error is thrown and the previous mode, settings and material stay.
   */
  reconfigure(mode: ClientTlsMode, settings: ClientTlsSettings): void {
    const material = mode === 'disable' ? null : loadClientTls(settings);
    this.tlsMode = mode;
    this.settings = settings;
    this.material = material;
  }

  /** TLS can be offered: a certificate and key are configured and the mode is not disable. */
  get available(): boolean {
    return this.material !== null;
  }

  get current(): ClientTlsMaterial | null {
    return this.material;
  }

  /** Re-read the files; on failure the previous material stays in use and the error is thrown. */
  reload(): ClientTlsMaterial | null {
    if (this.tlsMode === 'disable') return null;
    const next = loadClientTls(this.settings);
    this.material = next;
    return next;
  }
}

export function loadClientTls(s: ClientTlsSettings): ClientTlsMaterial | null {
  if (!s.tls_certificate || !s.tls_private_key) return null;
  const cert = readFileSync(s.tls_certificate);
  const key = readFileSync(s.tls_private_key);
  const context = createSecureContext({
    cert,
    key,
    // Every certificate of the bundle is trusted for client certificates (PgDoorman keeps only the first).
    ca: s.tls_ca_cert ? readCaBundle(s.tls_ca_cert) : undefined,
    minVersion: s.tls_min_version,
    maxVersion: s.tls_max_version,
    // Node takes TLS 1.3 suites and TLS 1.2 ciphers in one list.
    ciphers: `${s.tls13_ciphersuites ?? TLS13_CIPHERSUITES}:${s.tls_ciphers ?? MOZILLA_INTERMEDIATE_TLS12_CIPHERS}`,
    honorCipherOrder: true,
  });
  return { context, notAfter: new Date(new X509Certificate(cert).validTo), loadedAt: new Date() };
}
