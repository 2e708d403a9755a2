// HTTP to registries: one keep-alive undici Pool per origin, a timeout on every phase of every
// request, the host's shared rate limiter, authentication, transient-failure retries and
// counters. Everything above this file speaks in registry operations, not HTTP.
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import pRetry, { AbortError } from 'p-retry';
import { Pool, type Dispatcher } from 'undici';
import { Authenticator, type Scope, type TokenResponse } from './auth.ts';
import type { CredentialStore } from './credentials.ts';
import { StaticCredentials } from './credentials.ts';
import { fromNetworkError, reasonForStatus, RegistryError, type RegistryErrorReason } from './errors.ts';
import { Limiters, retryAfterSeconds, type RateLimitOptions } from './limiter.ts';
import { RegistryStats, statusClass } from './stats.ts';

export interface Timeouts {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** From sending a request to its response headers. */
  headersMs: number;
  /** The longest pause between two chunks of a body. */
  bodyIdleMs: number;
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export interface TransportOptions {
  credentials?: CredentialStore;
  timeouts?: Partial<Timeouts>;
  retry?: Partial<RetryOptions>;
  rateLimit?: Partial<RateLimitOptions>;
  /** Per-host overrides of rateLimit. */
  rateLimitByHost?: Record<string, Partial<RateLimitOptions>>;
  /**
   * Limiters shared with other clients, so a process running many promotions at once (the
   * controller: one client per run, each with its own credentials) keeps one budget per host.
   * rateLimit and rateLimitByHost are then ignored.
   */
  limiters?: Limiters;
  /** Hosts spoken to over plain http. Loopback hosts always are, unless listed in secureHosts. */
  insecureHosts?: string[];
  /** Loopback hosts spoken to over https (a registry behind `kubectl port-forward`, a TLS test registry). */
  secureHosts?: string[];
  /** Extra CA certificates (PEM) trusted for https registries and token servers, besides the system's. */
  ca?: string | string[];
  /**
   * Per registry host, token realm hosts outside the registry's own domain that may receive its
   * credentials (see refuseRealm in auth.ts and docs/operations.md).
   */
  trustedRealms?: Record<string, string[]>;
  /** Connections kept per origin. */
  connectionsPerOrigin?: number;
  userAgent?: string;
}

export const defaultTimeouts: Timeouts = { connectMs: 10_000, headersMs: 30_000, bodyIdleMs: 30_000 };
export const defaultRetry: RetryOptions = { attempts: 5, minDelayMs: 200, maxDelayMs: 10_000 };

export interface RegistryRequest {
  host: string;
  // No DELETE: Hoist never deletes anything from a registry, and the type says so.
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH';
  /** Path and query, e.g. `/v2/team/app/manifests/v1`; or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  /** A buffer can be sent again on a retry; a stream cannot, so a streamed request is tried once. */
  body?: Buffer | string | Readable;
  scope: Scope;
  /** Statuses the caller handles itself; anything else becomes a RegistryError. */
  expect: number[];
  /** What the request is for, in error messages: `manifest team/app:v1`. */
  what: string;
  /** Reason for a 404 not listed in expect. */
  notFound?: RegistryErrorReason;
  /** Follow 3xx to another origin without credentials (blob storage redirects). */
  followRedirects?: boolean;
  /**
   * false for requests that must not be sent twice: a chunk or the closing PUT of an upload
   * session fails on replay if the first attempt landed, so the whole upload is retried instead.
   */
  retry?: boolean;
  signal?: AbortSignal;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/;

const isStream = (body: RegistryRequest['body']): body is Readable => typeof body === 'object' && body !== null && 'pipe' in body;

export function headerValue(headers: RegistryResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class Transport {
  readonly stats = new RegistryStats();
  readonly limiters: Limiters;
  readonly auth: Authenticator;
  readonly #pools = new Map<string, Pool>();
  readonly #timeouts: Timeouts;
  readonly #retry: RetryOptions;
  readonly #insecure: Set<string>;
  readonly #secure: Set<string>;
  readonly #ca: string[] | undefined;
  readonly #connections: number;
  readonly #userAgent: string;

  constructor(options: TransportOptions = {}) {
    this.#timeouts = { ...defaultTimeouts, ...options.timeouts };
    this.#retry = { ...defaultRetry, ...options.retry };
    if (!(this.#retry.attempts >= 1)) throw new RangeError(`retry attempts must be at least 1, got ${this.#retry.attempts}`);
    this.#insecure = new Set(options.insecureHosts ?? []);
    this.#secure = new Set(options.secureHosts ?? []);
    this.#ca = options.ca === undefined ? undefined : [...rootCertificates, ...[options.ca].flat()];
    const trustedRealms = options.trustedRealms ?? {};
    this.#connections = options.connectionsPerOrigin ?? 16;
    this.#userAgent = options.userAgent ?? 'hoist';
    this.limiters = options.limiters ?? new Limiters(options.rateLimit, options.rateLimitByHost);
    this.auth = new Authenticator(options.credentials ?? new StaticCredentials(), (r) => this.#tokenRequest(r), (host) => ({
      registrySecure: this.origin(host).startsWith('https:'),
      plainHttpHosts: [...this.#insecure],
      trustedRealmHosts: trustedRealms[host] ?? [],
    }));
  }

  origin(host: string): string {
    const plain = !this.#secure.has(host) && (loopback.test(host) || this.#insecure.has(host));
    return `${plain ? 'http' : 'https'}://${host}`;
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.#connections,
        keepAliveTimeout: 30_000,
        connect: { timeout: this.#timeouts.connectMs, ...(this.#ca && { ca: this.#ca }) },
        headersTimeout: this.#timeouts.headersMs,
        bodyTimeout: this.#timeouts.bodyIdleMs,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
    this.#pools.clear();
  }

  /**
   * Sends a request, retrying what is transient when the body can be sent again. The caller
   * must consume or dump the returned body: it holds the host's in-flight slot until it ends.
   */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const attempts = isStream(req.body) || req.retry === false ? 1 : this.#retry.attempts;
    try {
      return await this.#withRetries(req, attempts);
    } catch (error) {
      // p-retry rejects with the signal's own reason when aborted: keep one error type for callers.
      if (req.signal?.aborted && !(error instanceof RegistryError)) {
        throw new RegistryError('Aborted', req.host, `${req.what}: aborted`, { cause: req.signal.reason });
      }
      throw error;
    }
  }

  #withRetries(req: RegistryRequest, attempts: number): Promise<RegistryResponse> {
    return pRetry(async () => {
      try {
        return await this.#authenticated(req);
      } catch (error) {
        const failure = fromNetworkError(error, req.host, req.what);
        if (!failure.transient || failure.reason === 'Aborted') throw new AbortError(failure);
        throw failure;
      }
    }, {
      retries: attempts - 1,
      minTimeout: this.#retry.minDelayMs,
      maxTimeout: this.#retry.maxDelayMs,
      factor: 2,
      randomize: true,
      ...(req.signal && { signal: req.signal }),
      onFailedAttempt: ({ retriesLeft }) => { if (retriesLeft > 0) this.stats.addRetry(req.host); },
    });
  }

  async #authenticated(req: RegistryRequest): Promise<RegistryResponse> {
    let authorization = await this.auth.authorization(req.host, req.scope, req.signal);
    // A first 401 teaches the challenge; a token that was sent and refused is replaced once.
    let replaced = false;
    for (;;) {
      const { res, url } = await this.#send(req, authorization);
      if (res.status !== 401 || req.expect.includes(401)) return this.#check(req, res);
      await res.body.dump();
      if (url.origin !== this.origin(req.host)) {
        // Another origin (an upload location, a redirect) never gets the registry's credentials,
        // and its challenge is not the registry's to learn.
        throw new RegistryError('Unauthorized', req.host, `${req.host}: ${req.what}: ${url.origin}, where the registry sent the request, asked for credentials; the registry's credentials are only sent to ${this.origin(req.host)}`, { status: 401 });
      }
      const challenge = headerValue(res.headers, 'www-authenticate');
      const sent = authorization !== undefined;
      const streamUsed = isStream(req.body) && req.body.readableDidRead;
      if ((!sent || !replaced) && !streamUsed && this.auth.unauthorized(req.host, req.scope, challenge, sent)) {
        if (sent) replaced = true;
        authorization = await this.auth.authorization(req.host, req.scope, req.signal);
        if (authorization !== undefined) continue;
      }
      const credential = this.auth.credential(req.host).kind;
      throw new RegistryError('Unauthorized', req.host,
        `${req.host} refused ${credential === 'anonymous' ? 'anonymous access' : 'the configured credentials'} for ${req.what}${credential === 'anonymous' ? '; configure credentials for this registry' : '; check the credentials for this registry'}`,
        { status: 401 });
    }
  }

  async #check(req: RegistryRequest, res: RegistryResponse): Promise<RegistryResponse> {
    if (req.expect.includes(res.status)) return res;
    let detail = '';
    try {
      const text = (await readPrefix(res.body, bodyLimits.errorBytes)).slice(0, 2000);
      const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors;
      detail = errors?.map((e) => `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`).join('; ') ?? text;
    } catch {
      // not a distribution error document; the status says enough
    }
    const reason = reasonForStatus(res.status, req.notFound);
    const retryAfter = retryAfterSeconds(res.headers, res.status);
    throw new RegistryError(reason, req.host, `${req.host}: ${req.what}: ${req.method} answered ${res.status}${detail ? ` (${detail})` : ''}`, {
      status: res.status, ...(retryAfter !== undefined && { retryAfterSeconds: retryAfter }),
    });
  }

