/**
 * What a server connection goes through between two clients: its session discarded after a client that may have
 * changed it (DISCARD ALL), and its settings made the next client's (SET, RESET).
 */
import { ProxyError, reportedSqlState } from '../protocol/index.js';
import type { ServerConnection } from './server-connection.js';
import { settingsDiff } from './startup-parameters.js';

/**
 * DISCARD ALL, so that the next client does not see this one's session; `clean` then takes the connection back.
 * One the reset fails on is closed.
 */
export function discardSession(conn: ServerConnection, timeoutMs: number, clean: (conn: ServerConnection) => void): void {
  conn.toResetting();
  conn.runSimpleQuery('DISCARD ALL', timeoutMs).then(
    (r) => {
      if (r.error || r.status !== 'I') return conn.close();
      // DISCARD ALL undoes every SET and deallocates every statement, gatehouse's own too.
      conn.settings.clear();
      conn.statements.clear();
      clean(conn);
    },
    // A reset that timed out or lost its socket has closed the connection already.
    () => undefined,
  );
}

/** The client's startup parameters set on the server (one simple query; nothing when they match already). */
export async function applySettings(conn: ServerConnection, wanted: Map<string, string>, timeoutMs: number): Promise<void> {
  const { sql, changed, reset } = settingsDiff(conn.settings, wanted, conn.parameters);
  if (!sql) return;
  const result = await conn.runSimpleQuery(sql, timeoutMs);
  if (result.error) {
    throw new ProxyError('pool.settings_rejected', reportedSqlState(result.error.code), `server rejected a startup parameter: ${result.error.message}`);
  }
  for (const [k, v] of changed) conn.settings.set(k, v);
  for (const k of reset) conn.settings.delete(k);
}
