/**
 * Client startup parameters on pooled server connections. A server connection remembers the
 * parameter values it was started or SET with; before a client is attached, the values that
 * differ are applied (set_config) so every client sees the session it asked for.
 */
import { ProxyError, SqlState } from '../protocol/index.js';

/** Startup keys that are not session settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'replication', 'options']);

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal that reads the same whatever standard_conforming_strings is (PostgreSQL's quote_literal). */
export function quoteLiteral(value: string): string {
  const quoted = `'${value.replace(/'/g, "''")}'`;
  return value.includes('\\') ? `E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}

/**
 * The settings a client asked for: its startup parameters plus `-c name=value` / `--name=value`
 * pairs from `options`. Anything else in `options` cannot be honoured on a shared connection.
 */
export function clientSettings(parameters: Record<string, string>): Map<string, string> {
  const settings = new Map<string, string>();
  for (const [name, value] of Object.entries(parameters)) {
    if (!NOT_SETTINGS.has(name)) settings.set(name, value);
  }
  const options = parameters.options?.trim();
  if (options) {
    const tokens = options.split(/\s+/);
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i];
      let pair: string | undefined;
      if (token === '-c') pair = tokens[++i];
      else if (token.startsWith('-c') || token.startsWith('--')) pair = token.slice(2);
      const eq = pair ? pair.indexOf('=') : 0;
      if (!pair || eq <= 0) {
        throw new ProxyError('startup.unsupported_options', SqlState.FEATURE_NOT_SUPPORTED, `unsupported startup parameter in options: ${token}`);
      }
      settings.set(pair.slice(0, eq).replace(/-/g, '_'), pair.slice(eq + 1));
    }
  }
  return settings;
}

/**
 * Whether a server connection already has exactly the settings a client wants: every wanted value
 * is applied or reported, and nothing an earlier client SET is left over. What settingsDiff would
 * turn into an empty statement, without building it (the transaction-pooling fast path asks per transaction).
 */
export function settingsMatch(applied: ReadonlyMap<string, string>, wanted: ReadonlyMap<string, string>, reported: ReadonlyMap<string, string>): boolean {
  for (const [name, value] of wanted) {
    if ((applied.get(name) ?? reported.get(name)) !== value) return false;
  }
  for (const name of applied.keys()) {
    if (!wanted.has(name)) return false;
  }
  return true;
}

/** Applied first: setting the session user resets the role (so `role` is applied again after it). */
const SESSION_AUTHORIZATION = 'session_authorization';
const ROLE = 'role';

/**
 * The statements that bring a server connection's settings to what the client asked for ('' when
 * none). `applied` holds what earlier clients set on it; `reported` the values the server announced
 * in ParameterStatus, so a value it already has costs no round trip. Values are applied with
 * set_config(), which takes them as PostgreSQL's startup packet would (`SET search_path TO 'a, b'`
 * would name one schema "a, b"); names no longer wanted are RESET.
 */
export function settingsDiff(
  applied: Map<string, string>,
  wanted: Map<string, string>,
  reported: ReadonlyMap<string, string>,
): { sql: string; changed: Map<string, string>; reset: string[] } {
  const changed = new Map<string, string>();
  const reset: string[] = [];
  for (const name of applied.keys()) {
    if (!wanted.has(name)) reset.push(name);
  }
  const wantedAuthorization = wanted.get(SESSION_AUTHORIZATION);
  if (wantedAuthorization !== undefined && (applied.get(SESSION_AUTHORIZATION) ?? reported.get(SESSION_AUTHORIZATION)) !== wantedAuthorization) {
    changed.set(SESSION_AUTHORIZATION, wantedAuthorization);
  }
  const authorizationMoves = changed.has(SESSION_AUTHORIZATION) || reset.includes(SESSION_AUTHORIZATION);
  for (const [name, value] of wanted) {
    if (name === SESSION_AUTHORIZATION) continue;
    if (name === ROLE && authorizationMoves) changed.set(name, value);
    else if ((applied.get(name) ?? reported.get(name)) !== value) changed.set(name, value);
  }
  const statements = reset.map((name) => `RESET ${quoteIdentifier(name)}`);
  if (changed.size > 0) {
    const calls = [...changed].map(([name, value]) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`);
    statements.push(`SELECT ${calls.join(', ')}`);
  }
  return { sql: statements.join('; '), changed, reset };
}
