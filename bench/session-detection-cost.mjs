#!/usr/bin/env node
// Cost of transaction pooling's session-state detection and statement remapping, per call and per transaction,
// without sockets: touchesSession() (the regex pre-check of query text), tagEffect() (the CommandComplete tag
// check), each with the Buffer → string conversion the relay does first, and StatementMap handling whole client
// messages (a simple Query; Bind + Execute + Sync of a remapped named statement; unnamed Parse + Bind + Describe +
// Execute + Sync) with the server's answers fed to the ReplyQueue, against the same with prepared_statements off.
// What a pinned or inspected transaction costs (one INSPECT_SQL round trip) is not measured here: a transaction
// that shows no signal never pays it.
// Usage: npm run build && node bench/session-detection-cost.mjs [--ms 200] [--rounds 7]
import { BackendType, FrontendType } from '../dist/src/protocol/index.js';
import { ServerStatements, StatementCache } from '../dist/src/pool/prepared-statements.js';
import { ReplyQueue } from '../dist/src/proxy/reply-queue.js';
import { tagEffect, touchesSession } from '../dist/src/proxy/session-state.js';
import { StatementMap } from '../dist/src/proxy/statement-map.js';
import { ServerTraffic } from '../dist/src/observability/traffic.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MS = arg('--ms', 200);
const ROUNDS = arg('--rounds', 7);

// ---- texts and tags -------------------------------------------------------------------------------------------
const PGBENCH_SELECT = 'SELECT abalance FROM pgbench_accounts WHERE aid = 734512;';
const PGBENCH_SELECT_PARAM = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;';
const TPCB = [
  'BEGIN;',
  'UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 734512;',
  'SELECT abalance FROM pgbench_accounts WHERE aid = 734512;',
  'UPDATE pgbench_tellers SET tbalance = tbalance + -2345 WHERE tid = 57;',
  'UPDATE pgbench_branches SET bbalance = bbalance + -2345 WHERE bid = 6;',
  'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (57, 6, 734512, -2345, CURRENT_TIMESTAMP);',
  'END;',
];
const TPCB_TAGS = ['BEGIN', 'UPDATE 1', 'SELECT 1', 'UPDATE 1', 'UPDATE 1', 'INSERT 0 1', 'COMMIT'];
// ActiveRecord, Hibernate 6 and Django shapes (parameters as $n: what reaches PostgreSQL in a Parse).
const ORM_SELECT =
  'SELECT "users"."id", "users"."email", "users"."encrypted_password", "users"."reset_password_token", ' +
  '"users"."remember_created_at", "users"."created_at", "users"."updated_at", "users"."name", "users"."role", ' +
  '"users"."account_id", "users"."time_zone", "users"."locale" FROM "users" WHERE "users"."id" = $1 LIMIT $2';
const ORM_JOIN =
  'select o1_0.id,o1_0.created_at,o1_0.customer_id,c1_0.id,c1_0.email,c1_0.name,o1_0.status,o1_0.total_cents,' +
  'o1_0.updated_at,l1_0.order_id,l1_0.id,l1_0.product_id,p1_0.id,p1_0.name,p1_0.price_cents,l1_0.quantity ' +
  'from orders o1_0 join customers c1_0 on c1_0.id=o1_0.customer_id left join order_lines l1_0 on o1_0.id=l1_0.order_id ' +
  'left join products p1_0 on p1_0.id=l1_0.product_id where o1_0.tenant_id=$1 and o1_0.status=$2 order by o1_0.created_at desc ' +
  'offset $3 rows fetch first $4 rows only';
const ORM_INSERT =
  'INSERT INTO "shop_order" ("customer_id", "status", "total_cents", "currency", "note", "created_at", "updated_at") ' +
  'VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING "shop_order"."id"';
const ORM_UPDATE = 'UPDATE "shop_inventory" SET "quantity" = "quantity" - $1, "updated_at" = $2 WHERE "shop_inventory"."product_id" = $3';
const BULK_INSERT =
  'INSERT INTO events (tenant_id, kind, payload, created_at) VALUES ' +
  Array.from({ length: 100 }, (_, i) => `(${i % 7}, 'page_view', '{"path":"/products/${i}","ref":"search","ms":${i * 13}}', now())`).join(', ');
const HITS = ["SELECT pg_advisory_xact_lock(42)", 'CREATE TEMP TABLE scratch (id int)', "SELECT set_config('app.tenant', '7', false)"];

