import { createHash } from 'node:crypto';

const MD5_HASH = /^md5[0-9a-f]{32}$/;

function md5Hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** 'md5' + hex(md5(password + username)): the form PostgreSQL stores in pg_authid for md5 passwords. */
export function md5PasswordHash(username: string, password: string): string {
  return 'md5' + md5Hex(Buffer.from(password + username, 'utf8'));
}

/**
 * 'md5' + hex(md5(hex-digits-of-md5Hash + salt)): what a client must answer to
 * AuthenticationMD5Password with the 4-byte `salt`, given the stored hash.
 */
export function md5SaltedResponse(md5Hash: string, salt: Buffer): string {
  if (!MD5_HASH.test(md5Hash)) throw new Error('md5SaltedResponse needs an md5 hash: "md5" followed by 32 lowercase hex digits');
  return 'md5' + md5Hex(Buffer.concat([Buffer.from(md5Hash.slice(3), 'latin1'), salt]));
}

/** The PasswordMessage a client sends for md5 authentication, computed from the plain password. */
export function md5ClientResponse(username: string, password: string, salt: Buffer): string {
  return md5SaltedResponse(md5PasswordHash(username, password), salt);
}
