// A fault-injecting reverse proxy in front of a real test registry: the registry client's tests
// and the benchmarks need 429s, 5xx, resets, stalls, corruption and latency on demand, from a
// registry that otherwise behaves exactly like the real one.
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline, Readable, Transform } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

/** `ms: Infinity` stalls until the client gives up or the proxy closes. */
export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Sends a TCP RST before any response. */
  | { kind: 'reset' }
  /** Sends the upstream headers and the first `afterBytes` (default 0) body bytes, then pauses for `ms`. */
  | { kind: 'stall'; ms: number; afterBytes?: number }
  /** Holds the request for `ms` before forwarding it: no headers reach the client meanwhile. */
  | { kind: 'stallHeaders'; ms: number }
  /** Forwards the upstream response with bytes flipped in the body, same length. */
  | { kind: 'corrupt' }
  | { kind: 'delay'; ms: number }
  /**
   * Answers `status` with a body of `bytes` bytes produced as the client reads it (the start
   * given by `prefix`, then `fill` repeated): a huge error page, tag list or token without the
   * proxy holding it in memory.
   */
  | { kind: 'body'; status: number; bytes: number; prefix?: string; fill?: string; headers?: Record<string, string>; chunked?: boolean }
  /** Answers what `answer` makes of the request, without asking the registry. */
  | { kind: 'respond'; answer: (request: { method: string; path: string }) => { status: number; headers?: Record<string, string>; body?: string } }
  /** Forwards the request and lets `edit` change the response headers (a Location, a challenge). */
  | { kind: 'headers'; edit: (headers: OutgoingHttpHeaders, request: { method: string; path: string }) => OutgoingHttpHeaders }
  /**
   * For a HEAD: forwards it, then writes these bytes after the response, as a body a HEAD must
   * not have; `delayMs` later, so the client may already have sent its next request.
   */
  | { kind: 'headBody'; body: string; delayMs?: number };

export interface FaultRule {
  /** Which requests; `path` is tested against the path with its query. Default: all. */
  match?: { method?: string; path?: RegExp };
  /** How many matching requests the rule affects before it is used up; default Infinity. */
  times?: number;
  /** Matching requests let through untouched before the rule starts acting. */
  after?: number;
  fault: Fault;
}

export interface ProxiedRequest {
  method: string;
  /** Path with query, as the client sent it. */
  path: string;
  /** Status sent to the client; 0 when no response was sent (reset, or the client gave up first). */
  status: number;
  /** The fault kind applied, or 'quota'. */
  fault?: string;
  /** The request's headers as the client sent them (to check where credentials went). */
  headers: IncomingHttpHeaders;
  /** Body bytes written to the client (for `body` faults: how much the client read before hanging up). */
  bytesSent: number;
}

export interface FaultProxy {
  /** 127.0.0.1:PORT, the registry name to use in image references. */
  host: string;
  url: string;
  /** Rules are tried in the order added; the first that matches and is not used up applies. */
  addRule(rule: FaultRule): void;
  clearRules(): void;
  requests: ProxiedRequest[];
  /** TCP connections accepted since the start (or the last reset). */
  connections: number;
  resetConnections(): void;
  /** More than `limit` requests within `windowMs` are answered 429 with Retry-After (seconds). */
  setQuota(quota: { limit: number; windowMs: number } | undefined): void;
  /** Resolves once every response begun so far has closed (its `bytesSent` is final). */
  idle(): Promise<void>;
  /** Latency added before every request is handled. */
  setLatency(ms: number): void;
  /**
   * Serves tag lists in pages of at most this many with `Link` headers, as distribution 3,
   * GHCR and Docker Hub do (Debian's distribution 2.8 ignores `n`); undefined: pass through.
   */
  setTagPageSize(size: number | undefined): void;
  close(): Promise<void>;
}

// Meaningful for one connection only; `expect` because the proxy has already answered it.
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name)));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (Number.isFinite(ms)) return delay(ms, undefined, { signal });
  // No timer for "forever", so nothing but the abort can end it.
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

