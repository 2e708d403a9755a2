// Reconcile errors with a stable CamelCase reason (conditions, events, metrics) and a message a
// person can act on. Stalled ones are not retried until something they depend on changes.

export class ReconcileError extends Error {
  override name = 'ReconcileError';
  readonly reason: string;
  /** True: retrying will not help; the spec, a Secret or a registry must change first. */
  readonly stalled: boolean;

  constructor(reason: string, message: string, options: { stalled?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.stalled = options.stalled ?? false;
  }
}

export const stalled = (reason: string, message: string): ReconcileError => new ReconcileError(reason, message, { stalled: true });
