/**
 * One answer for the instance from every worker's: an admin command runs on each worker (its own clients,
 * pools and journals) and the admin session's worker merges what they return, so SHOW POOLS counts every
 * client of the instance and PAUSE pauses every worker's pools. How each SHOW merges:
 * - one row per client, server, connection or statement: the workers' rows together;
 * - one row per pool, database or list: summed by the row's text columns, except the columns that are
 *   settings (the same on every worker), worst cases (the largest) and averages (the mean of the workers');
 * - settings and help: any worker's (they are the same);
 * - JOURNAL: the worker that has it.
 */
import { SqlState, type AnySqlState } from '../../protocol/sqlstate.js';
import { AdminError, type AdminCommand } from '../admin/admin-commands.js';
import { killNotice, type CommandOutcome } from '../admin/console.js';
import type { ReloadOutcome } from '../admin/console-data.js';
import type { Cell, ResultSet } from '../admin/result-set.js';

/** A worker's outcome as it crosses the IPC channel (no `after`), or its AdminError. */
export type WorkerOutcome = { ok: Omit<CommandOutcome, 'after'> } | { error: { sqlstate: string; message: string } };

const CONCAT = new Set(['CLIENTS', 'SERVERS', 'MACHINES', 'PREPARED_STATEMENTS']);
const SUMMED = new Set(['POOLS', 'POOLS_EXTENDED', 'STATS', 'DATABASES', 'LISTS', 'CONNECTIONS']);
const SETTING_COLUMNS = new Set(['pool_size', 'min_pool_size', 'reserve_pool', 'max_connections', 'port']);
const LARGEST_COLUMNS = new Set(['maxwait', 'maxwait_us', 'paused', 'oldest_active_age_ms']);
/** LISTS rows that count what is configured, not what is connected. */
const CONFIGURED_LISTS = new Set(['databases', 'users', 'pools', 'dns_names', 'dns_zones']);

type Combine = 'sum' | 'first' | 'max' | 'mean';

function combineOf(what: string, column: string, rowKey: string): Combine {
  if (what === 'LISTS') return CONFIGURED_LISTS.has(rowKey) ? 'first' : 'sum';
  if (SETTING_COLUMNS.has(column)) return 'first';
  if (LARGEST_COLUMNS.has(column) || /_0\.\d+$/.test(column)) return 'max';
  if (column.startsWith('avg_')) return 'mean';
  return 'sum';
}

function combine(how: Combine, values: number[]): number {
  switch (how) {
    case 'first':
      return values[0];
    case 'max':
      return Math.max(...values);
    case 'mean': {
      const nonzero = values.filter((v) => v !== 0);
      return nonzero.length === 0 ? 0 : Math.round((nonzero.reduce((a, b) => a + b, 0) / nonzero.length) * 1000) / 1000;
    }
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
  }
}

function sumRows(what: string, sets: ResultSet[]): ResultSet {
  const { columns } = sets[0];
  const keyColumns = columns.map((c, i) => (c.type === 'text' ? i : -1)).filter((i) => i >= 0);
  const groups = new Map<string, Cell[][]>();
  for (const set of sets) {
    for (const row of set.rows) {
      const key = JSON.stringify(keyColumns.map((i) => row[i]));
      let group = groups.get(key);
      if (!group) groups.set(key, (group = []));
      group.push([...row]);
    }
  }
  const rows: Cell[][] = [];
  for (const group of groups.values()) {
    const merged = [...group[0]];
    const rowKey = String(group[0][0]);
    columns.forEach((c, i) => {
      if (c.type === 'text') return;
      merged[i] = combine(combineOf(what, c.name, rowKey), group.map((row) => Number(row[i] ?? 0)));
    });
    rows.push(merged);
  }
  return { columns, rows, tag: sets[0].tag };
}

const isRows = (result: CommandOutcome['result']): result is ResultSet => 'columns' in result;

/** The instance's answer to `command` from every worker's outcome; a worker's error is the answer's if none succeeded (JOURNAL) or if any failed (the rest). */
export function mergeOutcomes(command: AdminCommand, outcomes: WorkerOutcome[]): Omit<CommandOutcome, 'after'> {
  const ok = outcomes.flatMap((o) => ('ok' in o ? [o.ok] : []));
  const failed = outcomes.flatMap((o) => ('error' in o ? [o.error] : []));
  const journal = command.verb === 'SHOW' && command.what === 'JOURNAL';
  if (failed.length > 0 && (!journal || ok.length === 0)) throw new AdminError(failed[0].sqlstate as AnySqlState, failed[0].message);
  if (ok.length === 0) throw new AdminError(SqlState.SYSTEM_ERROR, 'no worker answered');
  if (command.verb === 'KILL') {
    const killed = ok.reduce((n, o) => n + (o.killed ?? 0), 0);
    return { ...ok[0], killed, notices: [killNotice(killed, command.database!)] };
  }
  if (command.verb !== 'SHOW' || journal) return ok[0];
  const sets = ok.map((o) => o.result).filter(isRows);
  if (sets.length !== ok.length) return ok[0];
  if (CONCAT.has(command.what)) return { result: { ...sets[0], rows: sets.flatMap((s) => s.rows) }, notices: [] };
  if (SUMMED.has(command.what)) return { result: sumRows(command.what, sets), notices: [] };
  return ok[0];
}

/** Every worker's reload: applied if all applied; each problem and restart-only change once. */
export function mergeReloads(outcomes: ReloadOutcome[]): ReloadOutcome {
  if (outcomes.length === 0) return { applied: false, failures: ['no worker is running'], needRestart: [] };
  const unique = (lists: string[][]) => [...new Set(lists.flat())];
  const refused = outcomes.filter((o) => !o.applied);
  if (refused.length > 0) return { applied: false, failures: unique(refused.map((o) => o.failures)), needRestart: [] };
  return { applied: true, failures: unique(outcomes.map((o) => o.failures)), needRestart: unique(outcomes.map((o) => o.needRestart)) };
}
