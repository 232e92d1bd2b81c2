/**
 * TLS material for the server side (gatehouse → PostgreSQL): gatehouse is the TLS client here.
 * Only the configured CA bundle is trusted (passing `ca` replaces Node's built-in root store).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type SecureContext, type PeerCertificate } from 'node:tls';
import type { ServerTlsSettings } from '../config/types.js';
import { readCaBundle } from './ca-bundle.js';
import { DEFAULT_CIPHERS, DEFAULT_MIN_VERSION, POSTGRESQL_ALPN } from './cipher-policy.js';

export interface ServerTlsMaterial {
  settings: ServerTlsSettings;
  context: SecureContext;
  /** Expiry of the client certificate presented to PostgreSQL, when one is configured. */
  clientCertificateNotAfter: Date | null;
  loadedAt: Date;
}

export function loadServerTls(settings: ServerTlsSettings): ServerTlsMaterial {
  const cert = settings.certificate ? readFileSync(settings.certificate) : undefined;
  const context = createSecureContext({
    ca: settings.ca_cert ? readCaBundle(settings.ca_cert) : undefined,
    cert,
    key: settings.private_key ? readFileSync(settings.private_key) : undefined,
    minVersion: DEFAULT_MIN_VERSION,
    ciphers: DEFAULT_CIPHERS,
  });
  return { settings, context, clientCertificateNotAfter: cert ? new Date(new X509Certificate(cert).validTo) : null, loadedAt: new Date() };
}

/** Options for tls.connect over an existing socket; verification is reported, then judged by the machine. */
export function serverTlsConnectOptions(material: ServerTlsMaterial, host: string): ConnectionOptions {
  return {
    secureContext: material.context,
    // SNI carries DNS names only (RFC 6066 forbids IP literals).
    servername: isIP(host) ? undefined : host,
    ALPNProtocols: [POSTGRESQL_ALPN],
    rejectUnauthorized: false,
    // Hostname checking is done by hostnameError() so that the machine decides what a mismatch means.
    checkServerIdentity: () => undefined,
  };
}

/** null when the certificate names `host` (DNS SAN, or IP SAN for an IP literal), else the reason. */
export function hostnameError(host: string, cert: PeerCertificate): string | null {
  const err = checkServerIdentity(host, cert);
  return err ? err.message : null;
}
