#!/usr/bin/env node
// Markdown summary of Stryker JSON reports (reports/mutation/mutation.json, one or more runs):
// the score per folder and per file, and the mutants no test killed in the files named with --list.
//
//   node scripts/mutation-summary.mjs reports/mutation/mutation.json [more.json…] [--list src/proxy/relay.ts,machines/]
//
// Scores as Stryker counts them: killed + timeout over every valid mutant (survived and no coverage
// included); "covered" leaves the mutants no test reached out. Ignored (static) and compile-error
// mutants are not counted.
import fs from 'node:fs';

const args = process.argv.slice(2);
const listAt = args.indexOf('--list');
const listed = listAt >= 0 ? args[listAt + 1].split(',').filter(Boolean) : [];
const reports = args.filter((a, i) => listAt < 0 || (i !== listAt && i !== listAt + 1));
if (reports.length === 0) {
  process.stderr.write('usage: mutation-summary.mjs REPORT.json [REPORT.json…] [--list FILE_OR_FOLDER,…]\n');
  process.exit(2);
}

/** path -> { source, mutants } over all reports (a later report replaces a file an earlier one had). */
const files = new Map();
for (const report of reports) {
  const json = JSON.parse(fs.readFileSync(report, 'utf8'));
  for (const [file, data] of Object.entries(json.files)) files.set(file.replace(/^\.\//, ''), data);
}

const UNDETECTED = new Set(['Survived', 'NoCoverage']);

function count(mutants) {
  const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0, errors: 0 };
  for (const m of mutants) {
    if (m.status === 'Killed') c.killed++;
    else if (m.status === 'Timeout') c.timeout++;
    else if (m.status === 'Survived') c.survived++;
    else if (m.status === 'NoCoverage') c.noCoverage++;
    else if (m.status === 'Ignored') c.ignored++;
    else c.errors++;
  }
  const detected = c.killed + c.timeout;
  const valid = detected + c.survived + c.noCoverage;
  const covered = detected + c.survived;
  c.score = valid ? (100 * detected) / valid : NaN;
  c.coveredScore = covered ? (100 * detected) / covered : NaN;
  return c;
}

const pct = (n) => (Number.isNaN(n) ? 'n/a' : n.toFixed(1));
const row = (name, c) =>
  `| ${name} | ${pct(c.score)} | ${pct(c.coveredScore)} | ${c.killed} | ${c.timeout} | ${c.survived} | ${c.noCoverage} | ${c.ignored} |`;
const HEADER = ['| | score % | covered % | killed | timeout | survived | no coverage | ignored (static) |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];

const folderOf = (file) => (file.startsWith('machines/') ? 'machines/' : file.split('/').slice(0, 2).join('/') + '/');
const byFolder = new Map();
for (const [file, data] of files) {
  const folder = folderOf(file);
  byFolder.set(folder, [...(byFolder.get(folder) ?? []), ...data.mutants]);
}

const out = [];
out.push('### Per folder', '', ...HEADER);
for (const [folder, mutants] of [...byFolder].sort()) out.push(row(`\`${folder}\``, count(mutants)));
out.push(row('**all**', count([...files.values()].flatMap((d) => d.mutants))));
out.push('', '### Per file', '', ...HEADER);
for (const [file, data] of [...files].sort(([a], [b]) => a.localeCompare(b))) out.push(row(`\`${file}\``, count(data.mutants)));

/** The source text a mutant replaces, on one line. */
function original(source, loc) {
  const lines = source.split('\n');
  const { start, end } = loc;
  let text;
  if (start.line === end.line) text = lines[start.line - 1].slice(start.column - 1, end.column - 1);
  else text = [lines[start.line - 1].slice(start.column - 1), ...lines.slice(start.line, end.line - 1), lines[end.line - 1].slice(0, end.column - 1)].join(' ');
  return oneLine(text);
}
function oneLine(text, max = 90) {
  const flat = String(text ?? '').replace(/\s+/g, ' ').trim();
  return (flat.length > max ? `${flat.slice(0, max - 1)}…` : flat).replace(/\|/g, '\\|').replace(/`/g, "'");
}

for (const wanted of listed) {
  const matching = [...files].filter(([file]) => file === wanted || (wanted.endsWith('/') && file.startsWith(wanted))).sort(([a], [b]) => a.localeCompare(b));
  for (const [file, data] of matching) {
    const left = data.mutants
      .filter((m) => UNDETECTED.has(m.status))
      .sort((a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column);
    out.push('', `### Not killed in \`${file}\` (${left.length})`, '');
    if (left.length === 0) {
      out.push('None.');
      continue;
    }
    out.push('| where | status | mutator | original | replacement |', '| --- | --- | --- | --- | --- |');
    for (const m of left) {
      const where = `${file}:${m.location.start.line}:${m.location.start.column}`;
      out.push(`| ${where} | ${m.status === 'NoCoverage' ? 'no coverage' : 'survived'} | ${m.mutatorName} | \`${original(data.source, m.location)}\` | \`${oneLine(m.replacement)}\` |`);
    }
  }
}
process.stdout.write(`${out.join('\n')}\n`);
