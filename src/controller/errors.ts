// Errors that end a reconcile before or around the pipeline (the spec, Secrets, the Secret API),
// with a stable reason from the catalogue (src/api/reasons.ts) and a message a person can act
// on. Whether retrying helps is the catalogue's word on the reason, not the error's.
import type { Reason } from '../api/reasons.ts';

export class ReconcileError extends Error {
  override name = 'ReconcileError';
  readonly reason: Reason;

  constructor(reason: Reason, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
  }
}
