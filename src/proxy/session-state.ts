/**
 * Session state in transaction pooling (docs/pooling.md): what a client leaves on a server when its
 * transaction ends. Detection is two cheap signals and one exact look:
 * - CommandComplete tags that change session state (SET, RESET, LISTEN, DECLARE CURSOR, PREPARE, …);
 * - a pre-check of the query text for what no tag reveals (advisory-lock functions: pg_advisory_lock,
 *   pg_try_advisory_lock…; set_config(),
 *   temporary objects created by CREATE TABLE AS or SELECT INTO);
 * - when either fired, one query on the server at the transaction's end (`INSPECT_SQL`) reads what is
 *   really there: the pins (which keep the client on this server) and the session's settings (which
 *   follow the client to its next server and are undone before the server serves anyone else).
 * A transaction that shows neither signal costs nothing: no query, no round trip.
 * What the signals miss (a function that runs LISTEN or SET internally, for example) is listed in docs/pooling.md.
 */
/** Text that may change session state without a telling CommandComplete tag. */
import type { PinReason } from '../../machines/client-session.types.js';
import { STATEMENT_PREFIX } from '../pool/prepared-statements.js';

const TOUCHES_SESSION = /advisory|set_config|\btemp(orary)?\b|pg_temp/i;

export function touchesSession(text: string): boolean {
  return TOUCHES_SESSION.test(text);
}

/** Tags after which the session must be inspected at the transaction's end. */
const INSPECT_TAGS = /^(SET|RESET|LISTEN|UNLISTEN|DECLARE CURSOR|CLOSE CURSOR|PREPARE|DEALLOCATE|DISCARD|CREATE TABLE|DROP TABLE)\b/;

/** First letters of the tags INSPECT_TAGS knows (S R L U D C P). */
const TAG_LETTERS = new Set([0x53, 0x52, 0x4c, 0x55, 0x44, 0x43, 0x50]);

/**
 * Whether a CommandComplete tag (its raw bytes) can be one tagEffect() acts on, read from its first
 * bytes without making a string: the commonest tags (SELECT, INSERT, UPDATE, DELETE, COMMIT, COPY,
 * BEGIN) are ruled out at once.
 */
export function mayChangeSession(tag: Buffer): boolean {
  const [a, b, c] = tag;
  if (!TAG_LETTERS.has(a)) return false;
  if (b === 0x45 && c === 0x4c) return false; // SEL(ECT), DEL(ETE)
  if (a === 0x43 && b === 0x4f) return false; // CO(MMIT), CO(PY)
  return !(a === 0x55 && b === 0x50); // UP(DATE)
}

export interface TagEffect {
  inspect: boolean;
  /** Only settings changed (SET, RESET): nothing to look for unless settings are followed (cleanup_server_connections). */
  settingsOnly: boolean;
  /** Every prepared statement on the server is gone (DISCARD ALL, DEALLOCATE ALL). */
  statementsGone: boolean;
}

const NO_EFFECT: TagEffect = { inspect: false, settingsOnly: false, statementsGone: false };

/** What a CommandComplete tag means for the session (first bytes of the tag suffice). */
export function tagEffect(tag: string): TagEffect {
  if (!INSPECT_TAGS.test(tag)) return NO_EFFECT;
  return {
    inspect: true,
    settingsOnly: tag === 'SET' || tag === 'RESET',
    statementsGone: tag === 'DISCARD ALL' || tag === 'DEALLOCATE ALL',
  };
}

export type { PinReason };

const PIN_COLUMNS: PinReason[] = ['listen', 'advisory_lock', 'temp_object', 'held_cursor', 'prepared_statement'];

/**
 * One row: the pins (counts, in PIN_COLUMNS order), then the session user if SET SESSION AUTHORIZATION
 * moved it away from the login user, the role if SET ROLE set one, and every setting whose source is
 * the session (values in base units, as set_config() takes them back).
 */
export const INSPECT_SQL = `SELECT
 (SELECT count(*) FROM pg_listening_channels()),
 (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
 (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
 (SELECT count(*) FROM pg_cursors),
 (SELECT count(*) FROM pg_prepared_statements WHERE left(name, ${STATEMENT_PREFIX.length}) <> '${STATEMENT_PREFIX}'),
 (SELECT CASE WHEN current_setting('session_authorization') <> usename THEN current_setting('session_authorization') END
    FROM pg_stat_activity WHERE pid = pg_backend_pid()),
 nullif(current_setting('role'), 'none'),
 (SELECT json_object_agg(name, setting) FROM pg_settings WHERE source = 'session')`;

export interface SessionSnapshot {
  pins: PinReason[];
  /** The session's settings, session_authorization and role first (the order they must be applied in). */
  settings: Map<string, string>;
}

/** Reads INSPECT_SQL's row. */
export function sessionSnapshot(row: ReadonlyArray<string | null>): SessionSnapshot {
  const pins = PIN_COLUMNS.filter((_, i) => Number(row[i]) > 0);
  const settings = new Map<string, string>();
  const [authorization, role, json] = row.slice(PIN_COLUMNS.length);
  if (authorization) settings.set('session_authorization', authorization);
  if (role) settings.set('role', role);
  if (json) {
    for (const [name, value] of Object.entries(JSON.parse(json) as Record<string, string>)) settings.set(name, value);
  }
  return { pins, settings };
}
