/**
 * SHOW CONFIG: every setting in force, as key, value, default and whether a reload changes it.
 * Passwords are never shown; pg_hba is named by where its rules came from.
 */
import { parseConfig } from '../../config/index.js';
import { needsRestart } from '../../config/reload-scope.js';
import type { Config, PoolConfig } from '../../config/types.js';
import type { Cell } from './result-set.js';

const SECRET = new Set(['admin_password', 'password', 'server_password']);
const HIDDEN = '********';

let defaults: Config | null = null;
/** What every key is when a file does not set it. */
function defaultConfig(): Config {
  defaults ??= parseConfig('pools: { p: { users: [{ username: u, password: x }] } }', '<defaults>', { checkFiles: false });
  return defaults;
}

function text(key: string, value: unknown): string {
  if (value === null || value === undefined) return '';
  if (SECRET.has(key)) return HIDDEN;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function poolValue(pool: PoolConfig, key: keyof PoolConfig): unknown {
  const value = pool[key];
  if (key === 'users') return pool.users.map((u) => u.username).join(',');
  if (key === 'auth_query' && pool.auth_query) return { ...pool.auth_query, password: HIDDEN, server_password: pool.auth_query.server_password && HIDDEN };
  return value;
}

export function configRows(config: Config): Cell[][] {
  const base = defaultConfig();
  const rows: Cell[][] = [];
  const add = (path: string, key: string, value: unknown, fallback: unknown) =>
    rows.push([path, text(key, value), fallback === undefined ? '-' : text(key, fallback), needsRestart(path) ? 'no' : 'yes']);
  for (const [key, value] of Object.entries(config.general)) {
    const shownValue = key === 'pg_hba' ? (config.general.pg_hba?.source ?? null) : value;
    add(`general.${key}`, key, shownValue, key === 'pg_hba' ? null : base.general[key as keyof Config['general']]);
  }
  for (const [key, value] of Object.entries(config.web)) add(`web.${key}`, key, value, base.web[key as keyof Config['web']]);
  const basePool = base.pools.p;
  for (const pool of Object.values(config.pools)) {
    for (const key of Object.keys(pool) as Array<keyof PoolConfig>) {
      if (key === 'name') continue;
      const fallback = key === 'users' || key === 'server_database' ? undefined : poolValue(basePool, key);
      add(`pools.${pool.name}.${key}`, key, poolValue(pool, key), fallback);
    }
  }
  for (const peer of config.peers) add(`peers.${peer.peer_id}`, 'peers', { host: peer.host, port: peer.port, pool_size: peer.pool_size }, undefined);
  return rows;
}
