export { formatScramSecret, parseStoredPassword } from './password-format.js';
export type { ScramSecret, StoredPassword } from './password-format.js';
export { md5ClientResponse, md5PasswordHash, md5SaltedResponse } from './md5.js';
export { saslPrep } from './saslprep.js';
export { clearScramMemos, deriveScramSecret, scramSecretFor } from './scram-secret.js';
export { SCRAM_MECHANISMS, ScramServerSession } from './scram-server.js';
export type { ScramServerOptions } from './scram-server.js';
export { DEFAULT_MAX_SCRAM_ITERATIONS, ScramClientSession } from './scram-client.js';
export type { ScramClientOptions } from './scram-client.js';
