#!/usr/bin/env node
// What a V8 heap snapshot holds, by kind: every node's self size summed per (type, constructor or name), largest
// first, and per client when --clients says how many were held. Used on a gatehouse holding idle clients
// (bench/results/issue-12-memory.md says how to take the snapshot):
//   node bench/heap-top.mjs FILE.heapsnapshot [--clients 2000] [--top 30] [--base OTHER.heapsnapshot]
// With --base, each row is the difference FILE − OTHER (a snapshot taken before the clients came), so the table
// is what the clients added.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const option = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
if (!file) {
  console.error('usage: node bench/heap-top.mjs FILE.heapsnapshot [--clients N] [--top N] [--base OTHER.heapsnapshot]');
  process.exit(2);
}
const clients = Number(option('clients', 0));
const top = Number(option('top', 30));
const base = option('base', null);

/** Bytes and counts per "type name" key, and the total, of one snapshot. */
function tally(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'));
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const width = fields.length;
  const nodes = snap.nodes;
  const rows = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    // Strings, code and numbers are named by their content: one row per type for them.
    const name = type === 'object' || type === 'closure' || type === 'native' ? snap.strings[nodes[i + nameAt]] : '';
    const key = name ? `${type} ${name}` : type;
    const size = nodes[i + sizeAt];
    const row = rows.get(key) ?? { bytes: 0, count: 0 };
    row.bytes += size;
    row.count += 1;
    rows.set(key, row);
    total += size;
  }
  return { rows, total };
}

const now = tally(file);
const before = base ? tally(base) : { rows: new Map(), total: 0 };
const diff = [...now.rows].map(([key, row]) => {
  const b = before.rows.get(key) ?? { bytes: 0, count: 0 };
  return { key, bytes: row.bytes - b.bytes, count: row.count - b.count };
});
for (const [key, b] of before.rows) if (!now.rows.has(key)) diff.push({ key, bytes: -b.bytes, count: -b.count });
diff.sort((a, b) => b.bytes - a.bytes);

const perClient = (n) => (clients > 0 ? (n / clients).toFixed(1) : '–');
const totalBytes = now.total - before.total;
console.log(`heap ${base ? 'added' : 'total'}: ${(totalBytes / 1024 / 1024).toFixed(1)} MB${clients > 0 ? `, ${perClient(totalBytes)} bytes per client (${clients})` : ''}\n`);
console.log('| kind | objects | bytes | bytes per client | objects per client |');
console.log('|---|---|---|---|---|');
for (const r of diff.slice(0, top)) console.log(`| ${r.key.replaceAll('|', '\\|')} | ${r.count} | ${r.bytes} | ${perClient(r.bytes)} | ${perClient(r.count)} |`);
