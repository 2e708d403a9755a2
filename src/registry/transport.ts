// HTTP to registries: one keep-alive undici Pool per origin, a timeout on every phase of every
// request, the host's shared rate limiter, authentication, transient-failure retries within a
// time budget, and counters. Everything above this file speaks in registry operations, not HTTP.
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import { Authenticator, type Scope, type TokenResponse } from './auth.ts';
import { Connections } from './connections.ts';
import type { CredentialStore } from './credentials.ts';
import { StaticCredentials } from './credentials.ts';
import { fromNetworkError, quoted, reasonForStatus, RegistryError, type RegistryErrorReason } from './errors.ts';
import { Limiters, retryAfterSeconds, type HostLimiter, type PauseEvent, type Permit, type RateLimitOptions } from './limiter.ts';
import { InternalNetworks } from './networks.ts';
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
  /**
   * How long one request may keep retrying transient failures (429, 5xx, resets, timeouts),
   * and how long a host (or repository) may answer nothing but failures before new requests to
   * it give up after one attempt. Long enough to ride out a registry's storm: kpromo retries for
   * about 12 minutes.
   */
  budgetMs: number;
  /** Attempts in all, the first included; by default only the budget bounds them. */
  attempts: number;
  /** First pause after a failure without Retry-After, doubled per failed round, at most maxDelayMs. */
  minDelayMs: number;
  maxDelayMs: number;
}

/** A request is held back: the host, or one repository of it, is paused. For progress displays. */
export interface WaitEvent extends PauseEvent {
  seconds: number;
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
  /**
   * Connections per origin, default 8: with keep-alive that carries a run's reads and
   * transfers (8 x 50 requests/s at 20 ms) while a registry sees a handful of connections.
   * Requests beyond it wait for a free connection.
   */
  connectionsPerOrigin?: number;
  /**
   * Pools shared with other clients (the controller: one set for all runs, whatever their
   * credentials; see connections.ts). connectionsPerOrigin, timeouts' connect/headers/body
   * values and ca are then the shared pools' own; close() leaves them open.
   */
  connections?: Connections;
  userAgent?: string;
  /**
   * Address ranges (CIDR) counted as internal, in place of networks.ts' defaults (loopback,
   * private, link-local, CGNAT). A registry outside them may not send the client inside them.
   */
  internalNetworks?: string[];
  /** Told when a host or repository this client talks to starts a pause of a second or more. */
  onWait?: (event: WaitEvent) => void;
}

export const defaultTimeouts: Timeouts = { connectMs: 10_000, headersMs: 30_000, bodyIdleMs: 30_000 };
export const defaultRetry: RetryOptions = { budgetMs: 10 * 60_000, attempts: Infinity, minDelayMs: 200, maxDelayMs: 10_000 };

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
  /**
   * Follow 3xx to another origin without credentials (blob storage redirects); never from a
   * registry that is not internal to an internal address (see #mayGo).
   */
  followRedirects?: boolean;
  /**
   * false for requests that must not be sent twice: a chunk or the closing PUT of an upload
   * session fails on replay if the first attempt landed, so the whole upload is retried instead.
   */
  retry?: boolean;
  signal?: AbortSignal;
  /** Epoch milliseconds after which no further attempt starts and no wait begins that would end later. */
  deadline?: number;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/;

const isStream = (body: RegistryRequest['body']): body is Readable => typeof body === 'object' && body !== null && 'pipe' in body;

/** The repository a request concerns, from its path: what a repository's own pause applies to. */
function repositoryOf(path: string): string | undefined {
  const pathname = path.startsWith('/') ? path : URL.canParse(path) ? new URL(path).pathname : path;
  return /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(pathname)?.[1];
}

