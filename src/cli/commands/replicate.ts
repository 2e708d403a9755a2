// `hoist replicate`: a signature replication once, against live registries: what the primary
// holds for the digests of the given manifests, brought to every mirror they are promoted to.
// A dry run unless --confirm, as `hoist promote` and kpromo are. The spec comes from a
// SignatureReplication file (--replication) or from flags (--primary, --formats, --check).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { maxTimerMs, parseDuration } from '../../api/duration.ts';
import { formatRepository } from '../../api/reference.ts';
import {
  replicationFormats, replicationKind, signatureReplicationSchema, signatureReplicationSpecSchema, type SignatureReplicationSpec,
} from '../../api/signature-replication.ts';
import { loadManifests, ManifestPathError, type LoadedManifests } from '../../manifest/load.ts';
import { RegistryClient, type WaitEvent } from '../../registry/index.ts';
import { runReplication, type ManifestInput, type ReplicationEvent, type ReplicationReport } from '../../replication/index.ts';
import { stringify } from 'yaml';
import { ExitCode, UsageError, type Command, type CommandIO } from '../command.ts';
import { dockerConfigCredentials } from '../credentials.ts';
import { trustedRealms } from '../flags.ts';
import { refusedExitCode, reportManifestProblems } from './manifest-output.ts';

const flags = {
  manifest: { type: 'string', short: 'f' },
  'thin-manifest-dir': { type: 'string' },
  replication: { type: 'string' },
  primary: { type: 'string' },
  'primary-source': { type: 'boolean', default: false },
  formats: { type: 'string' },
  check: { type: 'string' },
  confirm: { type: 'boolean', default: false },
  concurrency: { type: 'string', default: '16' },
  'list-concurrency': { type: 'string', default: '16' },
  output: { type: 'string', short: 'o', default: 'table' },
  'registry-config': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'trusted-realm': { type: 'string', multiple: true },
  timeout: { type: 'string', default: '1h' },
  'retry-budget': { type: 'string', default: '10m' },
  quiet: { type: 'boolean', short: 'q', default: false },
} as const;

const flagHelp = `
Brings the signatures and attestations the primary registry holds for the manifests' digests
(legacy sha256-<hex>.sig/.att tags, and OCI referrers: sigstore bundles) to every other registry
the manifests promote them to, byte for byte. The primary is listed first; a mirror is read only
for digests the primary holds something for. Nothing is ever deleted. See docs/replication.md.

Flags:
  -f, --manifest FILE|DIR      a kpromo manifest, PromotionManifest YAML, or a directory of them
      --thin-manifest-dir DIR  a kpromo thin-manifest directory (manifests/<p>/, images/<p>/)
      --replication FILE       a SignatureReplication: its primary, formats, check, and which of
                               the manifests (by name or labels) it covers
      --primary REGISTRY       the canonical registry holding the signatures: the destination
                               named so, or below it (e.g. us-central1-docker.pkg.dev/k8s-artifacts-prod/images)
      --primary-source         the manifests' source (staging) registry holds the signatures
      --formats LIST           legacy, bundle or legacy,bundle (default both)
      --check MODE             presence (a listed tag counts, the default) or digest (also
                               compare present tags with the primary's and repair lagging ones)
      --confirm                write; without it nothing is written (a dry run)
      --concurrency N          digests copied at once (default 16)
      --list-concurrency N     tag listings at once per registry host (default 16)
  -o, --output FORMAT          table, json or yaml (default table)
      --registry-config FILE   dockerconfigjson with registry credentials
                               (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)
      --insecure-registry HOST talk plain http to HOST (loopback registries always are)
      --trusted-realm REGISTRY=HOST
                               let REGISTRY's token server on HOST receive its credentials
      --timeout DURATION       give up after this long (default 1h)
      --retry-budget DURATION  how long one request may retry 429s, 5xx and resets (default 10m)
  -q, --quiet                  no progress lines, only the result

Exit codes: 0 every mirror holds what the primary holds (or would, after --confirm); 1 reads or
writes failed, or nothing could be loaded; 2 bad usage; 3 something needs a person (a mirror tag
holding signatures the primary lacks, a manifest without the primary, a refused manifest).`;

type OutputFormat = 'table' | 'json' | 'yaml';

