// The final report of a run, as a table for people or JSON/YAML for scripts.
import { stringify } from 'yaml';
import type { PlannedEdge, RunReport } from '../pipeline/index.ts';

export type OutputFormat = 'table' | 'json' | 'yaml';

const ref = (e: PlannedEdge) => `${e.dst.host}/${e.dst.name}`;

/** A plain data view of the report: no Maps, stable field order. */
export function reportData(report: RunReport, sources: string[]): object {
  const results = new Map(report.results.map((r) => [r.edge, r]));
  return {
    outcome: report.outcome,
    ...(report.reason && { reason: report.reason }),
    mode: report.mode,
    manifests: sources,
    summary: report.summary,
    phases: report.phases,
    edges: report.plan.map((e) => {
      const result = results.get(e);
      return {
        source: `${e.src.host}/${e.src.name}@${e.digest}`,
        destination: ref(e),
        tags: e.tags,
        state: result?.outcome ?? e.state,
        ...(e.reason && { reason: e.reason }),
        ...(result?.error && { error: result.error }),
        ...(result?.copy && { copied: { blobs: result.copy.blobsCopied, mounted: result.copy.blobsMounted, bytes: result.copy.bytesCopied } }),
      };
    }),
  };
}

export function renderReport(report: RunReport, format: OutputFormat, sources: string[]): string {
  if (format === 'json') return `${JSON.stringify(reportData(report, sources), null, 2)}\n`;
  if (format === 'yaml') return stringify(reportData(report, sources));
  const results = new Map(report.results.map((r) => [r.edge, r]));
  const rows: string[][] = [];
  for (const edge of report.plan) {
    const result = results.get(edge);
    const state = result?.outcome ?? edge.state;
    // Edges already in place are the common case on a rerun: counted, not listed.
    if (state === 'present') continue;
    const detail = result?.error?.message ?? edge.reason ?? (state === 'promote' ? 'would be promoted' : '');
    rows.push([state.toUpperCase(), `${ref(edge)}${edge.tags.length ? `:${edge.tags.join(',')}` : ''}`, edge.digest.slice(7, 19), detail]);
  }
  const lines: string[] = [];
  if (rows.length > 0) {
    const header = ['STATE', 'DESTINATION', 'DIGEST', 'DETAIL'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const format = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('   ').trimEnd();
    lines.push(format(header), ...rows.map(format), '');
  }
  const s = report.summary;
  const verb = report.mode === 'Plan' ? 'to promote' : 'promoted';
  const toPromote = report.mode === 'Plan' ? report.plan.filter((e) => e.state === 'promote').length : s.promoted;
  const unverified = s.unverified ? `, ${s.unverified} unverified refused` : '';
  lines.push(`${report.outcome}: ${s.planned} edges, ${toPromote} ${verb}, ${s.alreadyPresent} already present, ${s.lost} lost, ${s.tagMoves} tag moves refused${unverified}, ${s.failed} failed`);
  if (report.attestations.length > 0) lines.push(`attestations: ${report.attestations.length} promotion records attached`);
  if (report.reason) lines.push(`reason: ${report.reason}: ${report.message}`);
  return `${lines.join('\n')}\n`;
}
