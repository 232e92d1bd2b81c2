/**
 * SHOW commands of the admin console, with PgDoorman's column names and order (notes §5) so that
 * scripts written for it parse them unchanged, plus gatehouse's own MACHINES and JOURNAL.
 */
import { foldRecord, replayConnection, stateName } from '../../journal/replay.js';
import type { ConnectionRecord } from '../../journal/journal.js';
import { SqlState } from '../../protocol/sqlstate.js';
import { clientCounters, serverCounters, showPoolsExtendedTraffic, showPoolsTraffic, showStats } from '../../observability/admin-snapshot.js';
import { AdminError } from './admin-commands.js';
import { configRows } from './config-rows.js';
import type { ConsoleData, ConsolePool } from './console-data.js';
import { columns, type Cell, type ResultSet } from './result-set.js';

const seconds = (since: number, now: number) => Math.floor((now - since) / 1000);
const show = (spec: string, rows: Cell[][]): ResultSet => ({ columns: columns(spec), rows, tag: 'SHOW' });

type ClientCounts = { idle: number; active: number; waiting: number };

/** Logged-in clients counted by what they do now, per (pool, user), in one pass over the clients. */
function clientCounts(data: ConsoleData): (pool: ConsolePool) => ClientCounts {
  const byPool = new Map<string, ClientCounts>();
  for (const c of data.clients()) {
    if (c.activity === 'login') continue;
    const key = `${c.database}\u0000${c.user}`;
    let counts = byPool.get(key);
    if (!counts) byPool.set(key, (counts = { idle: 0, active: 0, waiting: 0 }));
    counts[c.activity]++;
  }
  return (pool) => byPool.get(`${pool.database}\u0000${pool.user}`) ?? { idle: 0, active: 0, waiting: 0 };
}

function pools(data: ConsoleData): ResultSet {
  const rows: Cell[][] = [];
  const countsOf = clientCounts(data);
  for (const p of data.pools()) {
    const cl = countsOf(p);
    const sv = p.entry.pool.stats;
    const t = showPoolsTraffic(p.entry.pool);
    rows.push([
      p.database, p.user, p.entry.mode, cl.idle, cl.active, cl.waiting, 0, sv.active, sv.idle, sv.resetting, sv.connecting,
      p.entry.pool.opts.size, t.maxwait, t.maxwait_us, t.avg_xact_time, p.entry.pool.paused ? 1 : 0, 0, t.oldest_active_age_ms,
    ]);
  }
  return show(
    'database user pool_mode cl_idle:int cl_active:int cl_waiting:int cl_cancel_req:int sv_active:int sv_idle:int sv_used:int sv_login:int pool_size:int maxwait:int maxwait_us:int avg_xact_time:int paused:int fallback_active:int oldest_active_age_ms:int',
    rows,
  );
}

function poolsExtended(data: ConsoleData): ResultSet {
  const rows: Cell[][] = [];
  const countsOf = clientCounts(data);
  for (const p of data.pools()) {
    const cl = countsOf(p);
    const sv = p.entry.pool.stats;
    const wait = showPoolsTraffic(p.entry.pool);
    const x = showPoolsExtendedTraffic(p.entry.pool);
    rows.push([
      p.database, p.user, cl.active, cl.waiting, sv.active, sv.idle, sv.resetting, sv.connecting, p.entry.pool.opts.size,
      wait.maxwait + wait.maxwait_us / 1e6, wait.maxwait_us, p.entry.mode, x.bytes_recieved, x.bytes_sent,
      x['query_0.99'], x['transaction_0.99'], x['query_0.95'], x['transaction_0.95'], x['query_0.5'], x['transaction_0.5'],
    ]);
  }
  return show(
    'database user cl_active:int cl_waiting:int sv_active:int sv_idle:int sv_used:int sv_login:int pool_size:int maxwait:numeric maxwait_us:int pool_mode bytes_recieved:int bytes_sent:int query_0.99:int transaction_0.99:int query_0.95:int transaction_0.95:int query_0.5:int transaction_0.5:int',
    rows,
  );
}

const STATS_COLUMNS =
  'database user total_xact_count:int total_query_count:int total_received:int total_sent:int total_xact_time:int total_query_time:int total_wait_time:int total_errors:int avg_xact_count:numeric avg_query_count:numeric avg_recv:numeric avg_sent:numeric avg_errors:numeric avg_xact_time:int avg_query_time:int avg_wait_time:int';

