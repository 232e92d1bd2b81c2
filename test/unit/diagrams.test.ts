import { describe, expect, it } from 'vitest';
import { machineRegistry } from '../../machines/index.js';
import { readFileSync } from 'node:fs';
import { toMermaid } from '../../src/diagrams/mermaid.js';
import { renderSvg, withReadmeDiagram } from '../../src/diagrams/write-diagrams.js';

describe('diagrams/ is generated from the machines', () => {
  for (const [name, entry] of Object.entries(machineRegistry)) {
    it(`diagrams/${name}.mmd matches the ${name} machine (run \`npm run diagrams\` after changing it)`, async () => {
      await expect(toMermaid(entry.machine)).toMatchFileSnapshot(`../../diagrams/${name}.mmd`);
    });

    it(`diagrams/${name}.svg is the rendering of that diagram, with no network resource`, async () => {
      const svg = await renderSvg(toMermaid(entry.machine));
      expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
      await expect(svg).toMatchFileSnapshot(`../../diagrams/${name}.svg`);
    });
  }

  it('README.md embeds the current server-handshake diagram (run `npm run diagrams`)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('<!-- diagram:server-handshake -->');
    expect(withReadmeDiagram(readme)).toBe(readme);
  });

  it('labels edges with the guard and the emitted commands', () => {
    const text = toMermaid(machineRegistry['client-session'].machine);
    expect(text).toContain('client.sslRequest [hasUnencryptedTrailingBytes] / drop');
    expect(text).toContain('tls.established [requiresClientCertificate && !isClientCertificateTrusted] / refuse');
  });
});
