#!/usr/bin/env node
// bench/profile-top.mjs FILE.cpuprofile [N] — the N (default 25) functions with the most self time in a V8 CPU
// profile (what `node --cpu-prof` writes, e.g. GATEHOUSE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" bash
// bench/run.sh ...), with their share of the samples and where they are, as a Markdown table. For the whole
// picture, open the file in Chrome DevTools (Performance tab) or https://www.speedscope.app.
import fs from 'node:fs';
import path from 'node:path';

const [file, topArg = '25'] = process.argv.slice(2);
const top = Number(topArg);
if (!file || !Number.isInteger(top) || top < 1) {
  process.stderr.write('usage: node bench/profile-top.mjs FILE.cpuprofile [N]\n');
  process.exit(2);
}
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
// Sample i lasted timeDeltas[i + 1] µs (the delta before the next sample); the last one is left out.
const selfUs = new Map();
for (let i = 0; i < profile.samples.length - 1; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
}
const root = process.cwd();
const where = ({ url, lineNumber }) => {
  if (!url) return '(native)';
  const local = url.startsWith('file://') ? path.relative(root, new URL(url).pathname) : url;
  return `${local}:${lineNumber + 1}`;
};
const totals = new Map();
let total = 0;
for (const [id, us] of selfUs) {
  const { callFrame } = byId.get(id);
  const key = `${callFrame.functionName || '(anonymous)'}\t${where(callFrame)}`;
  totals.set(key, (totals.get(key) ?? 0) + us);
  total += us;
}
const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
const out = [`${(total / 1e6).toFixed(2)} s of samples in ${path.basename(file)}`, '', '| self % | self ms | function | where |', '|---|---|---|---|'];
for (const [key, us] of rows) {
  const [name, at] = key.split('\t');
  out.push(`| ${((100 * us) / total).toFixed(1)} | ${(us / 1000).toFixed(0)} | \`${name}\` | ${at} |`);
}
process.stdout.write(`${out.join('\n')}\n`);
