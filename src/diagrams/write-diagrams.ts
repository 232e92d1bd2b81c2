/** `gatehouse diagrams`: writes diagrams/<machine>.mmd for every machine in the registry. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { machineRegistry } from '../../machines/index.js';
import { toMermaid } from './mermaid.js';

export async function writeDiagrams(outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, entry] of Object.entries(machineRegistry)) {
    const file = path.join(outDir, `${name}.mmd`);
    await writeFile(file, toMermaid(entry.machine));
    written.push(file);
  }
  return written;
}
