/**
 * `general.pg_hba` (rules as a string, `{ path }` or `{ content }`) and PgDoorman's legacy `general.hba` (a list of
 * CIDRs), read into one rule set. Every problem names where it is: the key, and for rule text the file and line.
 */
import { readFileSync } from 'node:fs';
import { hbaFromAddressList, parseHba, type HbaRuleSet } from './hba.js';
import type { KeySegment } from './key-path.js';
import { isMap, type PathProblem, type PlainMap } from './prepare.js';
import { resolveConfigPath } from './tls-files.js';

export interface HbaSetting {
  rules: HbaRuleSet | null;
  problems: PathProblem[];
}

function readRules(text: string, source: string, at: KeySegment[], prefix: string): HbaSetting {
  const { rules, problems } = parseHba(text);
  return {
    rules: { source, rules },
    problems: problems.map((p) => ({ path: at, problem: `${prefix}line ${p.line}: ${p.problem}` })),
  };
}

function pgHba(value: unknown, baseDir: string): HbaSetting {
  const at: KeySegment[] = ['general', 'pg_hba'];
  if (typeof value === 'string') return readRules(value, 'general.pg_hba', at, '');
  if (!isMap(value)) {
    return { rules: null, problems: [{ path: at, problem: 'expected pg_hba.conf rules as a string, { path: FILE } or { content: RULES }' }] };
  }
  const unknown = Object.keys(value).filter((k) => k !== 'path' && k !== 'content');
  if (unknown.length > 0) {
    return { rules: null, problems: unknown.map((k) => ({ path: [...at, k], problem: 'unknown key (expected path or content)' })) };
  }
  const { path, content } = value;
  if (path !== undefined && content !== undefined) {
    return { rules: null, problems: [{ path: at, problem: 'set either path or content, not both' }] };
  }
  if (content !== undefined) {
    if (typeof content !== 'string') return { rules: null, problems: [{ path: [...at, 'content'], problem: 'expected the rules as a string' }] };
    return readRules(content, 'general.pg_hba.content', [...at, 'content'], '');
  }
  if (typeof path !== 'string' || path === '') {
    return { rules: null, problems: [{ path: [...at, 'path'], problem: path === undefined ? 'required (or content)' : 'expected a file path' }] };
  }
  const file = resolveConfigPath(baseDir, path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    return { rules: null, problems: [{ path: [...at, 'path'], problem: `cannot read ${file}: ${why}` }] };
  }
  return readRules(text, file, [...at, 'path'], `${file}: `);
}

function legacyHba(value: unknown): HbaSetting {
  const at: KeySegment[] = ['general', 'hba'];
  if (!Array.isArray(value)) return { rules: null, problems: [{ path: at, problem: 'expected a list of addresses with CIDR masks' }] };
  // PgDoorman: an empty list lets every address in.
  if (value.length === 0) return { rules: null, problems: [] };
  const bad = value.flatMap((v, i) => (typeof v === 'string' ? [] : [{ path: [...at, i], problem: 'expected an address with a CIDR mask' }]));
  if (bad.length > 0) return { rules: null, problems: bad };
  const { rules, problems } = hbaFromAddressList(value as string[]);
  return { rules: { source: 'general.hba', rules }, problems: problems.map((p) => ({ path: [...at, p.index], problem: p.problem })) };
}

/** What cert rules need to work at all: TLS offered, and a CA to verify client certificates against. */
function certProblems(rules: HbaRuleSet, general: PlainMap): PathProblem[] {
  const cert = rules.rules.find((r) => r.method === 'cert');
  if (!cert) return [];
  const missing = ['tls_certificate', 'tls_private_key', 'tls_ca_cert'].filter((k) => general[k] === undefined);
  const where = rules.source.startsWith('general.') ? `line ${cert.line}` : `${rules.source}: line ${cert.line}`;
  const problems: PathProblem[] = [];
  if (general.tls_mode === 'disable') {
    problems.push({ path: ['general', 'tls_mode'], problem: `is disable, but pg_hba ${where} uses cert, which needs TLS with client certificates` });
  }
  for (const key of missing) problems.push({ path: ['general', key], problem: `required when pg_hba uses cert (${where})` });
  return problems;
}

/** Reads whichever of general.pg_hba and general.hba is set (both is an error); cert rules need the file's TLS settings. */
export function hbaSetting(document: unknown, baseDir: string): HbaSetting {
  const general = isMap(document) && isMap(document.general) ? document.general : {};
  const hasPgHba = general.pg_hba !== undefined;
  const hasHba = general.hba !== undefined;
  if (hasPgHba && hasHba) {
    return { rules: null, problems: [{ path: ['general', 'hba'], problem: 'cannot be used together with general.pg_hba (hba is the old list of addresses; keep one)' }] };
  }
  const setting = hasPgHba ? pgHba(general.pg_hba, baseDir) : hasHba ? legacyHba(general.hba) : { rules: null, problems: [] };
  if (setting.rules) setting.problems.push(...certProblems(setting.rules, general));
  return setting;
}
