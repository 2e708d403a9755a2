// Progress of one run on the resource, at a bounded rate: the phase and edges done / total go
// on status.progress and the Reconciling message at most once per interval, the first time one
// interval after the run started (a short run writes its status once, at the end). One write
// is forced: when Plan found edges to copy in a Promote run, the list of what the run is about
// to copy is written as Plan ends, and Promote waits for it (writeAhead) before its first copy:
// a controller killed mid-promotion always leaves a durable record the next run (or the next
// leader) turns into a Promoted Event, and a record that cannot be written stops the run
// before it copies anything.
import type { PipelineEvent } from '../pipeline/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { Clock } from './clock.ts';
import { plannedProgress, type Progress } from './inventory.ts';
import { apiMessage } from './kube.ts';

export interface ProgressOptions {
  startedAt: Date;
  generation: number;
  mode: 'Promote' | 'Plan';
  /** Bound on progress writes; 0 writes on every change (tests). */
  intervalMs: number;
  /** Writes status.progress; resolves when written. */
  write(progress: Progress): Promise<void>;
  log: Logger;
  clock: Clock;
}

export class ProgressReporter {
  readonly #o: ProgressOptions;
  #progress: Progress;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** The write of the write-ahead record, rejected if it failed; undefined until Plan asks for one. */
  #writeAhead: Promise<void> | undefined;
  #lastWrite: number;
  #stopped = false;

  constructor(options: ProgressOptions) {
    this.#o = options;
    // Milliseconds: the run's identity (the next run of this key tells its own record from an interrupted one's).
    this.#progress = { startedAt: options.startedAt.toISOString(), generation: options.generation };
    this.#lastWrite = options.clock.now();
  }

  /** Feed of the pipeline's events. */
  onEvent(event: PipelineEvent): void {
    if (this.#stopped) return;
    if (event.type === 'phaseStarted') this.#progress = { ...this.#progress, phase: event.phase };
    else if (event.type === 'planned') return this.#planned(event);
    else if (event.type === 'edgeFinished') this.#progress = { ...this.#progress, done: event.done, total: event.total };
    else return;
    this.#changed();
  }

  #planned(event: Extract<PipelineEvent, { type: 'planned' }>): void {
    if (this.#o.mode !== 'Promote' || event.toPromote === 0 || !event.outcomes) return this.#changed();
    this.#progress = { ...plannedProgress(this.#o.startedAt, this.#o.generation, event.outcomes), done: 0, total: event.toPromote };
    // Write-ahead: on the resource before the first copy.
    this.#writeAhead = this.#flush();
    // Whoever awaits writeAhead() sees a failure; this keeps it from being an unhandled rejection.
    this.#writeAhead.catch(() => {});
  }

  /**
   * Resolves once the record of what the run is about to copy is on the resource (at once when
   * the run has none: a Plan run, nothing to copy); rejects when it could not be written.
   */
  writeAhead(): Promise<void> {
    return this.#writeAhead ?? Promise.resolve();
  }

  #changed(): void {
    if (this.#timer) return;
    const wait = Math.max(0, this.#lastWrite + this.#o.intervalMs - this.#o.clock.now());
    this.#timer = setTimeout(() => { this.#timer = undefined; void this.#flush().catch(() => {}); }, wait);
    this.#timer.unref();
  }

  /** Writes the progress now, after any write in flight; the returned promise rejects if this write failed. */
  #flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return Promise.resolve();
    const snapshot = this.#progress;
    const write = this.#writing.then(async () => {
      this.#lastWrite = this.#o.clock.now();
      await this.#o.write(snapshot);
    });
    this.#writing = write.catch((error: unknown) => {
      this.#o.log.debug({ err: apiMessage(error) }, 'progress not written');
    });
    return write;
  }

  /** No more writes; resolves once a write in flight is done, so the final status comes last. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
  }
}
