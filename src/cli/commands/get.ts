// `hoist get [NAME]`: PromotionManifests (or, with --kind sigrep, SignatureReplications) as `kubectl get pm` shows them (the columns come from
// the API server, so they are the CRD's), with -w to follow changes, -A for every namespace,
// and -o wide|name|json|yaml, as kubectl and `flux get` do.
import { stringify } from 'yaml';
import { ExitCode, UsageError, type Command, type CommandIO } from '../command.ts';
import { clusterFlagHelp, clusterFlags, connect, kindOf, listManifests, listTable, promotionManifests, targetOf, watchTable, type Cluster, type Kind, type Table, type WatchEvent } from '../cluster.ts';
import { parseFlags } from '../flags.ts';

const flags = {
  ...clusterFlags,
  'all-namespaces': { type: 'boolean', short: 'A', default: false },
  watch: { type: 'boolean', short: 'w', default: false },
  output: { type: 'string', short: 'o' },
  'no-headers': { type: 'boolean', default: false },
} as const;

const usage = `hoist get [[TYPE/]NAME] [flags]

Lists PromotionManifests with the columns of \`kubectl get pm\`: readiness, counts, age;
SignatureReplications with --kind sigrep (or one of them: hoist get sigrep/NAME).

Flags:
  -A, --all-namespaces         every namespace
  -w, --watch                  after the list, print a row for every change until Ctrl-C
  -o, --output FORMAT          wide (adds the mode and the Ready message), name, json or yaml
      --no-headers             no header row
${clusterFlagHelp.trimStart()}`;

type Format = 'table' | 'wide' | 'name' | 'json' | 'yaml';

interface Layout {
  columns: number[];
  namespaced: boolean;
  widths: number[];
}

function layoutOf(table: Table, wide: boolean, namespaced: boolean): Layout {
  const columns = table.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => wide || !c.priority).map(({ i }) => i);
  const header = [...(namespaced ? ['NAMESPACE'] : []), ...columns.map((i) => table.columnDefinitions[i]!.name.toUpperCase())];
  const widths = header.map((h) => h.length);
  for (const row of table.rows) cellsOf(row, columns, namespaced).forEach((cell, i) => { widths[i] = Math.max(widths[i]!, cell.length); });
  return { columns, namespaced, widths };
}

function cellsOf(row: Table['rows'][number], columns: number[], namespaced: boolean): string[] {
  const cells = columns.map((i) => {
    const value = row.cells[i];
    return value === null || value === undefined ? '' : String(value);
  });
  return namespaced ? [row.object?.metadata?.namespace ?? '', ...cells] : cells;
}

function line(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd();
}

function printTable(table: Table, layout: Layout, headers: boolean, io: CommandIO): void {
  const header = [...(layout.namespaced ? ['NAMESPACE'] : []), ...layout.columns.map((i) => table.columnDefinitions[i]!.name.toUpperCase())];
  if (headers) io.out.write(`${line(header, layout.widths)}\n`);
  for (const row of table.rows) io.out.write(`${line(cellsOf(row, layout.columns, layout.namespaced), layout.widths)}\n`);
}

/** Follows changes as kubectl get -w does: one row per event, watching again whenever the server ends a watch. */
async function follow(cluster: Cluster, kind: Kind, namespace: string | undefined, name: string | undefined, from: string, layout: Layout, format: Format, io: CommandIO): Promise<number> {
  const stop = new AbortController();
  let exit: number = ExitCode.Ok;
  const onInt = () => { exit = 130; stop.abort(); };
  const onTerm = () => { exit = 143; stop.abort(); };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const onEvent = (event: WatchEvent) => {
    if (!event.table) return;
    for (const row of event.table.rows) {
      if (format === 'name') io.out.write(`${nameOf(kind, row)}\n`);
      else io.out.write(`${line(cellsOf(row, layout.columns, layout.namespaced), layout.widths)}\n`);
    }
  };
  let resourceVersion = from;
  try {
    while (!stop.signal.aborted) {
      try {
        resourceVersion = await watchTable(cluster, namespace, name, resourceVersion, onEvent, stop.signal, kind);
      } catch (error) {
        if (stop.signal.aborted) break;
        // Too old to resume from: list again (printing nothing twice would need a diff; kubectl prints again too).
        if ((error as { gone?: boolean }).gone) resourceVersion = (await listTable(cluster, namespace, name, kind)).metadata?.resourceVersion ?? '0';
        else throw error;
      }
    }
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  return exit;
}

/** kubectl's -o name: kind.group/name. */
const nameOf = (kind: Kind, row: Table['rows'][number]) => `${kind.kind.toLowerCase()}.hoist.dev/${row.object?.metadata?.name ?? ''}`;

export const getCommand: Command = {
  name: 'get',
  usage,
  flags,
  async run(args, io) {
    const { values, positionals } = parseFlags('get', args, flags, { positionals: true });
    if (positionals.length > 1) throw new UsageError('get takes at most one name');
    const format = (values.output ?? 'table') as Format;
    if (!['table', 'wide', 'name', 'json', 'yaml'].includes(format)) throw new UsageError(`--output must be wide, name, json or yaml, got "${values.output}"`);
    if (values.watch && (format === 'json' || format === 'yaml')) throw new UsageError('--watch prints rows; use it with the table, wide or name output');
    const cluster = connect(values);
    const namespace = values['all-namespaces'] ? undefined : cluster.namespace;
    const target = positionals[0] === undefined ? undefined : targetOf(positionals[0], values.kind);
    const kind = target?.kind ?? (values.kind === undefined ? promotionManifests : kindOf(values.kind));
    const name = target?.name;

    if (format === 'json' || format === 'yaml') {
      const items = (await listManifests(cluster, namespace, kind)).filter((m) => name === undefined || m.metadata.name === name);
      if (name !== undefined && items.length === 0) throw new Error(`${kind.kind} ${namespace ?? ''}/${name} not found`);
      const data = name !== undefined ? items[0] : { apiVersion: 'v1', kind: 'List', items };
      io.out.write(format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data));
      return ExitCode.Ok;
    }
    const table = await listTable(cluster, namespace, name, kind);
    if (name !== undefined && table.rows.length === 0 && !values.watch) {
      io.err.write(`Error: ${kind.kind} "${name}" not found in namespace ${namespace}\n`);
      return ExitCode.Failed;
    }
    const layout = layoutOf(table, format === 'wide', namespace === undefined);
    if (format === 'name') {
      for (const row of table.rows) io.out.write(`${nameOf(kind, row)}\n`);
    } else if (table.rows.length === 0 && !values.watch) {
      io.err.write(`No ${kind.kind}s found${namespace === undefined ? '' : ` in namespace ${namespace}`}.\n`);
    } else {
      printTable(table, layout, !values['no-headers'], io);
    }
    if (!values.watch) return ExitCode.Ok;
    return follow(cluster, kind, namespace, name, table.metadata?.resourceVersion ?? '0', layout, format, io);
  },
};