function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a whole number of at least 1, got "${text}"`);
  return value;
}

function readReplicationFile(file: string): SignatureReplicationSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--replication ${file}: ${(error as Error).message}`);
  }
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind?: unknown } | null).filter((d) => d?.kind === replicationKind);
  if (docs.length !== 1) throw new UsageError(`--replication ${file}: expected one ${replicationKind}, found ${docs.length}`);
  const parsed = signatureReplicationSchema.safeParse(docs[0]);
  if (!parsed.success) {
    throw new UsageError(`--replication ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data.spec;
}

/** The spec from --replication, with flags winning; or from flags alone, covering every manifest given. */
function specFrom(values: { replication?: string; primary?: string; 'primary-source': boolean; formats?: string; check?: string }): SignatureReplicationSpec {
  const base = values.replication ? readReplicationFile(values.replication) : undefined;
  if (values.primary !== undefined && values['primary-source']) throw new UsageError('give one of --primary REGISTRY and --primary-source');
  const primary = values.primary !== undefined ? { registry: values.primary } : values['primary-source'] ? { source: true } : base?.primary;
  if (!primary) throw new UsageError('name the primary: --primary REGISTRY, --primary-source, or a --replication file');
  const formats = values.formats?.split(',').map((f) => f.trim());
  if (formats && !formats.every((f) => (replicationFormats as readonly string[]).includes(f))) throw new UsageError(`--formats must be legacy, bundle or legacy,bundle, got "${values.formats}"`);
  const check = values.check === undefined ? undefined : { presence: 'Presence', digest: 'Digest' }[values.check.toLowerCase()];
  if (values.check !== undefined && !check) throw new UsageError(`--check must be presence or digest, got "${values.check}"`);
  const parsed = signatureReplicationSpecSchema.safeParse({
    ...(base ?? { manifests: { selector: {} } }), primary, ...(formats && { formats: [...new Set(formats)] }), ...(check && { check }),
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

/** The labels of PromotionManifest resources, by file and name, for a --replication selector. */
function labelsOf(loaded: LoadedManifests): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const file of new Set(loaded.specs.filter((m) => m.resourceSpec).map((m) => m.source))) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const data = doc.toJS() as { metadata?: { name?: unknown; labels?: unknown } } | null;
      const labels = data?.metadata?.labels;
      if (typeof data?.metadata?.name === 'string' && labels && typeof labels === 'object') out.set(`${file}\0${data.metadata.name}`, labels as Record<string, string>);
    }
  }
  return out;
}

function inputsOf(loaded: LoadedManifests): ManifestInput[] {
  const labels = labelsOf(loaded);
  return loaded.specs.map((m) => {
    const found = m.name !== undefined ? labels.get(`${m.source}\0${m.name}`) : undefined;
    return { name: m.name ?? m.source, ...(found && { labels: found }), spec: m.spec };
  });
}

/** Progress on stderr: a live line on a terminal, step and problem lines otherwise. */
function progress(stream: NodeJS.WritableStream, quiet: boolean) {
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  let line = '';
  let drawnAt = 0;
  const log = (text: string) => {
    if (tty && line) stream.write('\r\x1b[K');
    stream.write(`${text}\n`);
    if (tty && line) stream.write(line);
  };
  return {
    onEvent(event: ReplicationEvent) {
      if (quiet) return;
      if (event.type === 'stepFinished') log(`${event.step.padEnd(11)} ${(event.durationMs / 1000).toFixed(1)}s: ${event.message}`);
      else if (event.type === 'progress' && tty && performance.now() - drawnAt > 100) {
        drawnAt = performance.now();
        line = `\r\x1b[K${event.step} ${event.done}/${event.total}  ${event.counts.repaired} repaired, ${event.counts.failed} failed`;
        stream.write(line);
      } else if (event.type === 'pair' && (event.state === 'failed' || event.state === 'diverged')) {
        log(`${event.state}: ${formatRepository(event.mirror)}@${event.digest.slice(0, 19)}: ${event.reason}: ${event.detail ?? ''}`);
      }
    },
    onWait(event: WaitEvent) {
      if (quiet || event.seconds < 5) return;
      log(`waiting ${event.seconds}s: ${event.host}${event.repository ? `/${event.repository}` : ''} (${event.reason})`);
    },
    finish() {
      if (tty && line) stream.write('\r\x1b[K');
    },
  };
}

function render(report: ReplicationReport, format: OutputFormat, manifests: string[]): string {
  const data = {
    outcome: report.outcome, reason: report.reason, message: report.message, dryRun: report.dryRun, manifests,
    counts: report.counts, requests: report.requests, durationMs: report.durationMs, steps: report.steps,
    failures: report.failures, changes: report.changes,
  };
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  if (format === 'yaml') return stringify(data);
  const rows = [
    ...report.changes.map((c) => [report.dryRun ? 'WOULD COPY' : 'COPIED', c.repository, c.digest.slice(7, 19), c.artifacts.join(', ')]),
    ...report.failures.map((f) => [f.reason === 'SignatureDiverged' ? 'DIVERGED' : 'FAILED', f.repository, f.digest.slice(7, 19), `${f.reason}: ${f.message}`]),
  ];
  const lines: string[] = [];
  if (rows.length > 0) {
    const header = ['STATE', 'REPOSITORY', 'DIGEST', 'DETAIL'];
    const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
    const format = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('   ').trimEnd();
    lines.push(format(header), ...rows.map(format), '');
  }
  lines.push(`${report.outcome}: ${report.message}`);
  return `${lines.join('\n')}\n`;
}

function exitCode(report: ReplicationReport): number {
  return report.outcome === 'Failed' ? ExitCode.Failed : report.outcome === 'Refused' ? refusedExitCode : ExitCode.Ok;
}

function durationFlag(name: string, text: string, allowZero = false): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0 || (!allowZero && ms === 0) || ms > maxTimerMs) throw new UsageError(`--${name} must be a duration such as 10m, at most 576h, got "${text}"`);
  return ms;
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: flags, allowPositionals: true });
  const target = values.manifest ?? values['thin-manifest-dir'] ?? positionals[0];
  if (target === undefined) throw new UsageError('name the manifests with --manifest FILE or --thin-manifest-dir DIR');
  if ([values.manifest, values['thin-manifest-dir'], positionals[0]].filter((v) => v !== undefined).length > 1 || positionals.length > 1) {
    throw new UsageError('give one of --manifest, --thin-manifest-dir or a path, once');
  }
  const output = values.output as OutputFormat;
  if (!['table', 'json', 'yaml'].includes(output)) throw new UsageError(`--output must be table, json or yaml, got "${values.output}"`);
  const spec = specFrom(values);
  const concurrency = positiveInt('concurrency', values.concurrency);
  const listConcurrency = positiveInt('list-concurrency', values['list-concurrency']);
  const timeoutMs = durationFlag('timeout', values.timeout);
  const retryBudgetMs = durationFlag('retry-budget', values['retry-budget'], true);

  const loaded = await loadManifests(target).catch((error: unknown) => {
    throw error instanceof ManifestPathError ? new UsageError(error.message) : error;
  });
  const verdict = reportManifestProblems(loaded, io);
  if (loaded.specs.length === 0) return ExitCode.Failed;
  const shown = progress(io.err, values.quiet);
  const client = new RegistryClient({
    credentials: dockerConfigCredentials(values['registry-config']), insecureHosts: values['insecure-registry'] ?? [],
    trustedRealms: trustedRealms(values['trusted-realm']),
    retry: { budgetMs: retryBudgetMs }, onWait: (e) => shown.onWait(e),
  });
  const controller = new AbortController();
  const interrupt = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]);
  let report: ReplicationReport;
  try {
    report = await runReplication(spec, inputsOf(loaded), client, {
      dryRun: !values.confirm, concurrency, listConcurrency, signal, onEvent: (e) => shown.onEvent(e),
    });
  } catch (error) {
    shown.finish();
    if (signal.aborted) {
      io.err.write(`error: ${controller.signal.aborted ? 'interrupted' : `timed out after ${values.timeout}`}; what was copied stays, and a rerun finishes the job\n`);
      return ExitCode.Failed;
    }
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await client.close();
  }
  shown.finish();
  io.out.write(render(report, output, loaded.specs.map((s) => s.name ?? s.source)));
  if (report.dryRun && output === 'table' && report.outcome !== 'Failed' && report.counts.repaired > 0) {
    io.err.write('dry run: nothing was written; pass --confirm to replicate\n');
  }
  const code = exitCode(report);
  return code === ExitCode.Ok && verdict.someRefused ? refusedExitCode : code;
}

export const replicateCommand: Command = {
  name: 'replicate',
  usage: `hoist replicate --manifest FILE|DIR (--primary REGISTRY | --primary-source | --replication FILE) [--confirm] [flags]\n${flagHelp}`,
  run,
};