  /**
   * Sends to the registry, or to an absolute URL it handed out (an upload location), following
   * redirects when asked. The registry's Authorization goes only to the registry's own origin
   * (scheme, host and port): never to another origin, whatever the registry names.
   */
  async #send(req: RegistryRequest, authorization: string | undefined): Promise<{ res: RegistryResponse; url: URL }> {
    const home = this.origin(req.host);
    let url = new URL(req.path, home);
    let host = url.host;
    for (let hops = 0; ; hops++) {
      const res = await this.#once(host, url, req, url.origin === home ? authorization : undefined);
      const location = headerValue(res.headers, 'location');
      if (!req.followRedirects || ![301, 302, 303, 307, 308].includes(res.status) || !location || hops >= 5) return { res, url };
      await res.body.dump();
      url = new URL(location, url);
      host = url.host;
    }
  }

  async #once(host: string, url: URL, req: RegistryRequest, authorization: string | undefined): Promise<RegistryResponse> {
    const limiter = this.limiters.for(host);
    const waitStart = performance.now();
    const permit = await limiter.acquire(req.signal);
    this.stats.limiterWaitMs += performance.now() - waitStart;
    const started = performance.now();
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
    if (authorization) headers.authorization = authorization;
    let bodyBytes = 0;
    if (typeof req.body === 'string') bodyBytes = Buffer.byteLength(req.body);
    else if (Buffer.isBuffer(req.body)) bodyBytes = req.body.length;
    else if (req.body) bodyBytes = Number(req.headers?.['content-length'] ?? 0);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#pool(url.origin).request({
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers,
        body: req.body ?? null,
        ...(req.signal && { signal: req.signal }),
      });
    } catch (error) {
      permit.release();
      this.stats.recordRequest({ host, method: req.method, statusClass: 'error', durationMs: performance.now() - started });
      throw error;
    }
    this.stats.recordRequest({ host, method: req.method, statusClass: statusClass(res.statusCode), status: res.statusCode, durationMs: performance.now() - started });
    const outcome = { status: res.statusCode, headers: res.headers };
    // The slot stays taken until the body is read, so maxInFlight bounds open transfers.
    // Counted from Content-Length rather than by listening: a 'data' listener would start the
    // stream flowing before its consumer is attached.
    const bytesRead = req.method !== 'HEAD' && res.statusCode < 300 ? Number(headerValue(res.headers, 'content-length') ?? 0) || 0 : 0;
    this.stats.addBytes(host, bytesRead, bodyBytes);
    res.body.once('close', () => permit.release(outcome));
    res.body.once('error', () => permit.release(outcome));
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  async #tokenRequest(r: { url: URL; method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<{ status: number; body: TokenResponse | undefined }> {
    return pRetry(async () => {
      try {
        const res = await this.#pool(r.url.origin).request({
          path: `${r.url.pathname}${r.url.search}`, method: r.method,
          headers: { 'user-agent': this.#userAgent, ...r.headers }, body: r.body ?? null,
          ...(r.signal && { signal: r.signal }),
        });
        this.stats.recordRequest({ host: r.url.host, method: r.method, statusClass: statusClass(res.statusCode), status: res.statusCode, durationMs: 0 });
        if (res.statusCode >= 500 || res.statusCode === 429) {
          await res.body.dump();
          throw new RegistryError(reasonForStatus(res.statusCode), r.url.host, `token server ${r.url.origin} answered ${res.statusCode}`, { status: res.statusCode });
        }
        const bytes = await readCapped(res.body, res.headers, bodyLimits.tokenBytes, r.url.host, `the answer of token server ${r.url.origin}`);
        let body: TokenResponse | undefined;
        try {
          body = JSON.parse(bytes.toString('utf8')) as TokenResponse;
        } catch {
          body = undefined;
        }
        return { status: res.statusCode, body };
      } catch (error) {
        const failure = fromNetworkError(error, r.url.host, `token request to ${r.url.origin}`);
        if (!failure.transient) throw new AbortError(failure);
        throw failure;
      }
    }, { retries: this.#retry.attempts - 1, minTimeout: this.#retry.minDelayMs, maxTimeout: this.#retry.maxDelayMs, ...(r.signal && { signal: r.signal }) });
  }
}