function stats(data: ConsoleData): ResultSet {
  const cols = columns(STATS_COLUMNS);
  const rows = showStats([...data.pools()].map((p) => p.entry.pool)).map((row) => cols.map((c) => row[c.name as keyof typeof row]));
  return { columns: cols, rows, tag: 'SHOW' };
}

function databases(data: ConsoleData): ResultSet {
  const rows: Cell[][] = [];
  for (const p of data.pools()) {
    const pool = data.config.pools[p.database];
    const server = p.entry.pool;
    const { maxConnections, reserveSize } = server.limit.opts;
    rows.push([
      p.database, pool.server_host, pool.server_port, pool.server_database, p.user, server.opts.size, server.minPoolSize, reserveSize, p.entry.mode,
      maxConnections > 0 ? maxConnections : server.opts.size, server.connectionCount,
    ]);
  }
  return show('name host port:int database force_user pool_size:int min_pool_size:int reserve_pool:int pool_mode max_connections:int current_connections:int', rows);
}

function clients(data: ConsoleData, now: number): ResultSet {
  const rows: Cell[][] = [];
  for (const c of data.clients()) {
    const state = c.activity === 'login' ? 'login' : c.activity;
    const n = c.traffic ? clientCounters(c.traffic) : { transaction_count: 0, query_count: 0, error_count: 0 };
    rows.push([
      c.id, c.database, c.user, c.applicationName, c.address, c.tls, state, c.activity === 'active' ? 'read' : 'idle',
      n.transaction_count, n.query_count, n.error_count, seconds(c.connectedAt, now),
    ]);
  }
  return show('client_id database user application_name addr tls state wait transaction_count:int query_count:int error_count:int age_seconds:int', rows);
}

function servers(data: ConsoleData, now: number): ResultSet {
  const rows: Cell[][] = [];
  for (const p of data.pools()) {
    for (const s of p.entry.pool.connections) {
      const n = serverCounters(s);
      rows.push([
        s.id, s.backendKey?.processId ?? null, p.database, p.user, s.parameters.get('application_name') ?? '', s.tls !== null,
        s.state === 'resetting' ? 'used' : s.state, s.state === 'active' ? 'read' : 'idle', n.transaction_count, n.query_count,
        n.bytes_sent, n.bytes_received, seconds(s.createdAt, now), n.prepare_cache_hit, n.prepare_cache_miss, n.prepare_cache_size,
      ]);
    }
  }
  return show(
    'server_id server_process_id:int database_name user application_name tls state wait transaction_count:int query_count:int bytes_sent:int bytes_received:int age_seconds:int prepare_cache_hit:int prepare_cache_miss:int prepare_cache_size:int',
    rows,
  );
}

function lists(data: ConsoleData): ResultSet {
  const all = [...data.pools()];
  let free = 0;
  let used = 0;
  for (const p of all) {
    const sv = p.entry.pool.stats;
    free += sv.idle;
    used += sv.active + sv.resetting;
  }
  const clientList = [...data.clients()];
  const count = (activity: string) => clientList.filter((c) => c.activity === activity).length;
  const users = new Set(all.map((p) => p.user));
  return show('list items:int', [
    ['databases', Object.keys(data.config.pools).length],
    ['users', users.size],
    ['pools', all.length],
    ['free_clients', count('idle')],
    ['used_clients', count('active') + count('waiting')],
    ['login_clients', count('login')],
    ['free_servers', free],
    ['used_servers', used],
    ['dns_names', 0],
    ['dns_zones', 0],
    ['dns_queries', 0],
    ['dns_pending', 0],
  ]);
}

/** PgBouncer's SHOW PEERS: the instances this one forwards cancels to (its own id, if listed, is not one of them). */
function peers(data: ConsoleData): ResultSet {
  const own = data.config.general.peer_id;
  const rows: Cell[][] = data.config.peers.filter((p) => p.peer_id !== own).map((p) => [p.peer_id, p.host, p.port, p.pool_size]);
  return show('peer_id:int host port:int pool_size:int', rows);
}

function users(data: ConsoleData): ResultSet {
  const rows: Cell[][] = [];
  for (const pool of Object.values(data.config.pools)) for (const u of pool.users) rows.push([u.username, pool.pool_mode]);
  return show('name pool_mode', rows);
}