const errorCodes: Record<number, string> = { 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE' };

function reply(req: IncomingMessage, res: ServerResponse, entry: ProxiedRequest, status: number, headers: Record<string, string> = {}, body?: string): void {
  req.resume(); // discard an upload's body so the connection stays usable
  const text = body ?? JSON.stringify({ errors: [{ code: errorCodes[status] ?? 'UNKNOWN', message: 'injected by the fault proxy' }] });
  res.writeHead(status, {
    'content-type': body === undefined ? 'application/json' : 'text/plain',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  entry.status = status;
  entry.bytesSent += Buffer.byteLength(text);
  res.end(text);
}

/** `bytes` bytes: `prefix`, then `fill` repeated, made as the reader asks for them. */
function generated(bytes: number, prefix: string, fill: string): Readable {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, fill);
  const head = Buffer.from(prefix);
  return new Readable({
    read() {
      if (sent >= bytes) return void this.push(null);
      const piece = sent === 0 ? Buffer.concat([head, chunk]) : chunk;
      const out = piece.subarray(0, Math.min(piece.length, bytes - sent));
      sent += out.length;
      this.push(out);
    },
  });
}

function counter(entry: ProxiedRequest): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      entry.bytesSent += chunk.length;
      done(null, chunk);
    },
  });
}

function corrupter(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const copy = Buffer.from(chunk);
      if (copy.length > 0) copy[0] = copy[0]! ^ 0xff;
      done(null, copy);
    },
  });
}

function staller(ms: number, afterBytes: number, signal: AbortSignal): Transform {
  let sent = 0;
  let stalled = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (stalled || sent + chunk.length < afterBytes) {
        sent += chunk.length;
        return done(null, chunk);
      }
      const head = chunk.subarray(0, afterBytes - sent);
      if (head.length > 0) this.push(head);
      stalled = true;
      sleep(ms, signal).then(() => done(null, chunk.subarray(head.length)), done);
    },
  });
}

export interface FaultProxyOptions {
  /** Serve https with this key and certificate (PEM) instead of plain http. */
  tls?: { key: string; cert: string };
  /** The clock the quota reads (epoch ms); tests move it instead of waiting. Default Date.now. */
  now?: () => number;
}

