import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { killTrackedChildren } from '../../../src/dev/child-processes.js';
import { startCluster } from '../../../src/dev/postgres-cluster.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !alive(pid);
}

describe('clusters at process exit', () => {
  it('kills a cluster nobody stopped, backends included, and removes its directories when Node exits', async () => {
    const cluster = await startCluster({ flavor: 'embedded18', hba: [], ssl: null });
    expect(await cluster.query('SHOW ssl')).toEqual([['off']]);
    const postmasterPid = Number(fs.readFileSync(`${cluster.dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    const backendPids = (await cluster.query('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()')).map(
      ([pid]) => Number(pid),
    );
    expect(backendPids.length).toBeGreaterThan(0);
    expect(process.listeners('exit')).toContain(killTrackedChildren);

    killTrackedChildren(); // what the 'exit' handler runs

    expect(await waitUntilGone(postmasterPid, 5000)).toBe(true);
    for (const pid of backendPids) expect(await waitUntilGone(pid, 5000)).toBe(true);
    expect(fs.existsSync(cluster.baseDir)).toBe(false);
    expect(fs.existsSync(cluster.socketDir)).toBe(false);
    await cluster.stop(); // still safe afterwards
  });
});
