import { describe, expect, it } from 'vitest';
import { machineRegistry } from '../../machines/index.js';
import { toMermaid } from '../../src/diagrams/mermaid.js';

describe('diagrams/ is generated from the machines', () => {
  for (const [name, entry] of Object.entries(machineRegistry)) {
    it(`diagrams/${name}.mmd matches the ${name} machine (run \`npm run diagrams\` after changing it)`, async () => {
      await expect(toMermaid(entry.machine)).toMatchFileSnapshot(`../../diagrams/${name}.mmd`);
    });
  }

  it('labels edges with the guard and the emitted commands', () => {
    const text = toMermaid(machineRegistry['client-session'].machine);
    expect(text).toContain('client.sslRequest [hasUnencryptedTrailingBytes] / drop');
    expect(text).toContain('tls.established [requiresClientCertificate && !isClientCertificateTrusted] / refuse');
  });
});
