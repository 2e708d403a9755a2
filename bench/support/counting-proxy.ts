// A reverse proxy on loopback that counts what a client asks of one registry: requests by
// method and body bytes each way. Every tool in the benchmark talks through the same kind of
// proxy, so the figures compare clients on equal terms whatever their own logging says.
import { Agent, createServer, request as upstreamRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyCounts {
  requests: number;
  byMethod: Record<string, number>;
  /** Body bytes the client sent to the registry (blob and manifest uploads). */
  bytesUp: number;
  /** Body bytes the registry sent back (blobs, manifests, error documents). */
  bytesDown: number;
  /** Connections that did not speak HTTP, e.g. a TLS attempt before falling back to http. */
  nonHttp: number;
}

export interface CountingProxy {
  /** host:port clients use in image references instead of the registry's. */
  host: string;
  counts: ProxyCounts;
  reset(): void;
  close(): Promise<void>;
}

const empty = (): ProxyCounts => ({ requests: 0, byMethod: {}, bytesUp: 0, bytesDown: 0, nonHttp: 0 });

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const [upstreamHost = '127.0.0.1', upstreamPort = '80'] = upstream.split(':');
  const agent = new Agent({ keepAlive: true });
  let counts = empty();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    counts.requests += 1;
    const method = req.method ?? 'GET';
    counts.byMethod[method] = (counts.byMethod[method] ?? 0) + 1;
    // The Host header goes through unchanged: the registry builds upload Locations from it,
    // and those must point back at the proxy, not around it.
    const up = upstreamRequest({ host: upstreamHost, port: Number(upstreamPort), method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.on('data', (chunk: Buffer) => { counts.bytesDown += chunk.length; });
      answer.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.on('data', (chunk: Buffer) => { counts.bytesUp += chunk.length; });
    req.pipe(up);
  };

  const server = createServer({ keepAliveTimeout: 30_000 }, forward);
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Parse errors only: resets of idle keep-alive connections are no one's request.
    if (error.code?.startsWith('HPE_')) counts.nonHttp += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get counts() { return counts; },
    reset() { counts = empty(); },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
