import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMap, type PathProblem } from './prepare.js';
import { resolveConfigPath } from './tls-files.js';

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'does not exist'
    : code === 'ENOTDIR' ? 'cannot be reached (part of its path is a file, not a directory)'
    : code === 'EACCES' || code === 'EPERM' ? 'is not writable (permission denied)'
    : code === 'EROFS' ? 'is on a read-only file system'
    : (error as Error).message;
}

/**
 * Why journal lines could not be appended to `file` (an absolute path), or null: its directory must exist and be
 * writable, and an existing file must be a writable regular file. Nothing is created or written.
 */
export function journalFileProblem(file: string): string | null {
  const dir = dirname(file);
  try {
    if (!statSync(dir).isDirectory()) return `cannot write ${file}: ${dir} is not a directory`;
    accessSync(dir, constants.W_OK);
  } catch (error) {
    return `cannot write ${file}: directory ${dir} ${reason(error)}`;
  }
  try {
    if (statSync(file).isDirectory()) return `cannot write ${file}: it is a directory`;
    accessSync(file, constants.W_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot write ${file}: the file ${reason(error)}`;
  }
  return null;
}

/** The problem with general.journal_file in the (prepared) document, if it names a file that cannot be written. */
export function journalFileProblems(document: unknown, baseDir: string): PathProblem[] {
  if (!isMap(document) || !isMap(document.general)) return [];
  const value = document.general.journal_file;
  if (typeof value !== 'string' || value === '') return [];
  const problem = journalFileProblem(resolveConfigPath(baseDir, value));
  return problem === null ? [] : [{ path: ['general', 'journal_file'], problem }];
}
