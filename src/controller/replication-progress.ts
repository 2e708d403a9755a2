// A running replication's progress on its status at a bounded rate, as progress.ts does for
// PromotionManifests: the step and done/total, with the running counts, at most once per
// interval, the first time one interval after the run started (a short run writes its status
// once, at the end).
import type { ReplicationCounts, ReplicationEvent, ReplicationStep } from '../replication/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { Clock } from './clock.ts';
import { apiMessage } from './kube.ts';

export interface ReplicationProgress {
  step?: ReplicationStep;
  done: number;
  total: number;
  counts?: ReplicationCounts;
}

export interface ReplicationProgressOptions {
  /** Bound on writes; 0 writes on every change (tests). */
  intervalMs: number;
  write(progress: ReplicationProgress): Promise<void>;
  log: Logger;
  clock: Clock;
}

export class ReplicationProgressReporter {
  readonly #o: ReplicationProgressOptions;
  #progress: ReplicationProgress = { done: 0, total: 0 };
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #lastWrite: number;
  #stopped = false;

  constructor(options: ReplicationProgressOptions) {
    this.#o = options;
    this.#lastWrite = options.clock.now();
  }

  /** Feed of the replication's events. */
  onEvent(event: ReplicationEvent): void {
    if (this.#stopped) return;
    if (event.type === 'stepStarted') this.#progress = { ...this.#progress, step: event.step, done: 0, total: event.total };
    else if (event.type === 'progress') this.#progress = { step: event.step, done: event.done, total: event.total, counts: event.counts };
    else return;
    this.#changed();
  }

  #changed(): void {
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastWrite + this.#o.intervalMs - this.#o.clock.now());
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#flush(); }, wait);
    this.#timer.unref();
  }

  #flush(): void {
    if (this.#stopped) return;
    const snapshot = this.#progress;
    this.#writing = this.#writing.then(async () => {
      this.#lastWrite = this.#o.clock.now();
      try {
        await this.#o.write(snapshot);
      } catch (error) {
        this.#o.log.debug({ err: apiMessage(error) }, 'progress not written');
      }
    });
  }

  /** No more writes; resolves once a write in flight is done, so the final status comes last. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
  }
}
