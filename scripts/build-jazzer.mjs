/**
 * Makes the Jazzer.js native addon loadable on this machine; run by `npm run fuzz` before fuzzing
 * (idempotent, and a no-op where the addon loads as shipped).
 *
 * @jazzer.js/fuzzer 4.0.0 ships its libFuzzer addon prebuilt inside the npm tarball (no C++ sources,
 * no install script). That binary was linked against glibc 2.38 and GCC 13's libstdc++ and needs
 * them for exactly three symbols: __isoc23_strtol and __isoc23_strtoul (GLIBC_2.38) and
 * std::ios_base_library_init (GLIBCXX_3.4.32); Debian 12 has glibc 2.36 and GCC 12. So, when
 * loading fails for that reason, this script
 *   1. compiles scripts/jazzer/compat-shim.cpp (those three, exported under those version names)
 *      with the machine's g++ into node_modules/.cache/gatehouse-jazzer/, and
 *   2. marks the addon's two requirements weak, so the loader accepts it and binds the three
 *      symbols to the preloaded shim;
 * and returns the environment (LD_PRELOAD) that fuzz runs must use. Any other load failure is fatal.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { markVersionWeak } from './jazzer/elf-version-weak.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(root, 'package.json'));
const fuzzerDir = dirname(dirname(require.resolve('@jazzer.js/fuzzer')));
const addon = join(fuzzerDir, 'prebuilds', `fuzzer-${process.platform}-${process.arch}.node`);
const cacheDir = join(root, 'node_modules', '.cache', 'gatehouse-jazzer');
const shim = join(cacheDir, 'compat-shim.so');
const NEWER_RUNTIME = ['GLIBC_2.38', 'GLIBCXX_3.4.32'];
const MISSING_RUNTIME = /version `(GLIBC_2\.38|GLIBCXX_3\.4\.32)' not found|undefined symbol: (__isoc23_strtoul?|_ZSt21ios_base_library_initv)/;

/** Loads the addon in a child process, binding every symbol at once (a patched addon loads lazily without the shim). */
function tryLoad(env) {
  const probe = `require(${JSON.stringify(join(fuzzerDir, 'dist', 'addon.js'))})`;
  return spawnSync(process.execPath, ['-e', probe], { env: { ...process.env, LD_BIND_NOW: '1', ...env }, encoding: 'utf8' });
}

/** The environment variables a process loading Jazzer.js needs here ({} when none). */
export function prepareJazzer() {
  const asShipped = tryLoad({});
  if (asShipped.status === 0) return {};
  if (!MISSING_RUNTIME.test(asShipped.stderr)) {
    throw new Error(`the Jazzer.js addon ${addon} does not load:\n${asShipped.stderr}`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const sources = join(root, 'scripts', 'jazzer');
  execFileSync('g++', ['-shared', '-fPIC', '-O2', `-Wl,--version-script=${join(sources, 'compat-shim.map')}`,
    '-o', shim, join(sources, 'compat-shim.cpp')], { stdio: 'inherit' });
  const patched = NEWER_RUNTIME.map((version) => markVersionWeak(addon, version)).includes('patched');
  const env = { LD_PRELOAD: process.env.LD_PRELOAD ? `${shim}:${process.env.LD_PRELOAD}` : shim };
  const withShim = tryLoad(env);
  if (withShim.status !== 0) throw new Error(`the Jazzer.js addon still does not load with ${shim}:\n${withShim.stderr}`);
  console.error(`build-jazzer: addon ${patched ? 'patched' : 'was already patched'}; shim built at ${shim}`);
  return env;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = prepareJazzer();
  console.log(Object.keys(env).length === 0 ? 'build-jazzer: the addon loads as shipped' : `build-jazzer: run fuzzers with ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}
