// The final report of a run, as a table for people or JSON/YAML for scripts. Both render the
// pipeline's RunReport and decide nothing themselves.
import { stringify } from 'yaml';
import { formatReference, formatRepository } from '../api/reference.ts';
import type { EdgeOutcome, RunReport } from '../pipeline/index.ts';

export type OutputFormat = 'table' | 'json' | 'yaml';

/** A plain data view of the report without its edges: no classes, stable field order. */
function reportHead(report: RunReport, sources: string[]): object {
  return {
    outcome: report.outcome,
    reason: report.reason,
    mode: report.mode,
    manifests: sources,
    summary: report.summary,
    phases: report.phases,
  };
}

function edgeData({ edge, state, reason, detail, warnings, copied }: EdgeOutcome): object {
  return {
    source: formatReference({ ...edge.src, digest: edge.digest }),
    destination: formatRepository(edge.dst),
    tags: edge.tags,
    state,
    ...(reason && { reason }),
    ...(detail && { message: detail }),
    ...(warnings && { warnings }),
    ...(copied && { copied }),
  };
}

/**
 * JSON or YAML of the report, edge by edge: a registry.k8s.io-sized report is ~100 MB of text,
 * which is never held whole (the same text JSON.stringify(data, null, 2) or yaml's stringify
 * would give).
 */
function* dataChunks(report: RunReport, format: 'json' | 'yaml', sources: string[]): Generator<string> {
  const head = reportHead(report, sources);
  if (format === 'yaml') {
    if (report.edges.length === 0) return yield stringify({ ...head, edges: [] });
    yield `${stringify(head)}edges:\n`;
    // yaml indents a mapping's sequence by two spaces; its non-empty lines move right by as much.
    for (const e of report.edges) yield stringify([edgeData(e)]).replace(/^(?=.)/gm, '  ');
    return;
  }
  const text = JSON.stringify({ ...head, edges: [] }, null, 2);
  if (report.edges.length === 0) return yield `${text}\n`;
  yield text.slice(0, text.lastIndexOf('[]'));
  yield '[';
  let first = true;
  for (const e of report.edges) {
    yield `${first ? '' : ','}\n    ${JSON.stringify(edgeData(e), null, 2).replaceAll('\n', '\n    ')}`;
    first = false;
  }
  yield '\n  ]\n}\n';
}

/** The DETAIL cell: why the edge is not done, or what would happen to it. */
function detailOf(e: EdgeOutcome): string {
  if (e.state === 'unverified') return `${e.reason}: ${e.detail}`;
  return e.detail ?? (e.state === 'promote' ? 'would be promoted' : '');
}

function table(rows: string[][]): string[] {
  const header = ['STATE', 'DESTINATION', 'DIGEST', 'DETAIL'];
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const format = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('   ').trimEnd();
  return [format(header), ...rows.map(format), ''];
}

function summaryLine(report: RunReport): string {
  const s = report.summary;
  const [count, verb] = report.mode === 'Plan' ? [s.toPromote, 'to promote'] : [s.promoted, 'promoted'];
  const unverified = s.unverified ? `, ${s.unverified} unverified refused` : '';
  return `${report.outcome}: ${s.planned} edges, ${count} ${verb}, ${s.alreadyPresent} already present, ${s.lost} lost, ${s.tagMoves} tag moves refused${unverified}, ${s.failed} failed`;
}

/** The rendered report in pieces of about 64 KiB, for writing as they are made. */
export function* reportChunks(report: RunReport, format: OutputFormat, sources: string[]): Generator<string> {
  if (format === 'table') return yield renderReport(report, format, sources);
  let pending = '';
  for (const chunk of dataChunks(report, format, sources)) {
    pending += chunk;
    if (pending.length >= 65_536) {
      yield pending;
      pending = '';
    }
  }
  if (pending) yield pending;
}

export function renderReport(report: RunReport, format: OutputFormat, sources: string[]): string {
  if (format !== 'table') return [...dataChunks(report, format, sources)].join('');
  // Edges already in place are the common case on a rerun: counted, not listed.
  const rows = report.edges.filter((e) => e.state !== 'present').map((e) => [
    e.state.toUpperCase(), formatRepository(e.edge.dst) + (e.edge.tags.length ? `:${e.edge.tags.join(',')}` : ''), e.edge.digest.slice(7, 19), detailOf(e),
  ]);
  const lines = rows.length > 0 ? table(rows) : [];
  lines.push(summaryLine(report));
  if (report.attestations.length > 0) lines.push(`attestations: ${report.attestations.length} promotion records attached`);
  if (report.outcome === 'Failed') lines.push(`reason: ${report.reason}: ${report.message}`);
  return `${lines.join('\n')}\n`;
}
