// `hoist plan --diff BASE`: the pull-request check. It compares the manifests with BASE (a
// path, or a git revision read at the merge-base), lists exactly the edges the change adds or
// retags and the tags it moves, and plans only those against the registries: would each be
// promoted, is it already there, would it move a production tag (refused), is the digest in
// staging at all. With --parse-only no registry is read.
import { stringify } from 'yaml';
import { formatReference, formatRepository } from '../../api/reference.ts';
import { Repositories, expandRun } from '../../manifest/model.ts';
import type { EdgeOutcome, RunReport } from '../../pipeline/index.ts';
import { ExitCode, type CommandIO } from '../command.ts';
import { diffEdges, type ChangedEdge, type EdgeDiff } from '../diff.ts';
import { resolveBase } from '../git-base.ts';
import type { OutputFormat } from '../render.ts';
import { loadTarget, reportExitCode, runEdges, type Values } from '../run.ts';
import { reportManifestProblems } from './manifest-output.ts';

export const diffFlagHelp = `
Change review (pull requests):
      --diff BASE              plan only what the manifests change against BASE: a path holding
                               them before the change, or a git revision (e.g. origin/main) whose
                               merge-base with HEAD is read at the same path. Lists the edges the
                               change adds or retags and the tags it moves, and plans those against
                               the registries (with --parse-only: the change alone, offline)`;

const short = (digest: string) => digest.slice(7, 19);

interface Row { changed: ChangedEdge; outcome?: EdgeOutcome }

function changeName(c: ChangedEdge): string {
  return c.moves.length > 0 ? 'move' : c.change;
}

function tagsCell(c: ChangedEdge): string {
  if (c.change === 'add') return c.edge.tags.join(',') || '(untagged)';
  return [...c.addedTags.map((t) => `+${t}`), ...c.removedTags.map((t) => `-${t}`)].join(',');
}

function planCell(o: EdgeOutcome | undefined): [string, string] {
  if (!o) return ['', ''];
  const detail = o.state === 'unverified' ? `${o.reason}: ${o.detail}` : o.detail ?? (o.state === 'promote' ? 'would be promoted' : o.state === 'present' ? 'already there' : '');
  return [o.state, detail];
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const format = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('   ').trimEnd();
  return [format(header), ...rows.map(format)];
}

function renderTable(diff: EdgeDiff, rows: Row[], base: string, report: RunReport | undefined): string {
  const live = report !== undefined;
  const body = rows.map(({ changed: c, outcome }) => {
    const moved = c.moves.map((m) => `${m.tag} from ${short(m.from)}`).join(', ');
    const [state, detail] = planCell(outcome);
    const note = [moved && `moves ${moved}`, detail].filter(Boolean).join('; ');
    return [changeName(c).toUpperCase(), formatRepository(c.edge.dst), short(c.edge.digest), tagsCell(c), ...(live ? [state.toUpperCase()] : []), note];
  });
  for (const e of diff.removed) body.push(['REMOVE', formatRepository(e.dst), short(e.digest), e.tags.join(','), ...(live ? [''] : []), 'no longer in the manifests; nothing is deleted from the registry']);
  const lines = body.length > 0 ? table(['CHANGE', 'DESTINATION', 'DIGEST', 'TAGS', ...(live ? ['PLAN'] : []), 'DETAIL'], body) : [];
  const added = diff.changed.filter((c) => c.change === 'add').length;
  const moves = diff.changed.reduce((n, c) => n + c.moves.length, 0);
  lines.push(`against ${base}: ${added} edges added, ${diff.changed.length - added} retagged, ${moves} tags moved, ${diff.removed.length} removed, ${diff.unchanged} unchanged`);
  if (report) {
    const s = report.summary;
    lines.push(`plan of the change: ${report.outcome}: ${s.toPromote} to promote, ${s.alreadyPresent} already present, ${s.tagMoves} tag moves refused, ${s.lost} lost, ${s.unverified} unverified, ${s.failed} failed`);
    if (report.outcome === 'Failed') lines.push(`reason: ${report.reason}: ${report.message}`);
  }
  return `${lines.join('\n')}\n`;
}

function renderData(diff: EdgeDiff, rows: Row[], base: { label: string; revision?: string }, report: RunReport | undefined): object {
  return {
    base: { ref: base.label, ...(base.revision && { revision: base.revision }) },
    ...(report && { outcome: report.outcome, reason: report.reason, message: report.message }),
    summary: {
      added: diff.changed.filter((c) => c.change === 'add').length,
      retagged: diff.changed.filter((c) => c.change === 'tags').length,
      tagMoves: diff.changed.reduce((n, c) => n + c.moves.length, 0),
      removed: diff.removed.length,
      unchanged: diff.unchanged,
      ...(report && { plan: report.summary }),
    },
    changes: rows.map(({ changed: c, outcome }) => ({
      change: c.change,
      source: formatReference({ ...c.edge.src, digest: c.edge.digest }),
      destination: formatRepository(c.edge.dst),
      digest: c.edge.digest,
      tags: c.edge.tags,
      addedTags: c.addedTags,
      removedTags: c.removedTags,
      moves: c.moves,
      ...(outcome && {
        plan: { state: outcome.state, ...(outcome.reason && { reason: outcome.reason }), ...(outcome.detail && { message: outcome.detail }) },
      }),
    })),
    removed: diff.removed.map((e) => ({ source: formatReference({ ...e.src, digest: e.digest }), destination: formatRepository(e.dst), digest: e.digest, tags: e.tags })),
  };
}

export async function planDiff(target: string, baseRef: string, values: Values, output: OutputFormat, io: CommandIO): Promise<number> {
  const loaded = await loadTarget(target);
  const verdict = reportManifestProblems(loaded, io);
  if (verdict.nothingAccepted) return ExitCode.Failed;
  const base = await resolveBase(baseRef, target);
  let diff: EdgeDiff;
  try {
    // The base's own problems are not this change's: they are not reported, and what the base
    // refused counts as absent, so fixing it shows as an addition.
    const before = base.path === undefined ? [] : expandRun((await loadTarget(base.path)).specs.map((s) => s.spec), new Repositories());
    diff = diffEdges(before, expandRun(loaded.specs.map((s) => s.spec), new Repositories()));
  } finally {
    await base.cleanup();
  }
  let report: RunReport | undefined;
  if (!values['parse-only'] && diff.changed.length > 0) {
    const planned = await runEdges(diff.changed.map((c) => c.edge), loaded, values, io, 'Plan', 'plan');
    if (!planned.report) return planned.stopped!;
    report = planned.report;
  }
  // Matched by the edge itself, not by position: the report's order is the pipeline's business.
  const outcomes = new Map(report?.edges.map((o) => [o.edge, o]));
  const rows: Row[] = diff.changed.map((changed) => {
    const outcome = outcomes.get(changed.edge);
    return { changed, ...(outcome && { outcome }) };
  });
  if (output === 'table') io.out.write(renderTable(diff, rows, base.label, report));
  else if (output === 'json') io.out.write(`${JSON.stringify(renderData(diff, rows, base, report), null, 2)}\n`);
  else io.out.write(stringify(renderData(diff, rows, base, report)));

  const moved = diff.changed.some((c) => c.moves.length > 0);
  // Live, the registries decide whether a moved tag is refused; offline a move is always flagged.
  const code = report ? reportExitCode(report) : moved ? ExitCode.Refused : ExitCode.Ok;
  return code === ExitCode.Ok && verdict.someRefused ? ExitCode.Refused : code;
}
