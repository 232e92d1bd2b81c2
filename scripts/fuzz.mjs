/**
 * Coverage-guided fuzzing with Jazzer.js (`npm run fuzz`, not part of CI). Runs every target of
 * fuzz/targets/ (or those named: `npm run fuzz -- framer scram-server`) for a time budget each
 * (`--time=SECONDS`, or FUZZ_TIME; default 60), seeded from the committed fuzz/corpus/<target>/.
 * New interesting inputs and crash reproducers go to a scratch directory (`--out=DIR`, or FUZZ_OUT;
 * default $TMPDIR/gatehouse-fuzz), never into the repo. Prints executions, exec/s and coverage per
 * target as a Markdown table, and exits 1 when any target crashed, naming the crashing input.
 * Targets import the compiled code of dist/src/: `npm run fuzz` builds it first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareJazzer } from './build-jazzer.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const targetsDir = join(root, 'fuzz', 'targets');
const all = readdirSync(targetsDir).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4)).sort();
/** Inputs longer than libFuzzer's default 4096 bytes, where real ones are (whole configuration files). */
const MAX_LEN = { config: 16384 };
/**
 * Jazzer.js options of one target. The config loader reads the pg_hba file a configuration names,
 * wherever it is: the operator who writes the file chooses it, so a path outside the config's
 * directory is not a traversal attack, and that bug detector would only report false alarms.
 */
const OPTIONS = { config: ['--disable_bug_detectors=path-traversal'] };

const args = process.argv.slice(2);
const option = (name, env, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? process.env[env] ?? fallback;
const seconds = Number(option('time', 'FUZZ_TIME', '60'));
const out = option('out', 'FUZZ_OUT', join(tmpdir(), 'gatehouse-fuzz'));
const named = args.filter((a) => !a.startsWith('--'));
const unknown = named.filter((t) => !all.includes(t));
if (!Number.isFinite(seconds) || seconds <= 0 || unknown.length > 0) {
  console.error(unknown.length > 0 ? `unknown target(s): ${unknown.join(', ')}; targets: ${all.join(', ')}` : `--time must be a positive number of seconds`);
  process.exit(2);
}
if (!existsSync(join(root, 'dist', 'src'))) {
  console.error('dist/src is missing: run `npm run build` (npm run fuzz does)');
  process.exit(2);
}
const env = { ...process.env, NODE_NO_WARNINGS: '1', ...prepareJazzer() };

/** Runs one target; resolves to its numbers from libFuzzer's final report. */
function run(target) {
  const scratch = join(out, target);
  const crashes = join(scratch, 'crashes');
  mkdirSync(join(scratch, 'corpus'), { recursive: true });
  mkdirSync(crashes, { recursive: true });
  const cli = join(root, 'node_modules', '@jazzer.js', 'core', 'dist', 'cli.js');
  const argv = [cli, join(targetsDir, `${target}.mjs`), join(scratch, 'corpus'), join(root, 'fuzz', 'corpus', target),
    '--sync', '-i', 'dist/src/', ...(OPTIONS[target] ?? []), '--',
    `-max_total_time=${seconds}`, `-artifact_prefix=${crashes}/`, '-print_final_stats=1', `-max_len=${MAX_LEN[target] ?? 4096}`];
  console.error(`== ${target}: ${seconds} s`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { cwd: root, env, stdio: ['ignore', 'inherit', 'pipe'] });
    let log = '';
    child.stderr.on('data', (data) => {
      log += data;
      process.stderr.write(data);
    });
    child.on('close', (code) => {
      const last = [...log.matchAll(/^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/gm)].at(-1);
      const stat = (name) => Number(new RegExp(`stat::${name}:\\s+(\\d+)`).exec(log)?.[1] ?? NaN);
      const executions = stat('number_of_executed_units') || Number(last?.[1] ?? 0);
      const crash = /Test unit written to (\S+)/.exec(log)?.[1] ?? null;
      resolve({ target, code, executions, perSecond: stat('average_exec_per_sec'), cov: last?.[2] ?? '?', ft: last?.[3] ?? '?',
        corpus: last?.[4] ?? '?', crash, seeds: readdirSync(join(root, 'fuzz', 'corpus', target)).length });
    });
  });
}

const results = [];
for (const target of named.length > 0 ? named : all) results.push(await run(target));
console.log(`\n| target | seconds | executions | exec/s | coverage (cov / ft) | corpus (seeds) | result |`);
console.log('| --- | ---: | ---: | ---: | --- | --- | --- |');
for (const r of results) {
  const result = r.crash ? `crash: ${r.crash}` : r.code === 0 ? 'no crash' : `exit ${r.code}`;
  console.log(`| ${r.target} | ${seconds} | ${r.executions} | ${r.perSecond} | ${r.cov} / ${r.ft} | ${r.corpus} (${r.seeds}) | ${result} |`);
}
const failed = results.filter((r) => r.code !== 0);
if (failed.length > 0) {
  for (const r of failed.filter((f) => f.crash)) console.log(`\n${r.target}: reproduce with the input in ${r.crash}:\n${readFileSync(r.crash).toString('hex')}`);
  process.exit(1);
}
