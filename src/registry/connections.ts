// Keep-alive connections to registries: one undici Pool per origin. A pool holds no credentials
// (every request carries its own Authorization), so one set of pools can serve many clients with
// different credentials: the controller shares one across all its runs, so a registry sees the
// same handful of connections all day instead of a new set per reconcile.
import { Pool } from 'undici';
import type { InternalNetworks } from './networks.ts';
import type { Timeouts } from './transport.ts';

export interface ConnectionOptions {
  /** Connections per origin; requests beyond wait for a free one. */
  connectionsPerOrigin: number;
  timeouts: Timeouts;
  /** Trusted CA certificates (PEM), the system's included; undefined: the system's only. */
  ca?: string[];
  /** How long an idle connection is kept open. */
  keepAliveMs?: number;
}

export class Connections {
  readonly #pools = new Map<string, Pool>();
  readonly #options: ConnectionOptions;
  #opened = 0;

  constructor(options: ConnectionOptions) {
    if (!(Number.isInteger(options.connectionsPerOrigin) && options.connectionsPerOrigin >= 1)) {
      throw new RangeError(`connections per origin must be a whole number of at least 1, got ${options.connectionsPerOrigin}`);
    }
    this.#options = options;
  }

  /**
   * The pool for `origin` (`https://host:port`), made on first use. With `publicOnly`, a pool of
   * its own whose connections are made only to addresses outside those networks.
   */
  pool(origin: string, publicOnly?: InternalNetworks): Pool {
    // Clients sharing these pools may count different networks as internal: one pool per set
    // (by its ranges, so each run's client of the controller finds the pools of the last).
    const key = publicOnly ? `${origin} public ${publicOnly.key}` : origin;
    let pool = this.#pools.get(key);
    if (!pool) {
      const { connectionsPerOrigin, timeouts, ca, keepAliveMs } = this.#options;
      pool = new Pool(origin, {
        connections: connectionsPerOrigin,
        keepAliveTimeout: keepAliveMs ?? 30_000,
        connect: { timeout: timeouts.connectMs, ...(ca && { ca }), ...(publicOnly && { lookup: publicOnly.publicLookup() }) },
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyIdleMs,
      });
      pool.on('connect', () => { this.#opened += 1; });
      this.#pools.set(key, pool);
    }
    return pool;
  }


  /** Connections opened since the start, all origins together (for benchmarks and metrics). */
  get opened(): number {
    return this.#opened;
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}
