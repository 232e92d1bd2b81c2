import type { z } from 'zod';
import { show, typeOf } from './fields.js';
import { suggestKey, type KeySegment } from './key-path.js';
import { knownKeysAt, type PathProblem } from './prepare.js';
import { authQueryShape, generalShape, peerShape, poolShape, rootShape, userShape, webShape } from './schema.js';

const OWN_KEYS = {
  root: Object.keys(rootShape),
  general: Object.keys(generalShape),
  web: Object.keys(webShape),
  pool: Object.keys(poolShape),
  user: Object.keys(userShape),
  authQuery: Object.keys(authQueryShape),
  peer: Object.keys(peerShape),
};

// Where a key that is misplaced actually belongs, for keys that exist in only some sections.
const HOMES: ReadonlyArray<readonly [readonly string[], string]> = [
  [OWN_KEYS.general, 'general'],
  [OWN_KEYS.pool, 'pools.<name>'],
  [OWN_KEYS.user, 'pools.<name>.users[]'],
  [OWN_KEYS.web, 'web'],
];

function unknownKeyProblem(path: readonly KeySegment[], key: string): string {
  const suggestion = suggestKey(key, knownKeysAt(path, OWN_KEYS));
  if (suggestion !== null) return `unknown key (did you mean ${suggestion}?)`;
  const home = HOMES.find(([keys]) => keys.includes(key));
  return home ? `unknown key here (${key} is a setting of ${home[1]})` : 'unknown key';
}

/**
 * A value under a key that names a password is a secret wherever it sits: a password line that lost
 * its indentation becomes a pool (or another map's entry) named "password", and the error for that
 * entry must not quote it, since check-config prints it and a failed reload logs it.
 */
function withoutSecret(issue: z.core.$ZodIssue, path: readonly KeySegment[]): string {
  const key = path.at(-1);
  if (typeof key !== 'string' || !/password/i.test(key) || issue.input === undefined) return issue.message;
  return issue.message.split(`(got ${show(issue.input)})`).join(`(got ${typeOf(issue.input)})`);
}

/** Turns zod issues into problems, one per unknown key (with a did-you-mean when a known key is close). */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[]): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const issue of issues) {
    const path: KeySegment[] = issue.path.map((s) => (typeof s === 'number' ? s : String(s)));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push({ path: [...path, key], problem: unknownKeyProblem(path, key) });
    } else {
      problems.push({ path, problem: withoutSecret(issue, path) });
    }
  }
  return problems;
}
