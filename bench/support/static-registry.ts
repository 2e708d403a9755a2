// A read-only registry for the registry.k8s.io-sized benchmark: the distribution API's reads a
// plan makes (the version check, tag lists, manifest HEADs by tag or digest), answered from
// tables in memory, with the same per-request latency and sliding-window quota the fault proxy
// applies (test/support/fault-proxy.ts). Seeding docker-registry with ~560,000 tags would take
// hours and millions of files; the scaled-down runs of bench:promote use docker-registry itself.
// Every request is counted per method, and 429s separately, as the proxies' logs are.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const manifestType = 'application/vnd.oci.image.manifest.v1+json';

export interface StaticRepository {
  /** tag -> digest */
  tags: Map<string, string>;
  /** Every digest the repository holds (tagged or not). */
  digests: Set<string>;
}

/** What a benchmark reads from a counted server, whatever it is (fault proxy or this). */
export interface CountedRequest { method: string; fault?: string }

export interface StaticRegistry {
  host: string;
  repositories: Map<string, StaticRepository>;
  /** Requests since the last reset: method, and fault 'quota' for a 429. */
  requests: CountedRequest[];
  connections: number;
  setQuota(quota: { limit: number; windowMs: number } | undefined): void;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

export function repository(registry: StaticRegistry, name: string): StaticRepository {
  let repo = registry.repositories.get(name);
  if (!repo) registry.repositories.set(name, repo = { tags: new Map(), digests: new Set() });
  return repo;
}

export async function startStaticRegistry(): Promise<StaticRegistry> {
  const repositories = new Map<string, StaticRepository>();
  const requests: CountedRequest[] = [];
  let latency = 0;
  let quota: { limit: number; windowMs: number } | undefined;
  // A ring of admission times: the oldest of the last `limit` admitted requests.
  let admitted: number[] = [];
  let next = 0;
  let connections = 0;

  const overQuota = (now: number): number | undefined => {
    if (!quota) return undefined;
    const oldest = admitted[next];
    if (admitted.length >= quota.limit && oldest !== undefined && oldest > now - quota.windowMs) {
      return Math.max(1, Math.ceil((oldest + quota.windowMs - now) / 1000));
    }
    if (admitted.length < quota.limit) admitted.push(now);
    else admitted[next] = now;
    next = (next + 1) % quota.limit;
    return undefined;
  };

  const answer = (res: ServerResponse, status: number, headers: Record<string, string>, body = '') => {
    res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const entry: CountedRequest = { method: req.method ?? 'GET' };
    requests.push(entry);
    req.resume();
    const retryAfter = overQuota(Date.now());
    if (retryAfter !== undefined) {
      entry.fault = 'quota';
      return answer(res, 429, { 'retry-after': String(retryAfter), 'content-type': 'application/json' }, '{"errors":[{"code":"TOOMANYREQUESTS"}]}');
    }
    const path = new URL(req.url ?? '/', 'http://static').pathname;
    if (path === '/v2/' || path === '/v2') return answer(res, 200, { 'content-type': 'application/json' }, '{}');
    const list = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (list && req.method === 'GET') {
      const repo = repositories.get(list[1]!);
      if (!repo) return answer(res, 404, { 'content-type': 'application/json' }, '{"errors":[{"code":"NAME_UNKNOWN"}]}');
      return answer(res, 200, { 'content-type': 'application/json' }, JSON.stringify({ name: list[1], tags: [...repo.tags.keys()] }));
    }
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (manifest && req.method === 'HEAD') {
      const repo = repositories.get(manifest[1]!);
      const reference = manifest[2]!;
      const digest = reference.startsWith('sha256:') ? (repo?.digests.has(reference) ? reference : undefined) : repo?.tags.get(reference);
      if (digest === undefined) return answer(res, 404, {});
      res.writeHead(200, { 'content-type': manifestType, 'content-length': '428', 'docker-content-digest': digest });
      return res.end();
    }
    // Read-only: anything else is an error a plan never makes.
    return answer(res, 405, { 'content-type': 'application/json' }, '{"errors":[{"code":"UNSUPPORTED"}]}');
  };

  const server = createServer((req, res) => {
    if (latency > 0) setTimeout(() => handle(req, res), latency);
    else handle(req, res);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', () => { connections += 1; });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host, repositories, requests,
    get connections() { return connections; },
    set connections(n: number) { connections = n; },
    setQuota(q) {
      quota = q;
      admitted = [];
      next = 0;
    },
    setLatency(ms) {
      latency = ms;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
