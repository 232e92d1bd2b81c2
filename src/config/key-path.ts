/** A location in the configuration tree: map keys and list indexes, outermost first. */
export type KeySegment = string | number;

const PLAIN_KEY = /^[^.\s[\]"]+$/;

/** `['pools', 'app', 'users', 1, 'password']` → `pools.app.users[1].password`; odd keys are quoted: `pools["a.b"]`. */
export function formatKeyPath(path: readonly KeySegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length];
}

/** The known key closest to `key` when it is within edit distance 2 (and not a wholesale rewrite), else null. */
export function suggestKey(key: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance && distance < Math.max(key.length, candidate.length)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
