/**
 * `gatehouse diagrams`: writes diagrams/<machine>.mmd and an SVG rendering of it for every machine
 * in the registry. SVGs come from beautiful-mermaid (pure JavaScript: no browser, no network); the
 * web viewer serves them and highlights states by their data-id.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { machineRegistry } from '../../machines/index.js';
import { renderMermaidSVG } from 'beautiful-mermaid';
import { toMermaid } from './mermaid.js';

/** SVG for Mermaid text, without the web-font import (it must render offline). */
export async function renderSvg(mermaid: string): Promise<string> {
  const svg = await renderMermaidSVG(mermaid);
  return svg.replace(/^\s*@import url\([^)]*\);\n/m, '');
}

export async function writeDiagrams(outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, entry] of Object.entries(machineRegistry)) {
    const file = path.join(outDir, `${name}.mmd`);
    const text = toMermaid(entry.machine);
    await writeFile(file, text);
    await writeFile(path.join(outDir, `${name}.svg`), await renderSvg(text));
    written.push(file, path.join(outDir, `${name}.svg`));
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
