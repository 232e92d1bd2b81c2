/** The flow SVG keeps every label inside its viewBox (so fitting it to a frame clips nothing) and marks the refusal. */
import { describe, expect, it } from 'vitest';
import type { ClientEvent, ClientSessionInput } from '../../../machines/index.js';
import { renderFlowSvg } from '../../../src/observability/viewer-flow-svg.js';
import { connectionFlow } from '../../../src/observability/viewer-flow.js';

const input: ClientSessionInput = { tlsMode: 'require', tlsAvailable: true, overCapacity: false, certIdentity: 'none', transport: 'tcp', hbaCertRules: false };
const startup: ClientEvent = { type: 'client.startup', user: 'alice', database: 'app', databaseKnown: true, password: 'plain', address: '127.0.0.1', hba: { kind: 'unconfigured' }, adminConsole: null };
const established: ClientEvent = {
  type: 'tls.established', protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', alpnProtocol: null, authorized: false, authorizationError: null, peerCertificate: null,
};
const tlsLogin: ClientEvent[] = [{ type: 'client.sslRequest', trailingBytes: 0 }, { type: 'tls.slotGranted' }, established, startup];

function svgOf(events: ClientEvent[]) {
  const entries = events.map((event, i) => ({ seq: i + 1, at: i, machine: 'client-session', machineVersion: 1, event }));
  return renderFlowSvg(connectionFlow({ id: 'c1', machine: 'client-session', input, entries }));
}

/** Monospace advance of DejaVu Sans Mono / Menlo / Consolas: about 0.6 em. */
const ADVANCE = 0.602;

describe('flow SVG', () => {
  it.each([
    ['a TLS login', [...tlsLogin, { type: 'auth.succeeded' }, { type: 'pool.acquired', serverId: 's1' }]],
    ['a wrong password', [...tlsLogin, { type: 'auth.failed', sqlstate: '28P01', message: 'password authentication failed for user "a_user_with_a_rather_long_name_to_wrap"' }]],
  ] as Array<[string, ClientEvent[]]>)('keeps every label of %s inside the viewBox', (_, events) => {
    const svg = svgOf(events);
    const [, w, h] = /viewBox="0 0 (\d+) (\d+)"/.exec(svg)!.map(Number);
    const texts = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)"[^>]*font-size="(\d+)">([^<]*)<\/text>/g)];
    expect(texts.length).toBeGreaterThan(10);
    for (const [, x, y, size, content] of texts) {
      const chars = content.replace(/&(amp|lt|gt|quot);/g, '_').length;
      const anchoredMiddle = /text-anchor="middle"/.test(svg.slice(svg.indexOf(`x="${x}" y="${y}"`) - 1, svg.indexOf(content, svg.indexOf(`x="${x}" y="${y}"`))));
      const right = Number(x) + (anchoredMiddle ? chars / 2 : chars) * ADVANCE * Number(size);
      expect(right, content).toBeLessThanOrEqual(w);
      expect(Number(y), content).toBeLessThanOrEqual(h);
    }
  });

  it('numbers the arrows with the journal rows and puts the verdict on the refusing one', () => {
    const svg = svgOf([...tlsLogin, { type: 'auth.failed', sqlstate: '28P01', message: 'password authentication failed for user "alice"' }]);
    expect([...svg.matchAll(/class="step-number"[^>]*>(\d+)</g)].map((m) => Number(m[1]))).toEqual([1, 2, 3, 4, 5]);
    expect(svg).toMatch(/<g class="flow-step walked refused" data-seq="5" data-event="auth.failed">/);
    expect(svg).toContain('>refused by the event auth.failed</text>');
    expect(svg).toMatch(/class="state-failure" font-size="11">28P01 auth_failed: password authentication failed for user/);
    expect(svg).toMatch(/<g class="flow-state failed" data-state="failed">/);
  });

  it('draws an ignored event as a dotted row without an arrow that still carries its journal number', () => {
    const svg = svgOf([{ type: 'tls.slotGranted' }, startup]);
    expect(svg).toMatch(/<g class="flow-step ignored" data-seq="1" data-event="tls.slotGranted">\s*<line [^>]*class="dotted"\/>/);
    expect(svg).toContain('>tls.slotGranted: no transition, ignored</text>');
    expect(svg).toContain('>refused by guard isPlainButTlsRequired</text>');
  });
});
