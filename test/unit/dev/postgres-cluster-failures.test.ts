import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertEmbeddedLibrariesHydrated, hydrateEmbeddedLibraries } from '../../../src/dev/postgres-binaries.js';
import { startCluster } from '../../../src/dev/postgres-cluster.js';

describe('cluster start failures', () => {
  let tmp: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cluster-fail-'));
    fs.chmodSync(tmp, 0o755);
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reports the end of the server log when postgres refuses a setting, and leaves no directory behind', async () => {
    const baseDir = path.join(tmp, 'bad-setting');
    await expect(
      startCluster({ flavor: 'embedded18', hba: [], baseDir, settings: { shared_buffers: 'plenty' } }),
    ).rejects.toThrow(/postgres exited during startup[\s\S]*invalid value for parameter "shared_buffers"/);
    expect(fs.existsSync(baseDir)).toBe(false);
  });

  it("reports the server's message when the users and databases cannot be created", async () => {
    const baseDir = path.join(tmp, 'bad-bootstrap');
    await expect(
      startCluster({ flavor: 'embedded18', hba: [], baseDir, databases: [{ name: 'app', owner: 'nobody_here' }] }),
    ).rejects.toThrow(/postgres --single\) failed[\s\S]*role "nobody_here" does not exist/);
    expect(fs.existsSync(baseDir)).toBe(false);
  });

  it('fails with the bind error when the requested port is taken, instead of picking another', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(startCluster({ flavor: 'embedded18', hba: [], port })).rejects.toThrow(
        /could not bind IPv4 address "127\.0\.0\.1": Address already in use/,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('tells to run `npm run prepare` when the embedded library symlinks were not restored', () => {
    const pkgDir = path.join(tmp, 'fake-embedded');
    fs.mkdirSync(path.join(pkgDir, 'native', 'lib'), { recursive: true });
    fs.writeFileSync(path.join(pkgDir, 'native', 'lib', 'libpq.so.5.18'), '');
    fs.writeFileSync(
      path.join(pkgDir, 'native', 'pg-symlinks.json'),
      JSON.stringify([{ source: 'native/lib/libpq.so.5.18', target: 'native/lib/libpq.so.5' }]),
    );
    expect(() => assertEmbeddedLibrariesHydrated(pkgDir)).toThrow(/native\/lib\/libpq\.so\.5.*npm run prepare/);
    fs.symlinkSync('libpq.so.5.18', path.join(pkgDir, 'native', 'lib', 'libpq.so.5'));
    expect(() => assertEmbeddedLibrariesHydrated(pkgDir)).not.toThrow();
  });

  it('restores the library symlinks itself on first use where `prepare` never ran (gatehouse installed as a package), once', () => {
    const pkgDir = path.join(tmp, 'installed-embedded');
    fs.mkdirSync(path.join(pkgDir, 'native', 'lib'), { recursive: true });
    fs.writeFileSync(path.join(pkgDir, 'native', 'lib', 'libpq.so.5.18'), 'libpq');
    fs.writeFileSync(
      path.join(pkgDir, 'native', 'pg-symlinks.json'),
      JSON.stringify([{ source: 'native/lib/libpq.so.5.18', target: 'native/lib/libpq.so.5' }]),
    );
    expect(hydrateEmbeddedLibraries(pkgDir)).toBe(1);
    expect(fs.readlinkSync(path.join(pkgDir, 'native', 'lib', 'libpq.so.5'))).toBe('libpq.so.5.18');
    expect(fs.readFileSync(path.join(pkgDir, 'native', 'lib', 'libpq.so.5'), 'utf8')).toBe('libpq');
    expect(() => assertEmbeddedLibrariesHydrated(pkgDir)).not.toThrow();
    expect(hydrateEmbeddedLibraries(pkgDir), 'idempotent').toBe(0);
  });
});
