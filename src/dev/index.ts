// Development and test infrastructure: certificates and throwaway PostgreSQL clusters.
export {
  createCertificateAuthority,
  writeCertificateFiles,
  type CertificateAuthority,
  type IssueOptions,
  type IssuedCertificate,
} from './certificates.js';
export { freePort, tcpAccepts } from './free-port.js';
export { adminQuery, AdminQueryError, type AdminQueryTarget } from './admin-query.js';
export {
  availableFlavors,
  embeddedLibDir,
  embeddedPostgresInstalled,
  EmbeddedPostgresMissingError,
  type PostgresFlavor,
} from './postgres-binaries.js';
export type { ClusterDatabase, ClusterUser, SettingValue } from './postgres-config.js';
export { startCluster, type Cluster, type ClusterOptions, type RestartKind } from './postgres-cluster.js';
