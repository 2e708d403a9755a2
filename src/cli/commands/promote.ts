// `hoist promote` and `hoist plan`: the pipeline once, from kpromo manifests or PromotionManifest
// YAML, against live registries. Flags follow `kpromo cip`; promote is a dry run unless
// --confirm is given, as kpromo's is.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { maxTimerMs, parseDuration } from '../../api/duration.ts';
import { loadManifests, ManifestPathError, type LoadedManifests } from '../../manifest/load.ts';
import { edgesFromSpecs, runPipeline, type Edge, type RunReport } from '../../pipeline/index.ts';
import { Inventory, loadInventory, parseDockerConfig, RegistryClient, saveInventory, StaticCredentials } from '../../registry/index.ts';
import { ExitCode, UsageError, type Command, type CommandIO } from '../command.ts';
import { createProgress } from '../progress.ts';
import { trustFlagHelp, trustFlags, trustFromFlags } from '../trust.ts';
import { reportChunks, type OutputFormat } from '../render.ts';
import { printParsedPlan, reportManifestProblems } from './manifest-output.ts';

const flags = {
  manifest: { type: 'string', short: 'f' },
  'thin-manifest-dir': { type: 'string' },
  confirm: { type: 'boolean', default: false },
  'parse-only': { type: 'boolean', default: false },
  concurrency: { type: 'string', default: '8' },
  'plan-concurrency': { type: 'string', default: '16' },
  output: { type: 'string', short: 'o', default: 'table' },
  'registry-config': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'trusted-realm': { type: 'string', multiple: true },
  timeout: { type: 'string', default: '1h' },
  'retry-budget': { type: 'string', default: '10m' },
  'edge-timeout': { type: 'string', default: '30m' },
  'verify-interval': { type: 'string', default: '24h' },
  'cache-file': { type: 'string' },
  quiet: { type: 'boolean', short: 'q', default: false },
  ...trustFlags,
} as const;

const flagHelp = `
Flags:
  -f, --manifest FILE|DIR      a kpromo manifest, PromotionManifest YAML, or a directory of them
      --thin-manifest-dir DIR  a kpromo thin-manifest directory (manifests/<p>/, images/<p>/)
      --parse-only             check the manifests and stop, touching no registry
      --concurrency N          edges copied at once (default 8)
      --plan-concurrency N     registry reads at once per registry host while planning (default 16)
  -o, --output FORMAT          table, json or yaml (default table)
      --registry-config FILE   dockerconfigjson with registry credentials
                               (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)
      --insecure-registry HOST talk plain http to HOST (loopback registries always are)
      --trusted-realm REGISTRY=HOST
                               let REGISTRY's token server on HOST, outside its domain,
                               receive its credentials (docs/operations.md)
      --timeout DURATION       give up after this long, e.g. 30m (default 1h)
      --retry-budget DURATION  how long one request may retry 429s, 5xx and resets, and a
                               registry may fail before it is given up on (default 10m)
      --edge-timeout DURATION  how long one edge's copy may take (default 30m)
      --cache-file FILE        keep what the destinations held in FILE between runs: a rerun
                               with nothing new then reads one tag list per repository
      --verify-interval DURATION
                               with --cache-file: how long a tag's digest (and a digest's
                               signatures) read in an earlier run is believed while the tag
                               list still shows it (default 24h; 0 reads every tag)
  -q, --quiet                  no progress lines, only the result

${trustFlagHelp.trimStart()}

Exit codes: 0 done; 1 failed, or no manifest accepted; 2 bad usage; 3 done, but something was refused
(tag moves, lost digests, or manifests and dmap entries refused when loading).`;

/** Done, but some edges were refused: tag moves or digests missing from staging. */
const refusedExitCode = 3;

function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a whole number of at least 1, got "${text}"`);
  return value;
}

function credentials(path: string | undefined): StaticCredentials {
  const fallback = join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  const file = path ?? (existsSync(fallback) ? fallback : undefined);
  if (!file) return new StaticCredentials();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--registry-config ${file}: ${(error as Error).message}`);
  }
  return parseDockerConfig(text, file);
}

function saveCache(file: string, inventory: Inventory, io: CommandIO): void {
  try {
    saveInventory(file, inventory);
  } catch (error) {
    io.err.write(`warning: --cache-file ${file} could not be written: ${(error as Error).message}\n`);
  }
}

function toEdges(loaded: LoadedManifests): Edge[] {
  return edgesFromSpecs(loaded.specs.map(({ spec }) => spec));
}

function exitCode(report: RunReport): number {
  if (report.outcome === 'Failed') return ExitCode.Failed;
  if (report.outcome === 'Refused') return refusedExitCode;
  return ExitCode.Ok;
}

