/**
 * Which settings a reload (SIGHUP, the admin console's RELOAD) applies, and which wait for a restart:
 * the listeners' addresses, the journal's sink and ring size, the web listener and the TLS handshake
 * rate limiter are set up once at start, and general.peer_id is written into every cancel key already issued.
 * Everything else (the peers section included) is applied to new connections, and pools
 * are rebuilt as their settings require (docs/operations.md).
 */
import type { Config } from './types.js';

const RESTART_GENERAL = ['host', 'port', 'unix_socket_dir', 'unix_socket_mode', 'journal_file', 'journal_size', 'tls_rate_limit_per_second', 'worker_threads', 'peer_id'];

/** Whether a change of `keyPath` (general.port, web.enabled, pools.app.pool_mode) needs a restart. */
export function needsRestart(keyPath: string): boolean {
  const [section, key] = keyPath.split('.');
  if (section === 'web') return true;
  return section === 'general' && RESTART_GENERAL.includes(key);
}

const shown = (value: unknown) => JSON.stringify(value);

/** The new general section, with the restart-only settings kept as they run (they are what is in force). */
export function generalInForce(running: Config, next: Config): Config['general'] {
  const general = { ...next.general };
  for (const key of RESTART_GENERAL) (general as Record<string, unknown>)[key] = running.general[key as keyof Config['general']];
  return general;
}

/** The restart-only settings that differ between the configuration in force and a newly read one. */
export function restartChanges(running: Config, next: Config): string[] {
  const changes: string[] = [];
  for (const key of RESTART_GENERAL) {
    const a = running.general[key as keyof Config['general']];
    const b = next.general[key as keyof Config['general']];
    if (shown(a) !== shown(b)) changes.push(`general.${key} (${shown(a)} → ${shown(b)})`);
  }
  for (const key of Object.keys(next.web) as Array<keyof Config['web']>) {
    if (running.web[key] !== next.web[key]) changes.push(`web.${key} (${shown(running.web[key])} → ${shown(next.web[key])})`);
  }
  return changes;
}
