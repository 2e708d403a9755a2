// What `hoist plan` and `hoist promote` share: their flags, the checks on them, the manifests'
// path, and one pipeline run with the flags' registry client, credentials, trust and progress.
import { maxTimerMs, parseDuration } from '../api/duration.ts';
import { loadManifests, ManifestPathError, type LoadedManifests } from '../manifest/load.ts';
import { runPipeline, type Edge, type RunReport } from '../pipeline/index.ts';
import { Inventory, loadInventory, RegistryClient, saveInventory } from '../registry/index.ts';
import { ExitCode, UsageError, type CommandIO } from './command.ts';
import { runCredentials } from './credentials.ts';
import { trustedRealms } from './flags.ts';
import { createProgress } from './progress.ts';
import type { OutputFormat } from './render.ts';
import { SecretsDir, secretKeyReader } from './secrets.ts';
import { signFlags, trustFromFlags, verifyFlags } from './trust.ts';

export const readFlags = {
  manifest: { type: 'string', short: 'f' },
  'thin-manifest-dir': { type: 'string' },
  'parse-only': { type: 'boolean', default: false },
  'plan-concurrency': { type: 'string', default: '16' },
  output: { type: 'string', short: 'o', default: 'table' },
  'registry-config': { type: 'string' },
  'secrets-dir': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'trusted-realm': { type: 'string', multiple: true },
  timeout: { type: 'string', default: '1h' },
  'retry-budget': { type: 'string', default: '10m' },
  'verify-interval': { type: 'string', default: '24h' },
  'cache-file': { type: 'string' },
  quiet: { type: 'boolean', short: 'q', default: false },
} as const;

export const copyFlags = {
  confirm: { type: 'boolean', default: false },
  concurrency: { type: 'string', default: '8' },
  'edge-timeout': { type: 'string', default: '30m' },
} as const;

const allFlags = { ...readFlags, ...copyFlags, ...verifyFlags, ...signFlags } as const;

/** The parsed flags of plan or promote (a flag the command lacks is undefined). */
export type Values = { [K in keyof typeof allFlags]?: (typeof allFlags)[K] extends { multiple: true } ? string[] : (typeof allFlags)[K] extends { type: 'boolean' } ? boolean : string } & { diff?: string };

export const readFlagHelp = `
Flags:
  -f, --manifest FILE|DIR      a kpromo manifest, PromotionManifest YAML, or a directory of them
      --thin-manifest-dir DIR  a kpromo thin-manifest directory (manifests/<p>/, images/<p>/)
      --parse-only             check the manifests and stop, touching no registry
      --plan-concurrency N     registry reads at once per registry host while planning (default 16)
  -o, --output FORMAT          table, json or yaml (default table)
      --registry-config FILE   dockerconfigjson with registry credentials
                               (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)
      --secrets-dir DIR        the Secrets PromotionManifests name (credentials.secretRef, keys of
                               spec.verification and spec.signing): Secret manifests in DIR/*.yaml,
                               as \`kubectl get secret NAME -o yaml\` writes them, or DIR/NAME/KEY files
      --insecure-registry HOST talk plain http to HOST (loopback registries always are)
      --trusted-realm REGISTRY=HOST
                               let REGISTRY's token server on HOST, outside its domain,
                               receive its credentials (docs/operations.md)
      --timeout DURATION       give up after this long, e.g. 30m (default 1h)
      --retry-budget DURATION  how long one request may retry 429s, 5xx and resets, and a
                               registry may fail before it is given up on (default 10m)
      --cache-file FILE        keep what the destinations held in FILE between runs: a rerun
                               with nothing new then reads one tag list per repository
      --verify-interval DURATION
                               with --cache-file: how long a tag's digest (and a digest's
                               signatures) read in an earlier run is believed while the tag
                               list still shows it (default 24h; 0 reads every tag)
  -q, --quiet                  no progress lines, only the result`;

export const copyFlagHelp = `
Copy flags:
      --confirm                promote for real (without it, a dry run that writes nothing)
      --concurrency N          edges copied at once (default 8)
      --edge-timeout DURATION  how long one edge's copy may take (default 30m)`;

export const exitCodes = `
Exit codes: 0 done; 1 failed, or no manifest accepted; 2 bad usage; 3 done, but something was refused
(tag moves, lost digests, or manifests and dmap entries refused when loading); 130 interrupted.`;

