// The Kubernetes Events a finished replication records, rendered from its report: the mirror
// copies repaired (whole references), those that failed or diverged, and why the run ended when
// it did not succeed. A steady-state run with nothing to repair records none.
import type { Reason } from '../api/reasons.ts';
import type { ReplicationFailure, ReplicationReport } from '../replication/index.ts';
import { fitList, maxEventMessage, type RunEvent } from './events.ts';
import { clipText } from './inventory.ts';

const copies = (n: number) => `${n} mirror cop${n === 1 ? 'y' : 'ies'}`;

const describe = (f: ReplicationFailure) => `${f.repository}${f.digest ? `@${f.digest}` : ''}: ${f.reason}: ${clipText(f.message, 240)}`;

/** Reasons whose pairs already have an Event listing them; no second Event for the run. */
const listedReasons = new Set<Reason>(['SignaturesNotReplicated', 'SignatureDiverged']);

export function replicationEvents(report: ReplicationReport): RunEvent[] {
  const events: RunEvent[] = [];
  const c = report.counts;
  if (c.repaired > 0) {
    const refs = report.changes.map((x) => `${x.repository}@${x.digest}`);
    events.push({ type: 'Normal', reason: 'Replicated', message: fitList(`repaired ${copies(c.repaired)} (${c.artifacts} artifacts written): `, refs) });
  }
  const failed = report.failures.filter((f) => f.reason !== 'SignatureDiverged');
  if (c.failed > 0) {
    events.push({ type: 'Warning', reason: 'SignaturesNotReplicated', message: fitList(`${copies(c.failed)} of ${c.mirrors} could not be checked or repaired, the others are done: `, failed.map(describe)) });
  }
  const diverged = report.failures.filter((f) => f.reason === 'SignatureDiverged');
  if (diverged.length > 0) {
    events.push({ type: 'Warning', reason: 'SignatureDiverged', message: fitList(`${copies(diverged.length)} hold signatures the primary lacks, left as they are: `, diverged.map((f) => `${f.repository}@${f.digest}`)) });
  }
  if (report.outcome !== 'Succeeded' && !listedReasons.has(report.reason)) {
    events.push({ type: 'Warning', reason: report.reason, message: clipText(report.message, maxEventMessage) });
  }
  return events;
}
