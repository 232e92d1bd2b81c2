/**
 * Target: parseConfig (src/config/load.ts), the PgDoorman-compatible YAML configuration loader, as
 * `gatehouse check-config` and reload run it (here without reading certificate or journal files).
 * Input: the file's text (seeds: the configuration files of test/fixtures and docs/).
 * Oracle: a bad file throws a ConfigError that lists at least one problem, each with a problem
 * text; its message holds no value of a `*password` key (one of 8 or more characters that occurs
 * once in the file, so it cannot have come from anywhere else); nothing else is ever thrown.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigError } from '../../dist/src/config/errors.js';
import { parseConfig } from '../../dist/src/config/load.js';
import { check } from '../lib/reference-stream.mjs';

// Relative paths in a fuzzed file (pg_hba files, sockets) resolve into an empty scratch directory.
const baseDir = mkdtempSync(join(tmpdir(), 'gatehouse-fuzz-config-'));

/** Values of keys ending in "password", wherever they sit in the file's documents. */
function passwordValues(text) {
  const values = [];
  const walk = (node) => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (/password$/i.test(key) && typeof value === 'string') values.push(value);
      else walk(value);
    }
  };
  try {
    for (const doc of parseAllDocuments(text)) walk(doc.toJS({ maxAliasCount: 100 }));
  } catch {
    // Not YAML enough to hold a password: nothing to look for.
  }
  return values.filter((value) => value.length >= 8 && text.split(value).length === 2);
}

export function fuzz(data) {
  const text = data.toString('utf8');
  try {
    parseConfig(text, 'fuzz.yaml', { baseDir, checkFiles: false });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    check(error.problems.length > 0, 'a ConfigError lists no problem');
    check(error.problems.every((p) => typeof p.problem === 'string' && p.problem !== ''), 'a problem has no text');
    for (const secret of passwordValues(text)) check(!error.message.includes(secret), 'a password value is in the error message');
  }
}
