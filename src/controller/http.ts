// The probe and metrics endpoints: /healthz (the process serves), /readyz (caches synced, and
// not shutting down; standby replicas are ready too, so a rollout is not blocked on leadership)
// and /metrics. Addresses use controller-runtime's spelling: ":8080", "127.0.0.1:8081", "0" off.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface BindAddress {
  host?: string;
  port: number;
}

/** undefined for "0" (disabled). */
export function parseBindAddress(text: string, flag: string): BindAddress | undefined {
  if (text === '0') return undefined;
  const colon = text.lastIndexOf(':');
  const host = colon >= 0 ? text.slice(0, colon) : '';
  const port = Number(colon >= 0 ? text.slice(colon + 1) : text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--${flag} "${text}" must be [host]:port, e.g. :8080, or 0 to disable`);
  return { ...(host !== '' && { host: host.replace(/^\[|\]$/g, '') }), port };
}

export interface Endpoint {
  server: Server;
  port: number;
  close(): Promise<void>;
}

async function listen(server: Server, address: BindAddress): Promise<Endpoint> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

export function serveProbes(address: BindAddress, checks: { healthy(): string | undefined; ready(): string | undefined }): Promise<Endpoint> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const problem = path === '/healthz' ? checks.healthy() : path === '/readyz' ? checks.ready() : 'not found';
    const status = problem === 'not found' ? 404 : problem ? 503 : 200;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(problem ? `${problem}\n` : 'ok\n');
  });
  return listen(server, address);
}

export function serveMetrics(address: BindAddress, registry: Registry): Promise<Endpoint> {
  const server = createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    }, (error: unknown) => {
      res.writeHead(500).end(`${(error as Error).message}\n`);
    });
  });
  return listen(server, address);
}
