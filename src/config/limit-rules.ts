/**
 * Pool limits that involve more than one key: min_pool_size is at most the pool_size it belongs to, and the
 * minimums of a pool's users together fit in its max_db_connections (PgDoorman refuses such a file too). Values of
 * the wrong type are left to the schema.
 */
import type { KeySegment } from './key-path.js';
import { isMap, type PlainMap } from './prepare.js';

const DEFAULT_POOL_SIZE = 40;

const count = (value: unknown): number | null => (Number.isInteger(value) ? (value as number) : null);

function minWithinSize(map: PlainMap, at: KeySegment[], add: (path: KeySegment[], problem: string) => void): number {
  const min = count(map.min_pool_size) ?? 0;
  const size = map.pool_size === undefined ? DEFAULT_POOL_SIZE : count(map.pool_size);
  if (size !== null && size > 0 && min > size) add([...at, 'min_pool_size'], `must be at most pool_size (${size}) (got ${min})`);
  return min;
}

export function poolLimitRules(name: string, pool: PlainMap, add: (path: KeySegment[], problem: string) => void): void {
  const at: KeySegment[] = ['pools', name];
  let minimums = 0;
  if (Array.isArray(pool.users)) {
    pool.users.forEach((user, i) => {
      if (isMap(user)) minimums += minWithinSize(user, [...at, 'users', i], add);
    });
  }
  if (isMap(pool.auth_query)) minWithinSize(pool.auth_query, [...at, 'auth_query'], add);
  const max = count(pool.max_db_connections) ?? 0;
  if (max > 0 && minimums > max) {
    add([...at, 'max_db_connections'], `is ${max}, less than the users' min_pool_size together (${minimums}): not every minimum could be kept`);
  }
}