/** The system error code behind a network failure, if any (ENOTFOUND, ECONNRESET...). */
function networkCode(error: RegistryError): string | undefined {
  for (let e: unknown = error.cause; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

const duration = (ms: number): string => (ms >= 60_000 ? `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s` : `${Math.round(ms / 1000)}s`);

/**
 * The run's one signal as undici sees it: an EventTarget whose listeners live in a Set, behind
 * a single listener on the real signal. Every request in flight adds and removes an abort
 * listener, and an AbortSignal keeps its listeners in a list it searches on each add (a
 * registry.k8s.io-sized plan, hundreds in flight, spent ~8% of its CPU there).
 */
interface FanOut {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}
const fanOuts = new WeakMap<AbortSignal, FanOut>();

function fanOut(signal: AbortSignal): FanOut {
  let found = fanOuts.get(signal);
  if (!found) {
    const listeners = new Set<() => void>();
    signal.addEventListener('abort', () => {
      for (const listener of [...listeners]) listener();
      listeners.clear();
    }, { once: true });
    found = {
      get aborted() { return signal.aborted; },
      get reason() { return signal.reason as unknown; },
      addEventListener: (_type, listener) => void listeners.add(listener),
      removeEventListener: (_type, listener) => void listeners.delete(listener),
    };
    fanOuts.set(signal, found);
  }
  return found;
}

export function headerValue(headers: RegistryResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class Transport {
  readonly stats = new RegistryStats();
  readonly limiters: Limiters;
  readonly auth: Authenticator;
  readonly #connections: Connections;
  /** Whether close() closes the pools: not when they are shared. */
  readonly #ownsConnections: boolean;
  readonly #timeouts: Timeouts;
  readonly #retry: RetryOptions;
  readonly #insecure: Set<string>;
  readonly #secure: Set<string>;
  readonly #userAgent: string;
  readonly #onWait: ((event: WaitEvent) => void) | undefined;
  /** Limiters this transport listens to for pauses, and how to stop listening. */
  readonly #watched = new Map<HostLimiter, () => void>();
  /**
   * Origins that sent bytes after a HEAD response (a body a HEAD must not have): their HEADs
   * close the connection afterwards, as undici does by default, instead of reusing it.
   */
  readonly #headBodies = new Set<string>();
  /** The slot each open response holds, released as soon as the transport knows the outcome. */
  readonly #permits = new WeakMap<object, Permit>();
  readonly #internal: InternalNetworks;
  /** Per registry host: whether it is internal by name or address (see #mayGo). */
  readonly #registryInternal = new Map<string, Promise<boolean>>();

  constructor(options: TransportOptions = {}) {
    this.#timeouts = { ...defaultTimeouts, ...options.timeouts };
    this.#retry = { ...defaultRetry, ...options.retry };
    if (!(this.#retry.attempts >= 1)) throw new RangeError(`retry attempts must be at least 1, got ${this.#retry.attempts}`);
    if (!(this.#retry.budgetMs >= 0)) throw new RangeError(`retry budget must be a duration, got ${this.#retry.budgetMs}`);
    this.#onWait = options.onWait;
    this.#internal = new InternalNetworks(options.internalNetworks);
    this.#insecure = new Set(options.insecureHosts ?? []);
    this.#secure = new Set(options.secureHosts ?? []);
    const ca = options.ca === undefined ? undefined : [...rootCertificates, ...[options.ca].flat()];
    const trustedRealms = options.trustedRealms ?? {};
    this.#ownsConnections = options.connections === undefined;
    this.#connections = options.connections ?? new Connections({ connectionsPerOrigin: options.connectionsPerOrigin ?? 8, timeouts: this.#timeouts, ...(ca && { ca }) });
    this.#userAgent = options.userAgent ?? 'hoist';
    this.limiters = options.limiters ?? new Limiters({ backoffMinMs: this.#retry.minDelayMs, backoffMaxMs: this.#retry.maxDelayMs, ...options.rateLimit }, options.rateLimitByHost);
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

  async close(): Promise<void> {
    for (const stop of this.#watched.values()) stop();
    this.#watched.clear();
    if (this.#ownsConnections) await this.#connections.close();
  }

  /** How long a request may keep retrying transient failures (RetryOptions.budgetMs). */
  get retryBudgetMs(): number {
    return this.#retry.budgetMs;
  }

  /** Connections this transport's pools opened (shared pools: all their clients'). */
  get connectionsOpened(): number {
    return this.#connections.opened;
  }

  #limiter(host: string): HostLimiter {
    const limiter = this.limiters.for(host);
    if (this.#onWait && !this.#watched.has(limiter)) {
      const onWait = this.#onWait;
      this.#watched.set(limiter, limiter.onPause((event) => { if (event.ms >= 1000) onWait({ ...event, seconds: Math.round(event.ms / 1000) }); }));
    }
    return limiter;
  }

  /**
   * Sends a request, retrying what is transient when the body can be sent again, for as long as
   * the retry budget allows. Waits between attempts are the host's (or the repository's) pauses:
   * every request to a troubled host backs off together, as the registry asked (Retry-After)
   * or as the failures call for. The caller must consume or dump the returned body: it holds
   * the host's in-flight slot until it ends.
   */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const attempts = isStream(req.body) || req.retry === false ? 1 : this.#retry.attempts;
    const repository = repositoryOf(req.path);
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (req.deadline !== undefined && Date.now() >= req.deadline) throw this.#pastDeadline(req);
      let failure: RegistryError;
      try {
        return await this.#authenticated(req, repository);
      } catch (error) {
        // An abort of the caller's signal is one error type for callers, however it surfaced.
        if (req.signal?.aborted) throw error instanceof RegistryError && error.reason === 'Aborted' ? error : new RegistryError('Aborted', req.host, `${req.what}: aborted`, { cause: req.signal.reason });
        failure = fromNetworkError(error, req.host, req.what);
      }
      if (!failure.transient || attempt >= attempts) throw failure;
      // A name that does not resolve gets a few attempts, not the whole budget: a DNS hiccup
      // passes in seconds, a misspelt registry never does.
      if (attempt >= 3 && networkCode(failure) === 'ENOTFOUND') throw failure;
      const limiter = this.limiters.for(req.host);
      const paused = limiter.pausedFor(repository);
      // A transient failure the limiter does not pause for (a 408, say): this request backs off alone.
      const wait = paused > 0 ? paused : Math.min(this.#retry.maxDelayMs, this.#retry.minDelayMs * 2 ** (attempt - 1));
      const spent = Date.now() - started;
      const failing = limiter.failingFor(repository);
      const givenUp = limiter.givenUp(repository);
      if (spent + wait > this.#retry.budgetMs || failing > this.#retry.budgetMs || givenUp) {
        limiter.giveUp(repository);
        const longest = Math.max(spent, failing);
        const why = longest > this.#retry.budgetMs ? `${req.host} has failed for ${duration(longest)}, longer than the retry budget`
          : givenUp ? `${req.host} has failed for ${duration(failing)} and an earlier request spent the retry budget`
            : `the next wait (${duration(wait)}) would pass the retry budget`;
        throw new RegistryError(failure.reason, failure.host,
          `${failure.message}; gave up after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${why} of ${duration(this.#retry.budgetMs)}`,
          { ...(failure.status !== undefined && { status: failure.status }), ...(failure.retryAfterSeconds !== undefined && { retryAfterSeconds: failure.retryAfterSeconds }), cause: failure });
      }
      if (req.deadline !== undefined && Date.now() + wait > req.deadline) throw this.#pastDeadline(req, failure);
      this.stats.addRetry(req.host);
      if (paused === 0) {
        if (wait >= 1000) this.#onWait?.({ host: req.host, ...(repository !== undefined && { repository }), ms: wait, seconds: Math.round(wait / 1000), reason: failure.reason === 'ServerError' ? 'ServerError' : 'ConnectionFailed', askedByRegistry: false });
        try {
          await sleep(wait * (0.75 + Math.random() * 0.5), undefined, req.signal ? { signal: req.signal } : {});
        } catch {
          throw new RegistryError('Aborted', req.host, `${req.what}: aborted`, { cause: req.signal?.reason });
        }
      }
      // Otherwise the limiter holds the next attempt until the pause is over.
    }
  }

  #pastDeadline(req: RegistryRequest, last?: RegistryError): RegistryError {
    return new RegistryError('DeadlineExceeded', req.host, `${req.host}: ${req.what}: its deadline passed${last ? ` while retrying (${last.message})` : ''}`, last ? { cause: last } : {});
  }

  async #authenticated(req: RegistryRequest, repository: string | undefined): Promise<RegistryResponse> {
    let authorization = await this.auth.authorization(req.host, req.scope, req.signal);
    // A first 401 teaches the challenge; a token that was sent and refused is replaced once.
    let replaced = false;
    for (;;) {
      const { res, url } = await this.#send(req, authorization, repository);
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
      detail = errorDetail(await readPrefix(res.body, bodyLimits.errorBytes), headerValue(res.headers, 'content-type'));
    } catch {
      // the body failed mid-read; the status says enough
    }
    // The limiter learns of a 429 or 5xx now, before the retry loop asks how long to wait.
    this.#permits.get(res.body)?.release();
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
  async #send(req: RegistryRequest, authorization: string | undefined, repository: string | undefined): Promise<{ res: RegistryResponse; url: URL }> {
    const home = this.origin(req.host);
    let url = new URL(req.path, home);
    for (let hops = 0; ; hops++) {
      const away = url.origin !== home;
      const publicOnly = away && await this.#mayGo(req.host, url, req.what);
      const res = await this.#once(url.host, url, req, away ? undefined : authorization, url.host === req.host ? repository : undefined, publicOnly);
      const location = headerValue(res.headers, 'location');
      if (!req.followRedirects || ![301, 302, 303, 307, 308].includes(res.status) || !location || hops >= 5) return { res, url };
      await res.body.dump();
      url = new URL(location, url);
    }
  }

  /**
   * Where a registry may send a request (a redirect, an upload location, a token realm):
   * anywhere, but from a registry that is not internal (by name or by any address its name
   * resolves to) never to an internal address. An internal address written in the URL is
   * refused here; a name is connected to through a lookup that drops internal addresses
   * (networks.ts), so DNS cannot smuggle one in. Returns whether that lookup applies.
   */
  async #mayGo(registry: string, url: URL, what: string): Promise<boolean> {
    let internal = this.#registryInternal.get(registry);
    if (!internal) this.#registryInternal.set(registry, internal = this.#internal.resolved(registry));
    if (await internal) return false;
    if (this.#internal.literal(url.host)) {
      throw new RegistryError('RedirectRefused', registry, `${registry}: ${what}: the registry sent the request to ${url.origin}, an internal address; a registry outside the internal networks may not send requests into them`);
    }
    return true;
  }

  async #once(host: string, url: URL, req: RegistryRequest, authorization: string | undefined, repository: string | undefined, publicOnly = false): Promise<RegistryResponse> {
    const limiter = this.#limiter(host);
    const waitStart = performance.now();
    const permit = await limiter.acquire(req.signal, repository);
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
      res = await this.#connections.pool(url.origin, publicOnly ? this.#internal : undefined).request({
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers,
        body: req.body ?? null,
        // undici closes the connection after every HEAD unless told otherwise, in case the
        // server sends a body with it: a new TCP (and TLS) connection per HEAD, the bulk of a
        // plan's requests. Registries send none; an origin caught doing it goes back to that.
        ...(req.method === 'HEAD' && !this.#headBodies.has(url.origin) && { reset: false }),
        // undici needs only addEventListener/removeEventListener, aborted and reason.
        ...(req.signal && { signal: fanOut(req.signal) as unknown as AbortSignal }),
      });
    } catch (error) {
      // Bytes that are no response (what a HEAD body left on the connection) fail the request
      // that read them; it is retried on a new connection, and this origin's HEADs stop reusing.
      if ((error as Error)?.name === 'HTTPParserError') this.#headBodies.add(url.origin);
      // A connection that failed or timed out is the host's trouble; our own abort, or a body
      // stream of ours that failed (a corrupt source blob), is not.
      const failure = req.signal?.aborted ? undefined : fromNetworkError(error, host, req.what);
      permit.release(failure && (failure.reason === 'ConnectionFailed' || failure.reason === 'Timeout') ? { failure: 'network' } : undefined);
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
    this.#permits.set(res.body, { release: () => permit.release(outcome) });
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  async #tokenRequest(r: { registry: string; url: URL; method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<{ status: number; body: TokenResponse | undefined }> {
    const started = Date.now();
    const publicOnly = r.url.origin !== this.origin(r.registry) && await this.#mayGo(r.registry, r.url, `token request to ${r.url.origin}`);
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.#connections.pool(r.url.origin, publicOnly ? this.#internal : undefined).request({
          path: `${r.url.pathname}${r.url.search}`, method: r.method,
          headers: { 'user-agent': this.#userAgent, ...r.headers }, body: r.body ?? null,
          ...(r.signal && { signal: r.signal }),
        });
        this.stats.recordRequest({ host: r.url.host, method: r.method, statusClass: statusClass(res.statusCode), status: res.statusCode, durationMs: 0 });
        if (res.statusCode >= 500 || res.statusCode === 429) {
          await res.body.dump();
          const retryAfter = retryAfterSeconds(res.headers, res.statusCode);
          throw new RegistryError(reasonForStatus(res.statusCode), r.url.host, `token server ${r.url.origin} answered ${res.statusCode}`, {
            status: res.statusCode, ...(retryAfter !== undefined && { retryAfterSeconds: retryAfter }),
          });
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
        if (r.signal?.aborted) throw new RegistryError('Aborted', r.url.host, `token request to ${r.url.origin}: aborted`, { cause: r.signal.reason });
        const failure = fromNetworkError(error, r.url.host, `token request to ${r.url.origin}`);
        // Token servers are few and shared: each token request backs off on its own, within the budget.
        const wait = failure.retryAfterSeconds !== undefined && failure.retryAfterSeconds > 0
          ? failure.retryAfterSeconds * 1000
          : Math.min(this.#retry.maxDelayMs, this.#retry.minDelayMs * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
        if (!failure.transient || attempt >= this.#retry.attempts || Date.now() - started + wait > this.#retry.budgetMs) throw failure;
        this.stats.addRetry(r.url.host);
        try {
          await sleep(wait, undefined, r.signal ? { signal: r.signal } : {});
        } catch {
          throw new RegistryError('Aborted', r.url.host, `token request to ${r.url.origin}: aborted`, { cause: r.signal?.reason });
        }
      }
    }
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

/**
 * What of an error body goes into a message: an error body is the registry's text, and a
 * message ends up in logs, Events and terminals. Only the distribution format's `code` and
 * `message` strings are quoted (the first three errors, each cut short and cleaned of control
 * and direction-changing characters); `detail` and anything else may hold what should not
 * travel, so of other bodies only their content type is named.
 */
function errorDetail(text: string, contentType: string | undefined): string {
  let errors: unknown;
  try {
    errors = (JSON.parse(text) as { errors?: unknown } | null)?.errors;
  } catch {
    errors = undefined;
  }
  const shown = Array.isArray(errors)
    ? errors.slice(0, 3).flatMap((e: { code?: unknown; message?: unknown } | null) => {
      const code = typeof e?.code === 'string' ? quoted(e.code, 40) : '';
      const message = typeof e?.message === 'string' ? quoted(e.message, 200) : '';
      return code || message ? [`${code}${code && message ? ': ' : ''}${message}`] : [];
    })
    : [];
  if (shown.length > 0) return shown.join('; ');
  const type = /^[\w.+-]+\/[\w.+-]+/.exec(contentType ?? '')?.[0];
  return text.length === 0 ? '' : `a ${type ?? 'untyped'} body that is not a registry error`;
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
