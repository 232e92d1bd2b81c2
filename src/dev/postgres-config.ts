// Text that configures a dev cluster: postgresql.conf settings, pg_hba.conf, and the bootstrap SQL run in
// single-user mode. Pure functions; the cluster module writes their output.

export type SettingValue = string | number | boolean;

export interface ClusterUser {
  name: string;
  password?: string;
  /** Default 'scram-sha-256'. */
  passwordEncryption?: 'scram-sha-256' | 'md5';
  superuser?: boolean;
}

export interface ClusterDatabase {
  name: string;
  owner?: string;
}

/** Always first in pg_hba.conf: the harness administers the cluster over the Unix socket as `postgres`. */
export const ADMIN_HBA_LINE = 'local all all trust';

function rejectLineBreaks(what: string, value: string): void {
  if (/[\r\n\0]/.test(value)) throw new Error(`${what} must not contain line breaks or NUL: ${JSON.stringify(value)}`);
}

/** One `name = value` line; strings are quoted with '' and \\ escaped as postgresql.conf reads them. */
export function renderSetting(name: string, value: SettingValue): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`invalid PostgreSQL setting name ${JSON.stringify(name)}`);
  if (typeof value === 'boolean') return `${name} = ${value ? 'on' : 'off'}`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`setting ${name} must be a finite number, got ${value}`);
    return `${name} = ${value}`;
  }
  rejectLineBreaks(`setting ${name}`, value);
  return `${name} = '${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export function renderSettings(settings: Record<string, SettingValue>): string {
  return Object.entries(settings)
    .map(([name, value]) => `${renderSetting(name, value)}\n`)
    .join('');
}

/** pg_hba.conf: the admin trust line, then the caller's lines verbatim, one per line. */
export function renderHba(lines: string[]): string {
  for (const line of lines) rejectLineBreaks('a pg_hba.conf line', line);
  return [ADMIN_HBA_LINE, ...lines].map((line) => `${line}\n`).join('');
}

export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('SQL identifier must not be empty');
  rejectLineBreaks('SQL identifier', name);
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(value: string): string {
  rejectLineBreaks('SQL literal', value);
  // standard_conforming_strings is on (the default since 9.1): backslashes are literal.
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Statements that create the users and databases, one per line: single-user mode (`postgres --single`)
 * ends a statement at each newline, so no statement may contain one.
 */
export function bootstrapStatements(users: ClusterUser[], databases: ClusterDatabase[]): string[] {
  const statements: string[] = [];
  for (const user of users) {
    statements.push(`SET password_encryption = ${quoteLiteral(user.passwordEncryption ?? 'scram-sha-256')}`);
    // initdb already made `postgres`, the bootstrap superuser, which cannot give up SUPERUSER; any other name is new.
    const isBootstrap = user.name === 'postgres';
    const attributes = ['LOGIN'];
    if (!isBootstrap) attributes.push(user.superuser ? 'SUPERUSER' : 'NOSUPERUSER');
    attributes.push(user.password === undefined ? 'PASSWORD NULL' : `PASSWORD ${quoteLiteral(user.password)}`);
    const verb = isBootstrap ? 'ALTER ROLE' : 'CREATE ROLE';
    statements.push(`${verb} ${quoteIdent(user.name)} WITH ${attributes.join(' ')}`);
  }
  for (const db of databases) {
    const owner = db.owner === undefined ? '' : ` OWNER ${quoteIdent(db.owner)}`;
    statements.push(`CREATE DATABASE ${quoteIdent(db.name)}${owner}`);
  }
  return statements;
}