const TEXTS = [
  ['pgbench -S, simple (literal)', PGBENCH_SELECT],
  ['pgbench -S, Parse text ($1)', PGBENCH_SELECT_PARAM],
  ['pgbench TPC-B UPDATE', TPCB[1]],
  ['ORM SELECT, 12 columns', ORM_SELECT],
  ['ORM SELECT, 3 joins', ORM_JOIN],
  ['ORM INSERT … RETURNING', ORM_INSERT],
  ['ORM UPDATE', ORM_UPDATE],
  ['bulk INSERT, 100 rows', BULK_INSERT],
  ['BEGIN', 'BEGIN'],
  ...HITS.map((t) => [`match: ${t.slice(0, 28)}`, t]),
];
const TAGS = ['SELECT 1', 'UPDATE 1', 'INSERT 0 1', 'BEGIN', 'COMMIT', 'SET', 'LISTEN'];

// ---- timing -------------------------------------------------------------------------------------------------------
let sink = 0;
/** ns per call of fn over one round of MS ms (batches of `batch` calls). */
function round(fn, batch = 1000) {
  let calls = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(MS * 1e6);
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < batch; i++) sink += fn(i) ? 1 : 0;
    calls += batch;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / calls;
}
/**
 * Median ns per call of each function: a warm-up round of each first, then ROUNDS rounds interleaved (every
 * function once per round), so that neither the JIT's warm-up nor other load on the machine favours one.
 */
function timeAll(fns) {
  for (const fn of fns) round(fn);
  const samples = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++) fns.forEach((fn, i) => samples[i].push(round(fn)));
  return samples.map((xs) => xs.sort((a, b) => a - b)[xs.length >> 1]);
}
const time = (fn) => timeAll([fn])[0];
const ns = (x) => (x < 10 ? x.toFixed(1) : x.toFixed(0));

// ---- wire messages ----------------------------------------------------------------------------------------------------
function msg(type, ...parts) {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(`${p}\0`, 'latin1') : p)));
  const m = Buffer.allocUnsafe(5 + body.length);
  m[0] = type;
  m.writeInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
}
const int16 = (...xs) => Buffer.from(xs.flatMap((x) => [(x >> 8) & 255, x & 255]));
const int32 = (x) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(x);
  return b;
};
const query = (text) => msg(FrontendType.Query, text);
const parse = (name, text) => msg(FrontendType.Parse, name, text, int16(0));
const bind = (stmt, value) => msg(FrontendType.Bind, '', stmt, int16(0), int16(1), int32(value.length), Buffer.from(value), int16(0));
const EXECUTE = msg(FrontendType.Execute, '', int32(0));
const SYNC = msg(FrontendType.Sync);
const DESCRIBE_PORTAL = msg(FrontendType.Describe, Buffer.from('P'), '');
/** The body of a CommandComplete, as ReplyScanner hands it to the relay. */
const tagHead = (tag) => Buffer.from(`${tag}\0`, 'latin1');
const NUL = 0;

// ---- 1. the checks alone ---------------------------------------------------------------------------------------------
const rows = [];
for (const [label, text] of TEXTS) {
  const m = query(text);
  const [onString, fromBuffer] = timeAll([() => touchesSession(text), () => touchesSession(m.toString('latin1', 5, m.length - 1))]);
  rows.push({ label, chars: text.length, onString, fromBuffer, hit: touchesSession(text) });
}
const tagRows = TAGS.map((tag) => {
  const head = tagHead(tag);
  const [onString, fromBuffer] = timeAll([() => tagEffect(tag).inspect, () => tagEffect(head.toString('latin1', 0, head.indexOf(NUL) >>> 0)).inspect]);
  return {
    tag,
    onString,
    fromBuffer,
    inspect: tagEffect(tag).inspect,
  };
});

// ---- 2. StatementMap, whole messages, with the server's answers ----------------------------------------------------------
const STATUS_IDLE = 0x49;
function setup(remap) {
  const cache = new StatementCache(1024);
  const queue = new ReplyQueue();
  const map = new StatementMap(cache, queue, 8192, remap, () => '');
  const server = { statements: new ServerStatements(), traffic: new ServerTraffic() };
  const t = { server, out: [], replies: [], status: STATUS_IDLE };
  const due = [];
  const answer = (type) => queue.answered(type, null, due, STATUS_IDLE, () => Buffer.alloc(0));
  const reset = () => {
    t.out.length = 0;
    t.replies.length = 0;
    due.length = 0;
  };
  return { map, queue, t, answer, reset, cache };
}