/** Bodies the client buffers, and the most it will buffer of each; beyond, it refuses. */
export const bodyLimits = {
  /** An error document: only its first part is read, for the message. */
  errorBytes: 64 * 1024,
  /** A token server's answer: a JWT or two and some fields. */
  tokenBytes: 1024 * 1024,
  /** One page of a tag list. 16 MiB is ~120,000 tags of 128 characters. */
  tagPageBytes: 16 * 1024 * 1024,
  /** Tags of one repository across all pages. */
  tags: 1_000_000,
};

/**
 * A whole body, refused past `limit` bytes (declared or received) so a misbehaving registry
 * cannot exhaust memory: the connection is dropped, nothing more is read.
 */
export async function readCapped(body: RegistryResponse['body'], headers: RegistryResponse['headers'], limit: number, host: string, what: string): Promise<Buffer> {
  const tooLarge = () => new RegistryError('ResponseTooLarge', host, `${host}: ${what} is larger than ${limit} bytes; refusing it`);
  const declared = Number(headerValue(headers, 'content-length') ?? 0);
  if (declared > limit) {
    body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** At most the first `limit` bytes of a body; the rest is not read (the connection is dropped). */
async function readPrefix(body: RegistryResponse['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks, size).subarray(0, limit).toString('utf8');
}

/** A JSON document from a capped body, or an InvalidResponse naming what it was. */
export function parseJson<T>(bytes: Buffer, host: string, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    // Never the parser's message: it quotes the text, which may be anything.
    throw new RegistryError('InvalidResponse', host, `${host}: ${what} is not valid JSON`);
  }
}
