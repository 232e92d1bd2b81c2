/**
 * The self-hosted machine viewer (web.viewer: true), served on the web listener under /machines.
 * It needs no internet: the page is inline, the diagrams are the SVGs `npm run diagrams` rendered,
 * and connection states come from the journals. Journals hold no secrets (see src/journal), so
 * neither does the viewer.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { machineRegistry } from '../../machines/index.js';
import type { ConnectionRecord, JournalBook } from '../journal/journal.js';
import { renderFlowSvg } from './viewer-flow-svg.js';
import { connectionFlow } from './viewer-flow.js';
import { VIEWER_PAGE } from './viewer-page.js';
import { viewConnection } from './viewer-state.js';

const ENDED_SHOWN = 50;

/** Where the viewer reads connections: one process's JournalBook, or every worker's (src/proxy/cluster). */
export interface JournalSource {
  /** The live connections, and the last ENDED_SHOWN ended ones, newest first. */
  connections(): Promise<{ live: ConnectionRecord[]; ended: ConnectionRecord[] }>;
  find(id: string): Promise<ConnectionRecord | undefined>;
}

export function journalSource(journals: JournalBook): JournalSource {
  return {
    connections: async () => ({ live: journals.liveRecords(), ended: journals.endedRecords().slice(-ENDED_SHOWN).reverse() }),
    find: async (id) => journals.find(id),
  };
}

/** Several workers' connections as one list: live ones by start, ended ones newest first. */
export function mergeConnections(parts: Array<{ live: ConnectionRecord[]; ended: ConnectionRecord[] }>): { live: ConnectionRecord[]; ended: ConnectionRecord[] } {
  const live = parts.flatMap((p) => p.live).sort((a, b) => a.startedAt - b.startedAt);
  const ended = parts.flatMap((p) => p.ended).sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0)).slice(0, ENDED_SHOWN);
  return { live, ended };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export function createViewer(journals: JournalSource, diagramsDir: URL): (req: IncomingMessage, res: ServerResponse) => boolean {
  const svgs = new Map<string, string>();
  for (const name of Object.keys(machineRegistry)) svgs.set(name, readFileSync(new URL(`${name}.svg`, diagramsDir), 'utf8'));

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://viewer');
    if (req.method !== 'GET' || !url.pathname.startsWith('/machines')) return false;
    const rest = url.pathname.slice('/machines'.length);
    if (rest === '' || rest === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(VIEWER_PAGE);
      return true;
    }
    const svg = /^\/diagram\/([a-z-]+)\.svg$/.exec(rest);
    if (svg && svgs.has(svg[1])) {
      res.writeHead(200, { 'content-type': 'image/svg+xml' });
      res.end(svgs.get(svg[1]));
      return true;
    }
    const failed = (err: Error) => json(res, 500, { error: err.message });
    if (rest === '/api/connections') {
      journals.connections().then(({ live, ended }) => {
        json(res, 200, { machines: Object.keys(machineRegistry), live: live.map(viewConnection), ended: ended.map(viewConnection) });
      }, failed);
      return true;
    }
    const one = /^\/api\/connections\/([A-Za-z0-9_-]+)$/.exec(rest);
    if (one) {
      journals.find(one[1]).then((record) => {
        if (!record) return json(res, 404, { error: `no connection ${one[1]}` });
        const flow = connectionFlow(record);
        json(res, 200, { ...viewConnection(record), input: record.input, entries: record.entries, flow, flowSvg: renderFlowSvg(flow) });
      }, failed);
      return true;
    }
    json(res, 404, { error: 'not found' });
    return true;
  };
}
