// Counters of what the client did, for metrics and benchmarks. Plain numbers here; the
// observability layer turns them into Prometheus series, so this module needs nothing.

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'error';

export interface RequestEvent {
  host: string;
  method: string;
  statusClass: StatusClass;
  status?: number;
  durationMs: number;
}

export class RegistryStats {
  /** key: `${host} ${method} ${statusClass}` */
  readonly requests = new Map<string, number>();
  bytesRead = 0;
  bytesWritten = 0;
  retries = 0;
  limiterWaitMs = 0;
  /** The same totals per registry host, for per-host metrics. */
  readonly byHost = new Map<string, { bytesRead: number; bytesWritten: number; retries: number }>();
  readonly #listeners: ((event: RequestEvent) => void)[] = [];

  onRequest(listener: (event: RequestEvent) => void): void {
    this.#listeners.push(listener);
  }

  host(host: string): { bytesRead: number; bytesWritten: number; retries: number } {
    let entry = this.byHost.get(host);
    if (!entry) {
      entry = { bytesRead: 0, bytesWritten: 0, retries: 0 };
      this.byHost.set(host, entry);
    }
    return entry;
  }

  addBytes(host: string, read: number, written: number): void {
    this.bytesRead += read;
    this.bytesWritten += written;
    const entry = this.host(host);
    entry.bytesRead += read;
    entry.bytesWritten += written;
  }

  addRetry(host: string): void {
    this.retries += 1;
    this.host(host).retries += 1;
  }

  recordRequest(event: RequestEvent): void {
    const key = `${event.host} ${event.method} ${event.statusClass}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    for (const listener of this.#listeners) listener(event);
  }

  /** Total requests, optionally only those of one method. */
  count(filter: { method?: string; host?: string } = {}): number {
    let total = 0;
    for (const [key, n] of this.requests) {
      const [host, method] = key.split(' ');
      if ((filter.method === undefined || filter.method === method) && (filter.host === undefined || filter.host === host)) total += n;
    }
    return total;
  }

  snapshot(): { requests: Record<string, number>; bytesRead: number; bytesWritten: number; retries: number; limiterWaitMs: number } {
    return {
      requests: Object.fromEntries(this.requests), bytesRead: this.bytesRead, bytesWritten: this.bytesWritten,
      retries: this.retries, limiterWaitMs: Math.round(this.limiterWaitMs),
    };
  }
}

export function statusClass(status: number | undefined): StatusClass {
  if (status === undefined) return 'error';
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status < 500) return '4xx';
  return '5xx';
}
