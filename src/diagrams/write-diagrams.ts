/** `gatehouse diagrams`: writes diagrams/<machine>.mmd for every machine in the registry. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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

const README_BLOCK = /(<!-- diagram:server-handshake -->\n)[\s\S]*?(<!-- \/diagram -->)/;

/** README.md with the generated server-handshake diagram between its markers. */
export function withReadmeDiagram(readme: string): string {
  const diagram = toMermaid(machineRegistry['server-handshake'].machine);
  return readme.replace(README_BLOCK, (_, open: string, close: string) => `${open}\`\`\`mermaid\n${diagram}\`\`\`\n${close}`);
}

export async function updateReadme(file: string): Promise<void> {
  await writeFile(file, withReadmeDiagram(await readFile(file, 'utf8')));
}