export function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a whole number of at least 1, got "${text}"`);
  return value;
}

export function durationFlag(values: Values, name: 'retry-budget' | 'edge-timeout' | 'timeout' | 'verify-interval', allowZero: boolean): number {
  const ms = parseDuration(values[name]!);
  if (ms === undefined || ms < 0 || (!allowZero && ms === 0)) throw new UsageError(`--${name} must be a duration such as 10m or 1h, got "${values[name]}"`);
  // Node's timers hold at most 2^31-1 ms (24.8 days); a longer one would fire at once.
  if (ms > maxTimerMs) throw new UsageError(`--${name} must be at most 576h, got "${values[name]}"`);
  return ms;
}

export function outputFormat(text: string | undefined): OutputFormat {
  if (text !== 'table' && text !== 'json' && text !== 'yaml') throw new UsageError(`--output must be table, json or yaml, got "${text}"`);
  return text;
}

/** The one path the manifests come from: --manifest, --thin-manifest-dir or an argument. */
export function manifestTarget(values: Values, positionals: string[]): string {
  const given = [values.manifest, values['thin-manifest-dir'], ...positionals].filter((v) => v !== undefined);
  if (given.length === 0) throw new UsageError('name the manifests with --manifest FILE or --thin-manifest-dir DIR');
  if (given.length > 1) throw new UsageError('give one of --manifest, --thin-manifest-dir or a path, once');
  return given[0]!;
}

export async function loadTarget(target: string): Promise<LoadedManifests> {
  return loadManifests(target).catch((error: unknown) => {
    throw error instanceof ManifestPathError ? new UsageError(error.message) : error;
  });
}

export function reportExitCode(report: RunReport): number {
  if (report.outcome === 'Failed') return ExitCode.Failed;
  if (report.outcome === 'Refused') return ExitCode.Refused;
  return ExitCode.Ok;
}

export interface PlannedRun {
  report?: RunReport;
  /** Set when the run did not finish: the exit code and what was printed. */
  stopped?: number;
}

/**
 * Runs the pipeline over `edges` with the flags' registry client, progress and trust; Ctrl-C
 * ends it with 130. `command` is who asks: promote checks its signing settings even in a dry
 * run (so a mistake shows before --confirm), plan has none.
 */
export async function runEdges(edges: Edge[], loaded: LoadedManifests, values: Values, io: CommandIO, mode: 'Plan' | 'Promote', command: 'plan' | 'promote'): Promise<PlannedRun> {
  const sign = command === 'promote';
  const writes = mode === 'Promote';
  const timeoutMs = durationFlag(values, 'timeout', false);
  const secretsDir = values['secrets-dir'] === undefined ? undefined : new SecretsDir(values['secrets-dir']);
  const namespaces = new Set(loaded.specs.map((s) => s.namespace));
  const trust = await trustFromFlags(values, loaded.specs.map((s) => s.resourceSpec), {
    sign, readSecret: secretsDir && secretKeyReader(secretsDir, namespaces.size === 1 ? [...namespaces][0] : undefined),
  });
  const verifyIntervalMs = durationFlag(values, 'verify-interval', true);
  const cacheFile = values['cache-file'];
  // Without a cache file nothing outlives the run, so the inventory keeps no facts (memory).
  const cache = cacheFile === undefined ? { inventory: new Inventory({ maxEntries: 0 }) } : loadInventory(cacheFile);
  if (cache.problem) io.err.write(`warning: --cache-file ${cache.problem}\n`);
  const credentials = await runCredentials({ registryConfig: values['registry-config'], secretsDir: values['secrets-dir'] }, loaded.specs, (line) => io.err.write(`${line}\n`));
  const client = new RegistryClient({
    credentials, insecureHosts: values['insecure-registry'] ?? [], trustedRealms: trustedRealms(values['trusted-realm'] ?? []),
    retry: { budgetMs: durationFlag(values, 'retry-budget', true) },
    ...(writes && { copyTimeoutMs: durationFlag(values, 'edge-timeout', false) }),
    onWait: (e) => progress.onWait(e), inventory: cache.inventory,
  });
  const progress = createProgress(io.err, { quiet: values.quiet === true, stats: client.stats });
  const interrupt = new AbortController();
  let exit: number = ExitCode.Interrupted;
  const onInt = () => { exit = ExitCode.Interrupted; interrupt.abort(new Error('interrupted')); };
  const onTerm = () => { exit = ExitCode.Terminated; interrupt.abort(new Error('terminated')); };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  const signal = AbortSignal.any([interrupt.signal, AbortSignal.timeout(timeoutMs)]);
  try {
    const report = await runPipeline(edges, client, {
      mode, concurrency: writes ? positiveInt('concurrency', values.concurrency!) : 1,
      planConcurrency: positiveInt('plan-concurrency', values['plan-concurrency']!), signal, onEvent: (e) => progress.onEvent(e), verifyIntervalMs,
      ...(trust && { trust }),
    });
    progress.finish();
    return { report };
  } catch (error) {
    progress.finish();
    if (!signal.aborted) throw error;
    const why = interrupt.signal.aborted ? (exit === ExitCode.Interrupted ? 'interrupted' : 'terminated') : `timed out after ${values.timeout}`;
    io.err.write(`error: ${why}; ${writes ? 'what was copied stays, and a rerun finishes the job' : 'nothing was written'}\n`);
    return { stopped: interrupt.signal.aborted ? exit : ExitCode.Failed };
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await client.close();
    // What was read stays true after a failure or an interrupt: kept for the next run.
    if (cacheFile !== undefined) saveCache(cacheFile, client.inventory, io);
  }
}

function saveCache(file: string, inventory: Inventory, io: CommandIO): void {
  try {
    saveInventory(file, inventory);
  } catch (error) {
    io.err.write(`warning: --cache-file ${file} could not be written: ${(error as Error).message}\n`);
  }
}
