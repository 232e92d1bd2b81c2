/** The web listener: GET /metrics serves the Prometheus registry; /machines the viewer when enabled. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { WebConfig } from '../config/types.js';
import { Registry } from 'prom-client';

export interface WebServer {
  address: AddressInfo;
  /** The listening socket (handed to a successor on an online restart). */
  server: Server;
  close(): Promise<void>;
}

/** An extra route: returns true when it answered the request. */
export type WebRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * `scrape`: the exposition text, of this process or of every worker (src/proxy/cluster). `fd`: listen on a socket
 * inherited from the process this one succeeds, instead of config's host and port.
 */
export async function startWebServer(
  config: WebConfig,
  scrape: () => Promise<string>,
  logger: Logger,
  routes: WebRoute[] = [],
  fd: number | null = null,
): Promise<WebServer> {
  const server: Server = createServer((req, res) => {
    for (const route of routes) if (route(req, res)) return;
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      scrape().then(
        (body) => {
          res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics collection failed: ${err.message}\n`);
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (fd !== null) server.listen({ fd }, () => resolve());
    else server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  logger.info({ host: address.address, port: address.port }, 'web listener serving /metrics');
  return { address, server, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