async function connections(data: ConsoleData): Promise<ResultSet> {
  const byType = new Map((await data.metrics.connections.get()).values.map((v) => [v.labels.type, v.value]));
  const errors = (await data.metrics.rejections.get()).values.reduce((sum, v) => sum + v.value, 0);
  return show('total:int errors:int tls:int plain:int cancel:int', [
    [byType.get('total') ?? 0, errors, byType.get('tls') ?? 0, byType.get('plain') ?? 0, byType.get('cancel') ?? 0],
  ]);
}

function preparedStatements(data: ConsoleData): ResultSet {
  const rows: Cell[][] = [];
  for (const p of data.pools()) {
    let stamp = 0;
    for (const st of p.entry.pool.statements.values()) rows.push([`${p.database}/${p.user}`, st.key.length, st.name, st.query, ++stamp, 'named']);
  }
  return show('pool hash:int name query count_used:int kind', rows);
}

function lastEvent(record: ConnectionRecord): string {
  return record.entries.at(-1)?.event.type ?? '';
}

function machines(data: ConsoleData, now: number): ResultSet {
  const rows = data.journals
    .liveRecords()
    .map((r) => [r.id, r.machine, stateName(foldRecord(r)), seconds(r.startedAt, now), lastEvent(r), r.entries.length + r.dropped] as Cell[]);
  return show('connection machine state age_seconds:int last_event events:int', rows);
}

function journal(data: ConsoleData, id: string | null): ResultSet {
  if (id === null) throw new AdminError(SqlState.SYNTAX_ERROR, 'SHOW JOURNAL needs a connection id (SHOW MACHINES lists them)');
  const record = data.journals.find(id);
  if (!record) throw new AdminError(SqlState.UNDEFINED_OBJECT, `no journal for connection "${id}" (live, or among the last general.journal_size ended ones)`);
  const replay = replayConnection({ ...record, events: record.entries });
  const at = new Map(record.entries.map((e) => [e.seq, new Date(e.at).toISOString()]));
  const rows: Cell[][] = replay.steps.map((s) => [s.seq, at.get(s.seq) ?? null, s.event, s.detail, s.guard, s.state]);
  return show('seq:int at event detail guard state', rows);
}

const HELP = [
  'SHOW HELP|CONFIG|DATABASES|POOLS|POOLS_EXTENDED|CLIENTS|SERVERS|STATS|LISTS|USERS|PEERS|CONNECTIONS|PREPARED_STATEMENTS|VERSION|LOG_LEVEL',
  'SHOW MACHINES', 'SHOW JOURNAL <connection id>',
  'PAUSE [<db>]', 'RESUME [<db>]', 'RECONNECT [<db>]', 'KILL <db>', 'RELOAD', 'SHUTDOWN', 'UPGRADE', "SET log_level = '<level>'",
];

/** The result of `SHOW <what> [arg]`. */
export async function showTable(data: ConsoleData, what: string, arg: string | null): Promise<ResultSet> {
  const now = Date.now();
  switch (what) {
    case 'HELP':
      return show('item', HELP.map((h) => [h]));
    case 'CONFIG':
      return show('key value default changeable', configRows(data.config));
    case 'DATABASES':
      return databases(data);
    case 'POOLS':
      return pools(data);
    case 'POOLS_EXTENDED':
      return poolsExtended(data);
    case 'STATS':
      return stats(data);
    case 'CLIENTS':
      return clients(data, now);
    case 'SERVERS':
      return servers(data, now);
    case 'LISTS':
      return lists(data);
    case 'USERS':
      return users(data);
    case 'PEERS':
      return peers(data);
    case 'CONNECTIONS':
      return connections(data);
    case 'PREPARED_STATEMENTS':
      return preparedStatements(data);
    case 'VERSION':
      return show('version', [[`gatehouse ${data.version}`]]);
    case 'LOG_LEVEL':
      return show('log_level', [[data.config.general.log_level]]);
    case 'MACHINES':
      return machines(data, now);
    case 'JOURNAL':
      return journal(data, arg);
    default:
      throw new AdminError(SqlState.SYSTEM_ERROR, `Unsupported SHOW query against the admin database: SHOW ${what} (SHOW HELP lists them)`);
  }
}