async function run(args: string[], io: CommandIO, planOnly: boolean): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: flags, allowPositionals: true });
  const target = values.manifest ?? values['thin-manifest-dir'] ?? positionals[0];
  if (target === undefined) throw new UsageError('name the manifests with --manifest FILE or --thin-manifest-dir DIR');
  if ([values.manifest, values['thin-manifest-dir'], positionals[0]].filter((v) => v !== undefined).length > 1 || positionals.length > 1) {
    throw new UsageError('give one of --manifest, --thin-manifest-dir or a path, once');
  }
  const output = values.output as OutputFormat;
  if (!['table', 'json', 'yaml'].includes(output)) throw new UsageError(`--output must be table, json or yaml, got "${values.output}"`);
  const concurrency = positiveInt('concurrency', values.concurrency);
  const planConcurrency = positiveInt('plan-concurrency', values['plan-concurrency']);
  const timeoutMs = parseDuration(values.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new UsageError(`--timeout must be a duration such as 30m or 1h, got "${values.timeout}"`);
  // Node's timers hold at most 2^31-1 ms (24.8 days); a longer one would fire at once.
  if (timeoutMs > maxTimerMs) throw new UsageError(`--timeout must be at most 576h, got "${values.timeout}"`);

  const durationFlag = (name: 'retry-budget' | 'edge-timeout', allowZero: boolean): number => {
    const ms = parseDuration(values[name]);
    if (ms === undefined || ms < 0 || (!allowZero && ms === 0) || ms > maxTimerMs) throw new UsageError(`--${name} must be a duration such as 10m, at most 576h, got "${values[name]}"`);
    return ms;
  };
  const retryBudgetMs = durationFlag('retry-budget', true);
  const trustedRealms: Record<string, string[]> = {};
  for (const pair of values['trusted-realm'] ?? []) {
    const [registry, host, ...rest] = pair.split('=');
    if (!registry || !host || rest.length > 0) throw new UsageError(`--trusted-realm must be REGISTRY=HOST, got "${pair}"`);
    (trustedRealms[registry] ??= []).push(host);
  }
  const edgeTimeoutMs = durationFlag('edge-timeout', false);
  const verifyIntervalMs = parseDuration(values['verify-interval']);
  if (verifyIntervalMs === undefined || verifyIntervalMs < 0) throw new UsageError(`--verify-interval must be a duration such as 24h, got "${values['verify-interval']}"`);

  const loaded = await loadManifests(target).catch((error: unknown) => {
    throw error instanceof ManifestPathError ? new UsageError(error.message) : error;
  });
  // Refused manifests and entries are reported; every valid one goes on (exit 3 at the end).
  const verdict = reportManifestProblems(loaded, io);
  if (values['parse-only']) return printParsedPlan(loaded, output, io, verdict);
  if (verdict.nothingAccepted) return ExitCode.Failed;
  const edges = toEdges(loaded);

  const trust = await trustFromFlags(values, loaded.specs.map((s) => s.resourceSpec));
  const dryRun = planOnly || !values.confirm;
  const progress = createProgress(io.err, { quiet: values.quiet });
  const cacheFile = values['cache-file'];
  // Without a cache file nothing outlives the run, so the inventory keeps no facts (memory).
  const cache = cacheFile === undefined ? { inventory: new Inventory({ maxEntries: 0 }) } : loadInventory(cacheFile);
  if (cache.problem) io.err.write(`warning: --cache-file ${cache.problem}\n`);
  const client = new RegistryClient({
    credentials: credentials(values['registry-config']), insecureHosts: values['insecure-registry'] ?? [], trustedRealms,
    retry: { budgetMs: retryBudgetMs }, copyTimeoutMs: edgeTimeoutMs, onWait: (e) => progress.onWait(e), inventory: cache.inventory,
  });
  const controller = new AbortController();
  const interrupt = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]);
  let report: RunReport;
  try {
    report = await runPipeline(edges, client, {
      mode: dryRun ? 'Plan' : 'Promote', concurrency, planConcurrency, signal, onEvent: (e) => progress.onEvent(e), verifyIntervalMs,
      ...(trust && { trust }),
    });
  } catch (error) {
    progress.finish();
    if (signal.aborted) {
      const why = controller.signal.aborted ? 'interrupted' : `timed out after ${values.timeout}`;
      io.err.write(`error: ${why}; what was copied stays, and a rerun finishes the job\n`);
      return ExitCode.Failed;
    }
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await client.close();
    // What was read stays true after a failure or an interrupt: kept for the next run.
    if (cacheFile !== undefined) saveCache(cacheFile, client.inventory, io);
  }
  progress.finish();
  for (const chunk of reportChunks(report, output, loaded.specs.map((s) => s.source))) io.out.write(chunk);
  if (dryRun && !planOnly && output === 'table' && report.outcome !== 'Failed') {
    io.err.write('dry run: nothing was written; pass --confirm to promote\n');
  }
  const code = exitCode(report);
  return code === ExitCode.Ok && verdict.someRefused ? refusedExitCode : code;
}

export const promoteCommand: Command = {
  name: 'promote',
  usage: `hoist promote --manifest FILE | --thin-manifest-dir DIR [--confirm] [flags]\n${flagHelp}`,
  run: (args, io) => run(args, io, false),
};

export const planCommand: Command = {
  name: 'plan',
  usage: `hoist plan --manifest FILE | --thin-manifest-dir DIR [flags]\n${flagHelp}`,
  run: (args, io) => run(args.filter((a) => a !== '--confirm'), io, true),
};
