/**
 * TLS material for the client side (clients → gatehouse): gatehouse is the TLS server here.
 * The secure context is built once per (re)load and shared by every handshake.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { GeneralConfig, ClientTlsMode } from '../config/types.js';
import { DEFAULT_CIPHERS, DEFAULT_MIN_VERSION } from './cipher-policy.js';

export interface ClientTlsMaterial {
  context: SecureContext;
  /** Expiry of the configured server certificate, for the expiry gauge. */
  notAfter: Date;
  loadedAt: Date;
}

export class ClientTlsProvider {
  private material: ClientTlsMaterial | null;

  constructor(
    readonly mode: ClientTlsMode,
    private readonly settings: Pick<GeneralConfig, 'tls_certificate' | 'tls_private_key' | 'tls_ca_cert'>,
  ) {
    this.material = mode === 'disable' ? null : loadClientTls(settings);
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
    if (this.mode === 'disable') return null;
    const next = loadClientTls(this.settings);
    this.material = next;
    return next;
  }
}

export function loadClientTls(s: Pick<GeneralConfig, 'tls_certificate' | 'tls_private_key' | 'tls_ca_cert'>): ClientTlsMaterial | null {
  if (!s.tls_certificate || !s.tls_private_key) return null;
  const cert = readFileSync(s.tls_certificate);
  const key = readFileSync(s.tls_private_key);
  const context = createSecureContext({
    cert,
    key,
    // Every certificate of the bundle is trusted for client certificates (PgDoorman keeps only the first).
    ca: s.tls_ca_cert ? readFileSync(s.tls_ca_cert) : undefined,
    minVersion: DEFAULT_MIN_VERSION,
    ciphers: DEFAULT_CIPHERS,
    honorCipherOrder: true,
  });
  return { context, notAfter: new Date(new X509Certificate(cert).validTo), loadedAt: new Date() };
}
