/** The package's root directory, from sources (src/…) and from the build (dist/src/…) alike. */
import { existsSync, readFileSync } from 'node:fs';

export function packageRoot(): URL {
  for (let dir = new URL('./', import.meta.url); dir.pathname !== '/'; dir = new URL('../', dir)) {
    const pkg = new URL('package.json', dir);
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'gatehouse') return dir;
  }
  throw new Error('cannot find the gatehouse package root');
}
