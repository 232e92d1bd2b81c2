// What psql (libpq 15) must see through gatehouse for every tls_mode × sslmode × client certificate.
// Written from docs/tls.md (what gatehouse promises) and libpq's documented sslmode behaviour, not
// from watching gatehouse: the table is the specification the matrix test checks.

export const TLS_MODES = ['disable', 'allow', 'require', 'verify-full'] as const;
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export const CLIENT_CERTS = ['none', 'trusted', 'untrusted'] as const;

export type TlsMode = (typeof TLS_MODES)[number];
export type SslMode = (typeof SSL_MODES)[number];
export type ClientCert = (typeof CLIENT_CERTS)[number];

export type Outcome = { connects: true; tls: boolean } | { connects: false; error: RegExp };

/** libpq: a required-TLS client told 'N'. */
const NO_SSL = /server does not support SSL, but SSL was required/;
/** gatehouse: a plain StartupMessage under require / verify-full (FATAL 28000). */
const TLS_REQUIRED = /TLS is required by tls_mode/;
/** gatehouse: verify-full and no client certificate, or one that does not chain to tls_ca_cert (FATAL 28000 over TLS). */
const CERT_REJECTED = /client certificate rejected/;

type Attempt = 'tls' | 'plain' | 'no-ssl' | 'tls-required' | 'cert-rejected';

/** One TLS attempt (SSLRequest): every gatehouse here has a certificate, so every mode but disable answers 'S'. */
function tlsAttempt(mode: TlsMode, cert: ClientCert): Attempt {
  if (mode === 'disable') return 'no-ssl';
  // Only verify-full asks for a client certificate, and only one chaining to tls_ca_cert passes.
  if (mode === 'verify-full' && cert !== 'trusted') return 'cert-rejected';
  return 'tls';
}

/** One plain StartupMessage: disable and allow accept it, require and verify-full answer FATAL 28000. */
function plainAttempt(mode: TlsMode): Attempt {
  return mode === 'disable' || mode === 'allow' ? 'plain' : 'tls-required';
}

function outcomeOf(attempt: Attempt, alternatives: RegExp = /$^/): Outcome {
  switch (attempt) {
    case 'tls':
      return { connects: true, tls: true };
    case 'plain':
      return { connects: true, tls: false };
    case 'no-ssl':
      return { connects: false, error: NO_SSL };
    case 'tls-required':
      return { connects: false, error: new RegExp(`${TLS_REQUIRED.source}|${alternatives.source}`) };
    case 'cert-rejected':
      return { connects: false, error: new RegExp(`${CERT_REJECTED.source}|${alternatives.source}`) };
  }
}

export function expectedOutcome(mode: TlsMode, sslmode: SslMode, cert: ClientCert): Outcome {
  switch (sslmode) {
    case 'disable':
      return outcomeOf(plainAttempt(mode));
    case 'allow': {
      // Plain first; libpq retries with TLS on a new socket only after an ErrorResponse.
      const plain = plainAttempt(mode);
      return outcomeOf(plain === 'tls-required' ? tlsAttempt(mode, cert) : plain);
    }
    case 'prefer': {
      // SSLRequest; 'N' → plain on the same socket. A failed handshake, or an ErrorResponse over TLS,
      // → one more try in plain on a new socket (libpq then reports both errors).
      const tls = tlsAttempt(mode, cert);
      if (tls === 'no-ssl') return outcomeOf(plainAttempt(mode));
      if (tls === 'cert-rejected') return outcomeOf(plainAttempt(mode), CERT_REJECTED);
      return outcomeOf(tls);
    }
    case 'require':
    case 'verify-ca':
    case 'verify-full':
      // TLS or nothing. sslrootcert is the CA that signed gatehouse's certificate (which names
      // 127.0.0.1), so chain and host name verification pass.
      return outcomeOf(tlsAttempt(mode, cert));
  }
}

export function describeOutcome(outcome: Outcome): string {
  if (outcome.connects) return outcome.tls ? 'connects over TLS' : 'connects in plain';
  return `is refused (${outcome.error.source.split('|')[0]})`;
}