export async function startFaultProxy(upstreamUrl: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const agent = new Agent({ keepAlive: true });
  const rules: { rule: FaultRule; seen: number; used: number }[] = [];
  const requests: ProxiedRequest[] = [];
  let latency = 0;
  let quota: { limit: number; windowMs: number } | undefined;
  let admitted: number[] = [];
  let proxyHost = '';
  let tagPageSize: number | undefined;
  let connections = 0;
  const now = options.now ?? Date.now;
  /** Responses not closed yet, and who waits for there to be none. */
  let open = 0;
  const idleWaiters: (() => void)[] = [];

  async function servePagedTags(req: IncomingMessage, res: ServerResponse, entry: ProxiedRequest, size: number): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const upstreamRes = await fetch(new URL(url.pathname, upstream), { headers: endToEnd(req.headers) as Record<string, string> });
    if (upstreamRes.status !== 200) {
      entry.status = upstreamRes.status;
      res.writeHead(upstreamRes.status, { 'content-type': upstreamRes.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstreamRes.arrayBuffer()));
      return;
    }
    const { name, tags } = (await upstreamRes.json()) as { name: string; tags: string[] | null };
    const n = Math.min(Number(url.searchParams.get('n') ?? size) || size, size);
    const last = url.searchParams.get('last');
    const rest = (tags ?? []).sort().filter((t) => last === null || t > last);
    const page = rest.slice(0, n);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (rest.length > n) headers.link = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`;
    entry.status = 200;
    res.writeHead(200, headers);
    res.end(JSON.stringify({ name, tags: page }));
  }

  function takeFault(method: string, path: string): Fault | undefined {
    for (const state of rules) {
      const { match = {}, after = 0, times = Infinity } = state.rule;
      if (match.method !== undefined && match.method.toUpperCase() !== method) continue;
      if (match.path !== undefined && !match.path.test(path)) continue;
      if (state.used >= times) continue;
      if (++state.seen <= after) continue;
      state.used++;
      return state.rule.fault;
    }
    return undefined;
  }

  /** Seconds to wait when over quota, else undefined (and the request counts). */
  function overQuota(now: number): number | undefined {
    if (!quota) return undefined;
    const windowStart = now - quota.windowMs;
    admitted = admitted.filter((t) => t > windowStart);
    const oldest = admitted[0];
    if (oldest !== undefined && admitted.length >= quota.limit) {
      return Math.max(1, Math.ceil((oldest + quota.windowMs - now) / 1000));
    }
    admitted.push(now);
    return undefined;
  }

  function rewriteLocation(headers: IncomingHttpHeaders): IncomingHttpHeaders {
    const location = headers.location;
    if (location === undefined || !URL.canParse(location)) return headers; // relative: already ours
    const target = new URL(location);
    if (target.origin !== upstream.origin) return headers;
    target.host = proxyHost;
    return { ...headers, location: target.href };
  }

  function forward(req: IncomingMessage, res: ServerResponse, entry: ProxiedRequest, fault: Fault | undefined, signal: AbortSignal): void {
    const upstreamReq = request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      // The upstream Host, so the registry builds absolute URLs to itself, as a registry behind
      // a CDN or load balancer would; the Location rewrite is what keeps clients on the proxy.
      headers: { ...endToEnd(req.headers), host: upstream.host },
      agent,
    });
    res.once('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    upstreamReq.on('error', () => {
      if (!res.headersSent && !res.destroyed) reply(req, res, entry, 502);
      else res.destroy();
    });
    upstreamReq.on('response', (upstreamRes) => {
      let headers: OutgoingHttpHeaders = rewriteLocation(endToEnd(upstreamRes.headers));
      if (fault?.kind === 'headers') headers = fault.edit({ ...headers }, { method: entry.method, path: entry.path });
      res.writeHead(upstreamRes.statusCode ?? 502, headers);
      entry.status = res.statusCode;
      const stages: Transform[] = [];
      if (fault?.kind === 'corrupt') stages.push(corrupter());
      if (fault?.kind === 'stall') {
        res.flushHeaders();
        stages.push(staller(fault.ms, fault.afterBytes ?? 0, signal));
      }
      // The response lets go of its socket when it ends: keep hold of it for a headBody fault.
      const socket = res.socket;
      pipeline([upstreamRes, ...stages, counter(entry), res], () => {
        // Bytes a HEAD response must not carry, on the connection the client may reuse.
        if (fault?.kind !== 'headBody' || entry.method !== 'HEAD' || !socket) return;
        const write = () => { if (!socket.destroyed) socket.write(fault.body); };
        if (fault.delayMs) setTimeout(write, fault.delayMs).unref();
        else write();
      });
    });
    req.pipe(upstreamReq);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const entry: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', status: 0, headers: req.headers, bytesSent: 0 };
    requests.push(entry);
    // Ends this request's timers when its connection closes: the client gave up, or close()
    // destroyed every connection.
    const ended = new AbortController();
    open += 1;
    res.once('close', () => {
      ended.abort();
      if (--open === 0) for (const resolve of idleWaiters.splice(0)) resolve();
    });
    const signal = ended.signal;
    try {
      if (latency > 0) await sleep(latency, signal);
      const retryAfter = overQuota(now());
      if (retryAfter !== undefined) {
        entry.fault = 'quota';
        return reply(req, res, entry, 429, { 'retry-after': String(retryAfter) });
      }
      const fault = takeFault(entry.method, entry.path);
      if (fault) entry.fault = fault.kind;
      switch (fault?.kind) {
        case 'status':
          return reply(req, res, entry, fault.status, fault.headers, fault.body);
        case 'respond': {
          const answer = fault.answer({ method: entry.method, path: entry.path });
          return reply(req, res, entry, answer.status, answer.headers, answer.body);
        }
        case 'body': {
          req.resume();
          res.writeHead(fault.status, { 'content-type': 'application/json', ...(!fault.chunked && { 'content-length': String(fault.bytes) }), ...fault.headers });
          entry.status = fault.status;
          pipeline([generated(fault.bytes, fault.prefix ?? '', fault.fill ?? 'a'), counter(entry), res], () => {});
          return;
        }
        case 'reset':
          req.socket.resetAndDestroy();
          return;
        case 'stallHeaders':
        case 'delay':
          await sleep(fault.ms, signal);
          break;
      }
      if (tagPageSize !== undefined && entry.method === 'GET' && /^\/v2\/.+\/tags\/list(\?|$)/.test(entry.path)) {
        return await servePagedTags(req, res, entry, tagPageSize);
      }
      forward(req, res, entry, fault, signal);
    } catch {
      res.destroy(); // aborted: the connection is already gone
    }
  }

  const server = options.tls
    ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, (req, res) => void handle(req, res))
    : createServer((req, res) => void handle(req, res));
  server.on(options.tls ? 'secureConnection' : 'connection', () => { connections += 1; });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxyHost = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    host: proxyHost,
    url: `${options.tls ? 'https' : 'http'}://${proxyHost}`,
    requests,
    get connections() { return connections; },
    resetConnections: () => { connections = 0; },
    addRule: (rule) => void rules.push({ rule, seen: 0, used: 0 }),
    clearRules: () => void rules.splice(0),
    setQuota(q) {
      quota = q;
      admitted = [];
    },
    setLatency(ms) {
      latency = ms;
    },
    idle: () => (open === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    setTagPageSize(size) {
      tagPageSize = size;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
