export { ConfigError, formatProblem, type ConfigProblem } from './errors.js';
export { parseDuration } from './duration.js';
export { loadConfig, parseConfig, type ParseOptions } from './load.js';
export { compatibilityReport, configWarnings } from './warnings.js';
export { ignoredKeyReason } from './pgdoorman-keys.js';
export { unixSocketPath } from './unix-socket.js';
export { passwordKind, scramSecretProblem, type PasswordKind } from './password.js';
export { formatKeyPath, suggestKey } from './key-path.js';
export {
  CLIENT_CERT_IDENTITIES,
  CLIENT_TLS_MODES,
  LOG_LEVELS,
  POOL_MODES,
  SERVER_TLS_MODES,
  SERVER_TLS_NEGOTIATIONS,
  TLS13_CIPHERSUITE_NAMES,
  TLS_VERSIONS,
  type AuthQueryConfig,
  type ClientCertIdentity,
  type ClientTlsMode,
  type Config,
  type GeneralConfig,
  type LogLevel,
  type PeerConfig,
  type PoolConfig,
  type PoolMode,
  type ServerAuth,
  type ServerTlsMode,
  type ServerTlsNegotiation,
  type ServerTlsSettings,
  type Tls13CiphersuiteName,
  type TlsVersion,
  type UserConfig,
  type WebConfig,
} from './types.js';
