import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { ConfigError, type ConfigProblem } from './errors.js';
import { problemsFromIssues } from './issues.js';
import { hbaSetting } from './hba-config.js';
import type { HbaRuleSet } from './hba.js';
import { journalFileProblems } from './journal-file.js';
import { formatKeyPath, type KeySegment } from './key-path.js';
import { pemFileProblems } from './pem-files.js';
import { prepare, type PathProblem } from './prepare.js';
import { resolveConfig } from './resolve.js';
import { crossFieldProblems } from './rules.js';
import { rootSchema } from './schema.js';
import { tlsFileRefs } from './tls-files.js';
import type { Config } from './types.js';
import { unixSocketProblems } from './unix-socket.js';

export interface ParseOptions {
  /** Directory that relative file paths are resolved against; defaults to the directory of `file`. */
  baseDir?: string;
  /** Read and check every configured certificate and key file, and that the journal file can be written (default true). */
  checkFiles?: boolean;
}

function syntaxProblems(doc: Document): ConfigProblem[] {
  return doc.errors.map((error) => {
    const at = error.linePos?.[0];
    const message = error.message.split(/ at line \d+, column \d+/)[0].split('\n')[0];
    return { keyPath: at ? `line ${at.line}, column ${at.col}` : '', problem: `invalid YAML: ${message}` };
  });
}

/**
 * Where in the source a key path points, for listing problems in file order: the key itself where it exists;
 * for a missing key, the end of the section that should hold it.
 */
function sourceOffset(doc: Document, path: readonly KeySegment[]): number {
  let node: unknown = doc.contents;
  let offset = 0;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    const end = (node as { range?: [number, number] } | null)?.range?.[1] ?? offset;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) return end;
      offset = (isScalar(pair.key) && pair.key.range?.[0]) || offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      node = node.items[segment];
      offset = (node as { range?: [number] } | null)?.range?.[0] ?? offset;
    } else {
      return end;
    }
  }
  return offset;
}

function toConfigProblems(doc: Document, problems: PathProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems
    .map((p, order) => ({ keyPath: formatKeyPath(p.path), problem: p.problem, offset: sourceOffset(doc, p.path), order }))
    .sort((a, b) => a.offset - b.offset || a.order - b.order)
    .filter((p) => {
      const id = `${p.keyPath}\n${p.problem}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    })
    .map(({ keyPath, problem }) => ({ keyPath, problem }));
}

/** The YAML document and its plain value; syntax errors, alias bombs and an empty file are ConfigErrors. */
function parseYaml(text: string, file: string): { doc: Document; document: unknown } {
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(file, syntaxProblems(doc));
  let document: unknown;
  try {
    document = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(file, [{ keyPath: '', problem: `invalid YAML: ${(error as Error).message}` }]);
  }
  if (document === null || document === undefined) {
    throw new ConfigError(file, [{ keyPath: '', problem: 'the file is empty (expected general and pools sections)' }]);
  }
  return { doc, document };
}

/**
 * Parses and validates configuration text. `file` names the source in error messages. Throws one ConfigError
 * listing every problem found: YAML syntax (with line and column), unknown keys, wrong types and ranges, rules
 * spanning several keys, and (unless checkFiles is false) unreadable or mismatched certificate and key files and
 * a journal file that cannot be written.
 */
export function parseConfig(text: string, file: string, opts: ParseOptions = {}): Config {
  const baseDir = resolve(opts.baseDir ?? dirname(resolve(file)));
  const { doc, document } = parseYaml(text, file);
  const prepared = prepare(document);
  const parsed = rootSchema.safeParse(prepared.data, { reportInput: true });
  const hba = hbaSetting(prepared.data, baseDir);
  const problems: PathProblem[] = [
    ...prepared.problems,
    ...(parsed.success ? [] : problemsFromIssues(parsed.error.issues)),
    ...crossFieldProblems(prepared.data),
    ...hba.problems,
    ...unixSocketProblems(prepared.data, baseDir, opts.checkFiles ?? true),
  ];
  if (opts.checkFiles ?? true) {
    const { files, pairs } = tlsFileRefs(prepared.data, baseDir);
    problems.push(...pemFileProblems(files, pairs), ...journalFileProblems(prepared.data, baseDir));
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, toConfigProblems(doc, problems));

  return resolveConfig(parsed.data, {
    file: resolve(file),
    baseDir,
    ignoredKeys: prepared.ignored.map((path) => formatKeyPath(path)),
    hba: hba.rules,
  });
}

/** Reads, parses and validates a configuration file; relative paths in it are relative to its directory. */
export function loadConfig(file: string): Config {
  return parseConfig(readConfigFile(file), file);
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new ConfigError(file, [{ keyPath: '', problem: `cannot read the configuration file: ${reason}` }]);
  }
}