function simpleCase(remap, text) {
  const s = setup(remap);
  const m = query(text);
  const head = tagHead('SELECT 1');
  return () => {
    let h = s.map.handle(FrontendType.Query, m, s.t);
    h |= tagEffect(head.toString('latin1', 0, head.indexOf(NUL) >>> 0)).inspect ? 1 : 0;
    s.answer(BackendType.CommandComplete);
    s.answer(BackendType.ReadyForQuery);
    s.reset();
    return h;
  };
}

function preparedCase(remap) {
  const s = setup(remap);
  // The client prepared P_0 once (pgbench 15's name) and the server confirmed it.
  s.map.handle(FrontendType.Parse, parse('P_0', PGBENCH_SELECT_PARAM), s.t);
  s.map.handle(FrontendType.Sync, SYNC, s.t);
  s.answer(BackendType.ParseComplete);
  s.answer(BackendType.ReadyForQuery);
  if (!s.queue.empty) throw new Error('reply queue not empty after the Parse');
  s.reset();
  const binds = Array.from({ length: 64 }, (_, i) => bind('P_0', String(100000 + i * 7919)));
  const head = tagHead('SELECT 1');
  return {
    transaction: (i) => {
      let h = s.map.handle(FrontendType.Bind, binds[i & 63], s.t);
      h |= s.map.handle(FrontendType.Describe, DESCRIBE_PORTAL, s.t);
      h |= s.map.handle(FrontendType.Execute, EXECUTE, s.t);
      h |= s.map.handle(FrontendType.Sync, SYNC, s.t);
      s.answer(BackendType.BindComplete);
      s.answer(BackendType.RowDescription);
      s.answer(BackendType.DataRow);
      h |= tagEffect(head.toString('latin1', 0, head.indexOf(NUL) >>> 0)).inspect ? 1 : 0;
      s.answer(BackendType.CommandComplete);
      s.answer(BackendType.ReadyForQuery);
      s.reset();
      return h;
    },
    bindAlone: (i) => {
      const h = s.map.handle(FrontendType.Bind, binds[i & 63], s.t);
      s.queue.clear();
      s.reset();
      return h;
    },
    check: () => {
      s.map.handle(FrontendType.Bind, binds[0], s.t);
      const sent = s.t.out[0].toString('latin1');
      s.queue.clear();
      s.reset();
      return sent;
    },
  };
}

function extendedCase(remap) {
  const s = setup(remap);
  const parses = Array.from({ length: 64 }, () => parse('', PGBENCH_SELECT_PARAM));
  const binds = Array.from({ length: 64 }, (_, i) => bind('', String(100000 + i * 7919)));
  const head = tagHead('SELECT 1');
  return (i) => {
    let h = s.map.handle(FrontendType.Parse, parses[i & 63], s.t);
    h |= s.map.handle(FrontendType.Bind, binds[i & 63], s.t);
    h |= s.map.handle(FrontendType.Describe, DESCRIBE_PORTAL, s.t);
    h |= s.map.handle(FrontendType.Execute, EXECUTE, s.t);
    h |= s.map.handle(FrontendType.Sync, SYNC, s.t);
    s.answer(BackendType.ParseComplete);
    s.answer(BackendType.BindComplete);
    s.answer(BackendType.RowDescription);
    s.answer(BackendType.DataRow);
    h |= tagEffect(head.toString('latin1', 0, head.indexOf(NUL) >>> 0)).inspect ? 1 : 0;
    s.answer(BackendType.CommandComplete);
    s.answer(BackendType.ReadyForQuery);
    s.reset();
    return h;
  };
}

