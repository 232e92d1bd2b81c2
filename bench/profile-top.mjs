#!/usr/bin/env node
// Summarizes a `node --cpu-prof` profile of gatehouse taken during bench/run.sh: the profile covers the whole run,
// so it is cut into busy stretches (gatehouse runs only while pgbench talks to it; the other targets' runs leave it
// idle) and each stretch of at least --min-seconds gets its top self-time frames and top inclusive frames.
//
//   node bench/profile-top.mjs PROFILE.cpuprofile [--top 25] [--min-seconds 4] [--gap-ms 1000]
//
// Percentages are of the stretch's non-idle samples ("(idle)" and "(program)" apart: "(program)" is native work V8
// cannot attribute — mostly TLS and socket writes/reads done below JavaScript — and is listed as its own frame).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node bench/profile-top.mjs PROFILE.cpuprofile [--top N] [--min-seconds S] [--gap-ms MS]');
  process.exit(2);
}
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const TOP = opt('top', 25);
const MIN_S = opt('min-seconds', 4);
const GAP_MS = opt('gap-ms', 1000);

const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, '')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
};
const idle = (n) => n.callFrame.functionName === '(idle)';

// Sample times.
const times = [];
let t = prof.startTime;
for (const d of prof.timeDeltas) times.push((t += d));

// Busy stretches: runs of non-idle samples with gaps below GAP_MS.
const stretches = [];
let cur = null;
prof.samples.forEach((id, i) => {
  if (idle(byId.get(id))) return;
  if (cur && times[i] - cur.last <= GAP_MS * 1000) {
    cur.samples.push(i);
    cur.last = times[i];
  } else {
    cur = { first: times[i], last: times[i], samples: [i] };
    stretches.push(cur);
  }
});

const interval = (prof.endTime - prof.startTime) / prof.samples.length; // µs per sample
for (const [k, s] of stretches.entries()) {
  const secs = (s.last - s.first) / 1e6;
  if (secs < MIN_S) continue;
  const self = new Map();
  const incl = new Map();
  for (const i of s.samples) {
    const leaf = byId.get(prof.samples[i]);
    const l = label(leaf);
    self.set(l, (self.get(l) ?? 0) + 1);
    const seen = new Set();
    for (let id = leaf.id; id !== undefined; id = parent.get(id)) {
      const name = label(byId.get(id));
      if (seen.has(name)) continue;
      seen.add(name);
      incl.set(name, (incl.get(name) ?? 0) + 1);
    }
  }
  const total = s.samples.length;
  const pct = (v) => ((100 * v) / total).toFixed(1).padStart(5);
  const start = ((s.first - prof.startTime) / 1e6).toFixed(0);
  console.log(`\n## stretch ${k + 1}: from ${start} s, ${secs.toFixed(1)} s, ${total} busy samples (≈ ${((total * interval) / 1e6).toFixed(1)} s CPU)\n`);
  console.log('self %  | frame');
  console.log('---|---');
  for (const [name, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(v)} | ${name}`);
  console.log('\ninclusive % | frame');
  console.log('---|---');
  for (const [name, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(v)} | ${name}`);
}
