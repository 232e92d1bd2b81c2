/**
 * The Stately inspector bridge (web.inspect: true, or `gatehouse --inspect`): actor events are
 * streamed through a WebSocket relay bound to 127.0.0.1 only (the package's own relay listens on
 * every interface) to a page that embeds the hosted inspector UI. Off by default; when off, actors
 * are created without an inspection observer, so it costs nothing.
 *
 * Contexts are sanitized: a peer certificate is reduced to its CN and fingerprint. Events and
 * contexts never carry secrets in the first place (see src/journal).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';

const REPLAYED_TO_LATE_VIEWERS = 200;
const INSPECTOR_UI = 'https://stately.ai/inspect';

export interface InspectorBridge {
  /** Pass as createActor's `inspect` option. */
  inspect: NonNullable<ReturnType<typeof createWebSocketInspector>['inspect']>;
  address: AddressInfo;
  close(): Promise<void>;
}

function bridgePage(port: number): string {
  return `<!doctype html><html><head><title>gatehouse — Stately inspector</title>
<style>*{margin:0;padding:0}html,body{height:100%}iframe{width:100%;height:100%;border:none}</style></head>
<body><iframe id="inspector" src="${INSPECTOR_UI}"></iframe><script>
const iframe = document.getElementById('inspector'); const buffer = []; let connected = false;
window.addEventListener('message', (e) => { if (e.data && e.data.type === '@statelyai.connected') {
  connected = true; buffer.splice(0).forEach((m) => iframe.contentWindow.postMessage(m, '*')); } });
const ws = new WebSocket('ws://' + location.hostname + ':${port}');
ws.onmessage = (e) => { const m = JSON.parse(e.data); if (connected) iframe.contentWindow.postMessage(m, '*'); else buffer.push(m); };
</script></body></html>`;
}

function sanitizeContext(context: Record<string, unknown>): Record<string, unknown> {
  const peer = context.peer as { commonName?: string | null; fingerprint256?: string } | null | undefined;
  return peer ? { ...context, peer: { commonName: peer.commonName ?? null, fingerprint256: peer.fingerprint256 } } : context;
}

export async function startInspectorBridge(port: number, logger: Logger): Promise<InspectorBridge> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(bridgePage((server.address() as AddressInfo).port));
  });
  const relay = new WebSocketServer({ server });
  const recent: string[] = [];
  relay.on('connection', (socket) => {
    for (const message of recent) socket.send(message);
    socket.on('message', (data) => {
      const message = data.toString();
      recent.push(message);
      if (recent.length > REPLAYED_TO_LATE_VIEWERS) recent.shift();
      for (const peer of relay.clients) if (peer !== socket && peer.readyState === WebSocket.OPEN) peer.send(message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const inspector = createWebSocketInspector({
    url: `ws://127.0.0.1:${address.port}`,
    sanitizeContext: sanitizeContext as never,
  });
  logger.info({ url: `http://127.0.0.1:${address.port}` }, 'Stately inspector bridge: open this URL in a browser on this host (or through an SSH tunnel)');
  return {
    inspect: inspector.inspect!,
    address,
    close: async () => {
      inspector.stop();
      relay.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
