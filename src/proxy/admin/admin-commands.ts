/**
 * The admin console's language: PgDoorman's and PgBouncer's commands, case-insensitive, a trailing `;`
 * optional, several per Query separated by `;`. Anything else is an AdminError with the SQLSTATE the
 * console answers (58000 as PgDoorman, 42601 for a malformed SET).
 */
import { SqlState, type AnySqlState } from '../../protocol/sqlstate.js';

export type AdminCommand =
  | { verb: 'SHOW'; what: string; arg: string | null }
  | { verb: 'PAUSE' | 'RESUME' | 'RECONNECT'; database: string | null }
  | { verb: 'KILL'; database: string }
  | { verb: 'RELOAD' | 'SHUTDOWN' | 'UPGRADE' }
  | { verb: 'SET'; name: string; value: string };

export class AdminError extends Error {
  constructor(
    readonly sqlstate: AnySqlState,
    message: string,
  ) {
    super(message);
  }
}

const unsupported = (text: string) => new AdminError(SqlState.SYSTEM_ERROR, `Unsupported query against the admin database: ${text}`);

/** A database name as written: bare, or double-quoted with "" for a quote. */
function identifier(word: string): string {
  if (word.length >= 2 && word.startsWith('"') && word.endsWith('"')) return word.slice(1, -1).replaceAll('""', '"');
  return word.toLowerCase();
}

function parseSet(text: string, rest: string): AdminCommand {
  const m = /^([a-z_]+)\s*(?:=|\bto\b)\s*(.+)$/is.exec(rest);
  if (!m) throw new AdminError(SqlState.SYNTAX_ERROR, `syntax error in SET: expected SET <name> = <value>, got: ${text}`);
  let value = m[2].trim();
  if (/^'.*'$/s.test(value)) value = value.slice(1, -1).replaceAll("''", "'");
  else if (/^".*"$/s.test(value)) value = value.slice(1, -1);
  return { verb: 'SET', name: m[1].toLowerCase(), value };
}

function parseOne(text: string): AdminCommand {
  const [head = '', ...words] = text.split(/\s+/);
  const verb = head.toUpperCase();
  const arg = words.length > 0 ? words.join(' ') : null;
  switch (verb) {
    case 'SHOW':
      if (words.length === 0) throw new AdminError(SqlState.SYSTEM_ERROR, 'Unsupported SHOW query against the admin database: SHOW needs a subject (SHOW HELP lists them)');
      return { verb, what: words[0].toUpperCase(), arg: words.length > 1 ? words.slice(1).join(' ') : null };
    case 'PAUSE':
    case 'RESUME':
    case 'RECONNECT':
      if (words.length > 1) throw unsupported(text);
      return { verb, database: arg === null ? null : identifier(arg) };
    case 'KILL':
      if (words.length !== 1) throw new AdminError(SqlState.SYSTEM_ERROR, 'KILL needs a database: KILL <db>');
      return { verb, database: identifier(words[0]) };
    case 'RELOAD':
    case 'SHUTDOWN':
    case 'UPGRADE':
      if (words.length > 0) throw unsupported(text);
      return { verb };
    case 'SET':
      return parseSet(text, text.slice(head.length).trim());
    default:
      throw unsupported(text);
  }
}

/** The commands of one Query message, in order; an empty query gives none. */
export function parseAdminQuery(sql: string): AdminCommand[] {
  return sql
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map(parseOne);
}
