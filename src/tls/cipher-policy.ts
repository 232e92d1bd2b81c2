/**
 * Default TLS policy: Mozilla "intermediate" (TLS 1.2 minimum, TLS 1.3 on). Node takes TLS 1.3
 * suites and TLS 1.2 ciphers in one `ciphers` string.
 */
export const TLS13_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

export const MOZILLA_INTERMEDIATE_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

export const DEFAULT_CIPHERS = `${TLS13_CIPHERSUITES}:${MOZILLA_INTERMEDIATE_TLS12_CIPHERS}`;
export const DEFAULT_MIN_VERSION = 'TLSv1.2' as const;

/** ALPN protocol PostgreSQL 17+ uses, required for direct TLS. */
export const POSTGRESQL_ALPN = 'postgresql';

/**
 * A client-facing TLS socket's ALPN choice: postgresql when the client offers it, else none, which OpenSSL answers
 * with a no_application_protocol alert, as it does for `ALPNProtocols: ['postgresql']`. A callback rather than that
 * list because Node copies the list into a slice of Buffer's shared pool for every socket and keeps it there for the
 * socket's life, which keeps a whole 8 kB slab alive per few idle clients.
 */
export function selectPostgresqlAlpn({ protocols }: { protocols: string[] }): string | undefined {
  return protocols.includes(POSTGRESQL_ALPN) ? POSTGRESQL_ALPN : undefined;
}