const remapped = preparedCase(true);
const sentBind = remapped.check();
if (!sentBind.includes('GATEHOUSE_1\0')) throw new Error(`Bind was not rewritten: ${JSON.stringify(sentBind)}`);
const mapRows = [];
for (const [label, on, off] of [
  ['-M simple: Query + CommandComplete + ReadyForQuery', simpleCase(true, PGBENCH_SELECT), simpleCase(false, PGBENCH_SELECT)],
  ['-M prepared: Bind P_0 + Describe + Execute + Sync, answers', remapped.transaction, preparedCase(false).transaction],
  ['-M prepared: Bind P_0 alone (rewrite to GATEHOUSE_1)', remapped.bindAlone, preparedCase(false).bindAlone],
  ['-M extended: Parse "" + Bind + Describe + Execute + Sync, answers', extendedCase(true), extendedCase(false)],
]) {
  const [onNs, offNs] = timeAll([on, off]);
  mapRows.push({ label, on: onNs, off: offNs });
}

// ---- report --------------------------------------------------------------------------------------------------------------
const out = [];
out.push(`node ${process.version}, ${MS} ms × ${ROUNDS} rounds per case, median ns per call`, '');
out.push('touchesSession(text): regex pre-check of query text (Query, Parse; for a named statement once, at its Parse)', '');
out.push('| query text | chars | ns on a string | ns incl. Buffer → string | matches |', '|---|---|---|---|---|');
for (const r of rows) out.push(`| ${r.label} | ${r.chars} | ${ns(r.onString)} | ${ns(r.fromBuffer)} | ${r.hit ? 'yes' : 'no'} |`);
out.push('', 'tagEffect(tag): CommandComplete tag check (every CommandComplete)', '');
out.push('| tag | ns on a string | ns incl. Buffer → string | inspects |', '|---|---|---|---|');
for (const r of tagRows) out.push(`| ${r.tag} | ${ns(r.onString)} | ${ns(r.fromBuffer)} | ${r.inspect ? 'yes' : 'no'} |`);

const pre = (label) => rows.find((r) => r.label === label).fromBuffer;
const tagNs = (tag) => tagRows.find((r) => r.tag === tag).fromBuffer;
const tpcbPre = TPCB.map((text) => {
  const m = query(text);
  return time(() => touchesSession(m.toString('latin1', 5, m.length - 1)));
}).reduce((a, b) => a + b, 0);
const tpcbTags = TPCB_TAGS.map((tag) => (tagRows.find((r) => r.tag === tag)?.fromBuffer ?? tagNs('UPDATE 1'))).reduce((a, b) => a + b, 0);
const perTx = [
  ['pgbench -S -M simple: 1 Query, 1 tag', pre('pgbench -S, simple (literal)') + tagNs('SELECT 1')],
  ['pgbench -S -M prepared: 1 tag (the text was checked at its Parse)', tagNs('SELECT 1')],
  ['pgbench -S -M extended: 1 unnamed Parse, 1 tag', pre('pgbench -S, Parse text ($1)') + tagNs('SELECT 1')],
  ['pgbench TPC-B -M simple: 7 Queries, 7 tags', tpcbPre + tpcbTags],
  [
    'ORM, unnamed statements: BEGIN, SELECT, SELECT join, INSERT, UPDATE, COMMIT (2 Queries + 4 Parses, 6 tags)',
    pre('BEGIN') * 2 + pre('ORM SELECT, 12 columns') + pre('ORM SELECT, 3 joins') + pre('ORM INSERT … RETURNING') + pre('ORM UPDATE') +
      tagNs('BEGIN') + tagNs('SELECT 1') * 2 + tagNs('INSERT 0 1') + tagNs('UPDATE 1') + tagNs('COMMIT'),
  ],
  [
    'ORM, named (remapped) statements: the same, 2 Queries + 6 tags',
    pre('BEGIN') * 2 + tagNs('BEGIN') + tagNs('SELECT 1') * 2 + tagNs('INSERT 0 1') + tagNs('UPDATE 1') + tagNs('COMMIT'),
  ],
];
out.push('', 'detection per transaction (sums of the medians above, conversions included)', '');
out.push('| transaction | ns |', '|---|---|');
for (const [label, x] of perTx) out.push(`| ${label} | ${ns(x)} |`);
out.push('', 'StatementMap.handle + ReplyQueue per transaction (client messages handled, server answers fed back)', '');
out.push('| case | ns, prepared_statements on | ns, off (pass-through) | difference |', '|---|---|---|---|');
for (const r of mapRows) out.push(`| ${r.label} | ${ns(r.on)} | ${ns(r.off)} | ${ns(r.on - r.off)} |`);
out.push('', `(sink ${sink > 0 ? 'ok' : '0'})`);
process.stdout.write(`${out.join('\n')}\n`);
