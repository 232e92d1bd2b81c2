import type { KeySegment } from './key-path.js';
import {
  IGNORED_AUTH_QUERY_KEYS,
  IGNORED_GENERAL_KEYS,
  IGNORED_POOL_KEYS,
  IGNORED_ROOT_KEYS,
  IGNORED_USER_KEYS,
  IGNORED_WEB_KEYS,
  UNSUPPORTED_KEYS,
} from './pgdoorman-keys.js';

export interface PathProblem {
  path: KeySegment[];
  problem: string;
}

export interface Prepared {
  /** The document with null values dropped (an empty YAML value means "not set", as in PgDoorman). */
  data: unknown;
  /** Accepted PgDoorman keys that gatehouse ignores, removed from `data`. */
  ignored: KeySegment[][];
  /** Keys gatehouse refuses outright. */
  problems: PathProblem[];
}

export type PlainMap = Record<string, unknown>;

export function isMap(value: unknown): value is PlainMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (!isMap(value)) return value;
  const out: PlainMap = {};
  for (const [key, v] of Object.entries(value)) {
    // defineProperty, not assignment: a YAML key named __proto__ stays an ordinary (and unknown) key.
    if (v !== null) Object.defineProperty(out, key, { value: dropNulls(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Removes nulls and the PgDoorman keys gatehouse ignores, and reports the ones it refuses, so that schema
 * validation afterwards sees only gatehouse keys (anything else there is a typo or a foreign key).
 */
export function prepare(document: unknown): Prepared {
  const data = dropNulls(document);
  const ignored: KeySegment[][] = [];
  const problems: PathProblem[] = [];

  const sift = (map: unknown, path: KeySegment[], ignore: readonly string[], refuse: Readonly<Record<string, string>> = {}) => {
    if (!isMap(map)) return;
    for (const key of Object.keys(map)) {
      if (ignore.includes(key)) {
        ignored.push([...path, key]);
        delete map[key];
      } else if (Object.hasOwn(refuse, key)) {
        problems.push({ path: [...path, key], problem: refuse[key] });
        delete map[key];
      }
    }
  };

  if (!isMap(data)) return { data, ignored, problems };
  sift(data, [], IGNORED_ROOT_KEYS, UNSUPPORTED_KEYS.root);
  sift(data.general, ['general'], IGNORED_GENERAL_KEYS, UNSUPPORTED_KEYS.general);
  sift(data.web, ['web'], IGNORED_WEB_KEYS);
  sift(data.prometheus, ['prometheus'], IGNORED_WEB_KEYS);
  if (isMap(data.pools)) {
    for (const [name, pool] of Object.entries(data.pools)) {
      sift(pool, ['pools', name], IGNORED_POOL_KEYS);
      if (isMap(pool)) sift(pool.auth_query, ['pools', name, 'auth_query'], IGNORED_AUTH_QUERY_KEYS);
      if (isMap(pool) && Array.isArray(pool.users)) {
        pool.users.forEach((user, i) => sift(user, ['pools', name, 'users', i], IGNORED_USER_KEYS, UNSUPPORTED_KEYS.user));
      }
    }
  }
  return { data, ignored, problems };
}

/** Every key a section knows (gatehouse's own plus the PgDoorman ones it accepts), for did-you-mean suggestions. */
export function knownKeysAt(path: readonly KeySegment[], own: {
  root: readonly string[];
  general: readonly string[];
  web: readonly string[];
  pool: readonly string[];
  user: readonly string[];
  authQuery?: readonly string[];
  peer?: readonly string[];
}): readonly string[] {
  const [first] = path;
  if (path.length === 0) return [...own.root, ...IGNORED_ROOT_KEYS, ...Object.keys(UNSUPPORTED_KEYS.root)];
  if (path.length === 1 && first === 'general') {
    return [...own.general, ...IGNORED_GENERAL_KEYS, ...Object.keys(UNSUPPORTED_KEYS.general)];
  }
  if (path.length === 1 && (first === 'web' || first === 'prometheus')) return [...own.web, ...IGNORED_WEB_KEYS];
  if (path.length === 2 && first === 'pools') return [...own.pool, ...IGNORED_POOL_KEYS];
  if (path.length === 2 && first === 'peers') return own.peer ?? [];
  if (path.length === 3 && first === 'pools' && path[2] === 'auth_query') return [...(own.authQuery ?? []), ...IGNORED_AUTH_QUERY_KEYS];
  if (path.length === 4 && first === 'pools' && path[2] === 'users') {
    return [...own.user, ...IGNORED_USER_KEYS, ...Object.keys(UNSUPPORTED_KEYS.user)];
  }
  return [];
}
