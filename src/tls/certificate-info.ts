/** What gatehouse records about a certificate: identifying facts only, never the certificate or a key. */
import type { PeerCertificate as NodePeerCertificate } from 'node:tls';
import type { PeerCertificate } from '../../machines/client-session.types.js';

function distinguishedName(name: Record<string, string | string[]> | undefined): string {
  if (!name) return '';
  return Object.entries(name)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(', ');
}

export function describePeerCertificate(cert: NodePeerCertificate | Record<string, never> | null | undefined): PeerCertificate | null {
  if (!cert || !('fingerprint256' in cert) || !cert.fingerprint256) return null;
  const cn = (cert.subject as unknown as Record<string, string | string[]> | undefined)?.CN;
  return {
    commonName: Array.isArray(cn) ? (cn[0] ?? null) : (cn ?? null),
    subject: distinguishedName(cert.subject as unknown as Record<string, string>),
    issuer: distinguishedName(cert.issuer as unknown as Record<string, string>),
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
  };
}
