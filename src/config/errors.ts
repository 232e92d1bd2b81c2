/** One thing wrong with a configuration file: where (a key path such as `pools.app.users[0].password`) and what. */
export interface ConfigProblem {
  keyPath: string;
  problem: string;
}

/** Formats one problem as `<file>: <key.path>: <problem>`; a problem about the file as a whole has an empty key path. */
export function formatProblem(file: string, p: ConfigProblem): string {
  return p.keyPath === '' ? `${file}: ${p.problem}` : `${file}: ${p.keyPath}: ${p.problem}`;
}

/**
 * Every problem found in one configuration file, thrown together so that an operator fixes them in one pass.
 * The message lists them one per line. No message ever contains a password value.
 */
export class ConfigError extends Error {
  readonly file: string;
  readonly problems: Array<{ keyPath: string; problem: string }>;

  constructor(file: string, problems: ConfigProblem[]) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems.map((p) => ({ keyPath: p.keyPath, problem: p.problem }));
  }
}
