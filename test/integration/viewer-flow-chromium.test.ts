/**
 * The viewer draws the handshake flow of the connection named in `?connection=`: the transitions it
 * walked, numbered like its journal rows, the rest of the machine dimmed, and for a refused connection
 * the guard (or event) that refused it. Real TLS gatehouse in front of a real PostgreSQL, real
 * node-postgres clients, pages loaded and photographed by headless Chromium.
 */
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, dumpDom, screenshot } from '../fixtures/chromium.js';
import { connectError, connectPg } from '../fixtures/clients.js';
import { FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { countColour, readPng } from '../fixtures/png.js';

const AMBER: [number, number, number] = [0xb4, 0x53, 0x09];
const RED: [number, number, number] = [0xb9, 0x1c, 0x1c];

/** Every `attr="…"` value in `html`, in document order, of the elements whose opening tag matches `tag`. */
function attrsOf(html: string, tag: RegExp, attr: string): string[] {
  const opening = tag.source.startsWith('<') ? `${tag.source}[^>]*>` : `<[^>]*${tag.source}[^>]*>`;
  return [...html.matchAll(new RegExp(opening, 'g'))].map((m) => new RegExp(`${attr}="([^"]*)"`).exec(m[0])?.[1] ?? '');
}

describe.skipIf(!CHROMIUM)('the handshake flow in the viewer', () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let client: pg.Client;
  const ids = { ok: '', plain: '', wrongPassword: '' };
  const shots = mkdtempSync(path.join(tmpdir(), 'gh-viewer-shots-'));
  const page = (id: string) => `http://127.0.0.1:${gh.gateway.webAddress!.port}/machines?connection=${id}`;

  /** The client-session journal `attempt` opened. */
  async function sessionOf(attempt: () => Promise<unknown>): Promise<string> {
    const before = new Set([...gh.gateway.journals.liveRecords(), ...gh.gateway.journals.endedRecords()].map((r) => r.id));
    await attempt();
    const opened = [...gh.gateway.journals.liveRecords(), ...gh.gateway.journals.endedRecords()].filter((r) => r.machine === 'client-session' && !before.has(r.id));
    expect(opened).toHaveLength(1);
    return opened[0].id;
  }

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(FLAVORS[0], pki);
    gh = await startGatehouse({ general: clientTls(pki, 'require'), web: { enabled: true, viewer: true }, pools: { appdb: poolFor(cluster, pki) } });
    ids.ok = await sessionOf(async () => (client = await connectPg(gh, pki)));
    ids.plain = await sessionOf(() => connectError(gh, pki, { ssl: false }));
    ids.wrongPassword = await sessionOf(() => connectError(gh, pki, { password: 'not-the-password' }));
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
    rmSync(shots, { recursive: true, force: true });
  });

  it('numbers the walked transitions of a TLS login 1..N like its journal rows and highlights exactly those edges on the dimmed machine', async () => {
    const dom = await dumpDom(page(ids.ok));
    const rows = gh.gateway.journals.find(ids.ok)!.entries.map((e) => String(e.seq));
    expect(rows).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(attrsOf(dom, /class="flow-step walked"/, 'data-seq')).toEqual(rows);
    expect(attrsOf(dom, /class="flow-step walked"/, 'data-event')).toEqual(['client.sslRequest', 'tls.slotGranted', 'tls.established', 'client.startup', 'auth.succeeded', 'pool.acquired']);
    expect([...dom.matchAll(/class="step-number"[^>]*>(\d+)</g)].map((m) => m[1])).toEqual(rows);
    expect(attrsOf(dom, /<tr class="walked"/, 'data-seq')).toEqual(rows);
    expect(dom).toContain('<span class="state" id="current-state">connected.ready</span>');
    expect(dom).toMatch(/<g class="flow-state walked current" data-state="connected.ready">/);

    // On the whole machine: one edge per walked transition, carrying its row number; every other edge dimmed.
    const walked = attrsOf(dom, /<polyline class="edge walked"/, 'data-steps');
    expect(walked.map(Number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(attrsOf(dom, /<polyline class="edge walked"/, 'data-label')).toContain('client.sslRequest [isTlsOffered] / replySsl, acquireHandshakeSlot');
    const edges = attrsOf(dom, /<polyline class="edge/, 'class');
    expect(edges.filter((c) => c === 'edge dimmed').length).toBe(edges.length - 6);
    expect([...dom.matchAll(/<g class="step-badge"><circle[^>]*><\/circle><text[^>]*>(\d+)</g)].map((m) => m[1]).sort()).toEqual(rows);
  });

  it('shows the guard that refused a plaintext client under tls_mode require, on the final edge and in the side panel', async () => {
    const dom = await dumpDom(page(ids.plain));
    expect(dom).toContain('<span class="refusing-guard" id="refusing-guard">isPlainButTlsRequired</span>');
    expect(dom).toContain('<code id="refusal-sqlstate">28000</code>');
    expect(dom).toMatch(/<g class="flow-step walked refused" data-seq="1" data-event="client.startup" data-guard="isPlainButTlsRequired">/);
    expect(dom).toMatch(/class="refusing-guard"[^>]*>refused by guard isPlainButTlsRequired</);
    expect(dom).toMatch(/<g class="flow-state failed" data-state="failed">/);
    expect(attrsOf(dom, /<polyline class="edge walked refused"/, 'data-label')).toEqual(['client.startup [isPlainButTlsRequired] / refuse']);
    expect(dom).toMatch(/<tr class="walked refused" data-seq="1"[^>]*><td>1<\/td><td>client.startup<div class="payload">/);
  });

  it('names the event that refused a wrong password (auth.failed has no guard) and its SQLSTATE 28P01', async () => {
    const dom = await dumpDom(page(ids.wrongPassword));
    expect(dom).toContain('<span class="refusing-guard" id="refusing-event">auth.failed</span>');
    expect(dom).toContain('<code id="refusal-sqlstate">28P01</code>');
    expect(attrsOf(dom, /class="flow-step walked( refused)?"/, 'data-event')).toEqual(['client.sslRequest', 'tls.slotGranted', 'tls.established', 'client.startup', 'auth.failed']);
    expect(attrsOf(dom, /<polyline class="edge walked refused"/, 'data-label')).toEqual(['auth.failed / refuse']);
    const verdict = dom.slice(dom.indexOf('<div id="verdict"'), dom.indexOf('<div id="machine"'));
    expect(verdict).toContain('by the event');
    expect(verdict).not.toContain('by guard');
  });

  it('draws the flow of gatehouse’s own TLS handshake to PostgreSQL (server-handshake) through to ready', async () => {
    const server = gh.gateway.journals.endedRecords().find((r) => r.machine === 'server-handshake');
    expect(server).toBeDefined();
    const dom = await dumpDom(page(server!.id));
    const rows = server!.entries.map((e) => String(e.seq));
    expect(attrsOf(dom, /class="flow-step walked"/, 'data-seq')).toEqual(rows);
    expect(dom).toMatch(/<g class="flow-state walked" data-state="ready">/);
    expect(attrsOf(dom, /<polyline class="edge walked"/, 'data-steps').length).toBeGreaterThan(2);
  });

  it('1280×800 screenshots show the walked flow in amber and a refusal in red', async () => {
    const ok = path.join(shots, 'viewer-ok.png');
    const refused = path.join(shots, 'viewer-refused.png');
    const wrongPassword = path.join(shots, 'viewer-wrong-password.png');
    await screenshot(page(ids.ok), ok);
    await screenshot(page(ids.plain), refused);
    await screenshot(page(ids.wrongPassword), wrongPassword);
    for (const file of [ok, refused, wrongPassword]) {
      const png = readPng(file);
      expect([png.width, png.height]).toEqual([1280, 800]);
      expect(statSync(file).size).toBeGreaterThan(30_000);
    }
    // The flow column (right of the 18rem list, left of the side panel): amber arrows and numbers for the login.
    const flowColumn = { x: 300, y: 60, width: 560, height: 720 };
    expect(countColour(readPng(ok), AMBER, flowColumn)).toBeGreaterThan(1500);
    expect(countColour(readPng(ok), RED, flowColumn)).toBeLessThan(50);
    expect(countColour(readPng(refused), RED, flowColumn)).toBeGreaterThan(1500);
    // A wrong password walked the TLS handshake (amber) before auth.failed refused it (red).
    expect(countColour(readPng(wrongPassword), AMBER, flowColumn)).toBeGreaterThan(1500);
    expect(countColour(readPng(wrongPassword), RED, flowColumn)).toBeGreaterThan(1500);
    // To look at them: GATEHOUSE_SCREENSHOTS=<dir> keeps a copy.
    const keep = process.env.GATEHOUSE_SCREENSHOTS;
    if (keep) for (const file of [ok, refused, wrongPassword]) copyFileSync(file, path.join(keep, path.basename(file)));
  });
});
