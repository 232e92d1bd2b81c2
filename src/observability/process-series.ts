/**
 * PgDoorman's process series: build_info, users_configured, log_level, total_memory and (Linux) sockets, written
 * at scrape time.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { packageRoot } from '../package-root.js';
import type { Exposition } from './exposition.js';

export type SocketType = 'tcp' | 'tcp6' | 'unix' | 'unknown';

/** Socket inodes listed in one /proc/self/net table (the inode column is the 10th of tcp/tcp6, the 7th of unix). */
function inodesIn(table: string, column: number, into: Map<string, SocketType>, type: SocketType): void {
  let text: string;
  try {
    text = readFileSync(`/proc/self/net/${table}`, 'latin1');
  } catch {
    return;
  }
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const inode = lines[i].trim().split(/\s+/)[column];
    if (inode) into.set(inode, type);
  }
}

/** The process's open sockets by type, from /proc/self/fd; null where /proc is not Linux's. */
export function socketsByType(): Record<SocketType, number> | null {
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return null;
  }
  const types = new Map<string, SocketType>();
  inodesIn('tcp', 9, types, 'tcp');
  inodesIn('tcp6', 9, types, 'tcp6');
  inodesIn('unix', 6, types, 'unix');
  const counts: Record<SocketType, number> = { tcp: 0, tcp6: 0, unix: 0, unknown: 0 };
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) counts[types.get(m[1]) ?? 'unknown']++;
  }
  return counts;
}

/** gatehouse's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('package.json', packageRoot()), 'utf8')) as { version: string }).version;
}

export interface ProcessFacts {
  version: string;
  config: Config;
  logLevel: () => string;
}

export function writeProcessSeries(out: Exposition, facts: ProcessFacts): void {
  const P = 'pg_doorman_';
  out.family(`${P}build_info`, 'gauge', 'Always 1; the version label is gatehouse\'s version.').sample(`${P}build_info`, { version: facts.version }, 1);
  out.family(`${P}users_configured`, 'gauge', 'One series per configured (user, database, pool_mode), value 1.');
  for (const pool of Object.values(facts.config.pools)) {
    for (const user of pool.users) out.sample(`${P}users_configured`, { user: user.username, database: pool.name, pool_mode: pool.pool_mode }, 1);
  }
  out.family(`${P}log_level`, 'gauge', 'The log level in effect, as the level label; value 1.').sample(`${P}log_level`, { level: facts.logLevel() }, 1);
  out.family(`${P}total_memory`, 'gauge', 'Resident memory of the gatehouse process, bytes.').sample(`${P}total_memory`, {}, process.memoryUsage.rss());
  const sockets = socketsByType();
  if (sockets) {
    out.family(`${P}sockets`, 'gauge', "Open sockets of the process by type: 'tcp', 'tcp6', 'unix', 'unknown' (Linux only).");
    for (const [type, n] of Object.entries(sockets)) out.sample(`${P}sockets`, { type }, n);
  }
}
