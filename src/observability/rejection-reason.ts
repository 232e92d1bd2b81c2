/**
 * The `reason` label of pg_doorman_listener_rejections_total. The client-session machine names each failure
 * precisely (its journal keeps that name); the metric uses PgDoorman's value where PgDoorman has one, so that its
 * alert rules match: hba, tls_required, tls_handshake_fail, protocol_error, invalid_startup, too_many_clients.
 * Reasons PgDoorman has no value for stay as gatehouse's own extra values (docs/observability.md lists them).
 */
const PGDOORMAN_REASON: Readonly<Record<string, string>> = {
  tls_handshake_failed: 'tls_handshake_fail',
  // The client's certificate failed verification during the handshake, or the direct-TLS handshake lacked ALPN.
  client_certificate_rejected: 'tls_handshake_fail',
  direct_tls_without_alpn: 'tls_handshake_fail',
  // pg_hba `cert` rules refused the client.
  hba_cert_missing: 'hba',
  hba_cert_identity_mismatch: 'hba',
  // CVE-2021-23214: plaintext after an SSLRequest is an unexpected startup sequence.
  unencrypted_bytes_after_ssl_request: 'protocol_error',
};

export function listenerRejectionReason(machineReason: string): string {
  return PGDOORMAN_REASON[machineReason] ?? machineReason;
}
