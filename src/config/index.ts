export { ConfigError, formatProblem, type ConfigProblem } from './errors.js';
export { parseDuration } from './duration.js';
export { loadConfig, parseConfig, type ParseOptions } from './load.js';
export { configWarnings } from './warnings.js';
export { passwordKind, scramSecretProblem, type PasswordKind } from './password.js';
export { formatKeyPath, suggestKey } from './key-path.js';
export {
  CLIENT_TLS_MODES,
  LOG_LEVELS,
  POOL_MODES,
  SERVER_TLS_MODES,
  type ClientTlsMode,
  type Config,
  type GeneralConfig,
  type LogLevel,
  type PoolConfig,
  type PoolMode,
  type ServerTlsMode,
  type ServerTlsSettings,
  type UserConfig,
  type WebConfig,
} from './types.js';
