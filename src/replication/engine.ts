// A replication run, in three steps, so nothing is read at a mirror for a digest the primary
// holds nothing for:
//   ListPrimary  one tag listing per primary repository shows which digests carry `.sig`, `.att`
//                or a referrers index (a primary serving the referrers API is asked per digest);
//                unsigned digests end here. Images of an index signed on their own are found
//                by reading the signed indexes of a repository whose listing names them.
//   ListMirrors  one tag listing per mirror repository of a signed digest.
//   Copy         per signed digest and mirror: what the listing shows missing is copied from the
//                primary byte for byte, the primary read once per digest for all its mirrors.
// The same from the CLI (`hoist replicate`) and from the controller (a SignatureReplication).
import { isReason, type Reason } from '../api/reasons.ts';
import type { SignatureReplicationSpec } from '../api/signature-replication.ts';
import type { PromotionSpec } from '../manifest/model.ts';
import { describeError, forEachLimit, forEachLimitBy, isIndex, parseManifest, type RegistryClient, type Repository } from '../registry/index.ts';
import { artifactTags, PrimaryReader, subjectOfTag, TagListing } from './artifacts.ts';
import { MirrorWriter } from './copy.ts';
import { holdsAnything, replicatePair, type Holdings, type PairContext } from './mirror.ts';
import { ReferrersApiHosts, servesReferrersApi } from './referrers-api.ts';
import { finish, zeroCounts } from './report.ts';
import { buildTargets, selectManifests, type CoverageProblem } from './targets.ts';
import type { ReplicationChange, ReplicationEvent, ReplicationFailure, ReplicationOptions, ReplicationReport, ReplicationStep, ReplicationTarget } from './types.ts';

const key = (repo: Repository) => `${repo.host}/${repo.name}`;

/** Signed digests' mirrors worked on at once, per digest. */
const mirrorsAtOnce = 8;

interface Run {
  client: RegistryClient;
  options: Required<Pick<ReplicationOptions, 'formats' | 'check' | 'dryRun' | 'listConcurrency' | 'concurrency'>> & ReplicationOptions;
  signal: AbortSignal;
  counts: ReturnType<typeof zeroCounts>;
  failures: ReplicationFailure[];
  changes: ReplicationChange[];
  steps: { name: ReplicationStep; durationMs: number; message: string }[];
  apiHosts: ReferrersApiHosts;
  emit(event: ReplicationEvent): void;
}

function reasonOf(error: unknown): Reason {
  const reason = (error as { reason?: unknown } | null)?.reason;
  return isReason(reason) ? reason : 'SignaturesNotReplicated';
}

async function step<T>(run: Run, name: ReplicationStep, total: number, work: (tick: () => void) => Promise<{ value: T; message: string }>): Promise<T> {
  run.emit({ type: 'stepStarted', step: name, total });
  const started = performance.now();
  let done = 0;
  const { value, message } = await work(() => run.emit({ type: 'progress', step: name, done: ++done, total, counts: { ...run.counts } }));
  const durationMs = Math.round(performance.now() - started);
  run.steps.push({ name, durationMs, message });
  run.emit({ type: 'stepFinished', step: name, durationMs, message });
  return value;
}

/** Tag listings of `repos`, `listConcurrency` at a time per host: a set per repository, or the error. */
async function listAll(run: Run, repos: Repository[], tick: () => void): Promise<Map<string, TagListing | Error>> {
  const out = new Map<string, TagListing | Error>();
  await forEachLimitBy(repos, (r) => r.host, run.options.listConcurrency, async (repo) => {
    try {
      const list = await run.client.readTagListOrEmpty(repo, { signal: run.signal });
      out.set(key(repo), new TagListing(list.tags, list.digests));
    } catch (error) {
      run.signal.throwIfAborted();
      out.set(key(repo), error as Error);
    }
    tick();
  });
  return out;
}

function uniqueRepos(repos: Iterable<Repository>): Repository[] {
  const byKey = new Map<string, Repository>();
  for (const repo of repos) byKey.set(key(repo), repo);
  return [...byKey.values()];
}

/** Whatever a repository that could not be listed meant for its pairs: all failed, one failure entry. */
function repoFailed(run: Run, repo: Repository, error: Error, pairs: number): void {
  run.counts.failed += pairs;
  run.failures.push({ repository: key(repo), digest: '', reason: reasonOf(error), message: `listing ${key(repo)} failed: ${describeError(error)}` });
}

/**
 * Index children signed on their own: tags of digests the manifests do not name, in a primary
 * repository, are looked for among the images of the repository's signed indexes.
 */
async function signedChildren(run: Run, repo: Repository, tags: ReadonlySet<string>, targets: ReplicationTarget[], holdings: Map<ReplicationTarget, Holdings>): Promise<ReplicationTarget[]> {
  const covered = new Set(targets.map((t) => t.digest));
  const orphans = new Set<string>();
  for (const tag of tags) {
    const subject = subjectOfTag(tag);
    if (subject && !covered.has(subject)) orphans.add(subject);
  }
  if (orphans.size === 0) return [];
  const children: ReplicationTarget[] = [];
  await forEachLimit(targets.filter((t) => holdings.has(t)), run.options.listConcurrency, async (parent) => {
    if (orphans.size === 0) return;
    try {
      const manifest = await run.client.getManifest(repo, parent.digest, { signal: run.signal });
      if (!isIndex(manifest.mediaType)) return;
      for (const child of parseManifest(manifest.bytes, manifest.mediaType).manifests) {
        if (!orphans.delete(child.digest)) continue;
        const target: ReplicationTarget = { digest: child.digest, primary: repo, mirrors: parent.mirrors, tags: [], parent };
        const found = { tags: artifactTags(child.digest, tags, run.options.formats) };
        if (holdsAnything(found)) {
          holdings.set(target, found);
          children.push(target);
        }
      }
    } catch (error) {
      run.signal.throwIfAborted();
      run.failures.push({ repository: key(repo), digest: parent.digest, reason: reasonOf(error), message: `reading index ${key(repo)}@${parent.digest} for its signed images failed: ${describeError(error)}` });
    }
  });
  return children;
}

/** ListPrimary: what the primary holds for each target; the targets that hold anything, with index children added. */
async function listPrimary(run: Run, targets: readonly ReplicationTarget[]): Promise<{ signed: ReplicationTarget[]; holdings: Map<ReplicationTarget, Holdings> }> {
  const repos = uniqueRepos(targets.map((t) => t.primary));
  return step(run, 'ListPrimary', repos.length, async (tick) => {
    const listed = await listAll(run, repos, tick);
    const holdings = new Map<ReplicationTarget, Holdings>();
    const byRepo = new Map<string, ReplicationTarget[]>();
    const apiReads: ReplicationTarget[] = [];
    for (const target of targets) {
      const tags = listed.get(key(target.primary))!;
      if (tags instanceof Error) continue;
      let list = byRepo.get(key(target.primary));
      if (!list) byRepo.set(key(target.primary), list = []);
      list.push(target);
      const found: Holdings = { tags: artifactTags(target.digest, tags, run.options.formats), ...(tags.digests && { digests: tags.digests }) };
      if (holdsAnything(found)) holdings.set(target, found);
      if (run.options.formats.includes('bundle')) apiReads.push(target);
    }
    for (const repo of repos) {
      const tags = listed.get(key(repo))!;
      if (tags instanceof Error) repoFailed(run, repo, tags, targets.filter((t) => key(t.primary) === key(repo)).reduce((n, t) => n + t.mirrors.length, 0));
    }
    // A primary serving the referrers API keeps bundles out of its listing: ask it per digest.
    await forEachLimitBy(apiReads, (t) => t.primary.host, run.options.listConcurrency, async (target) => {
      try {
        if (!(await run.apiHosts.serves(target.primary, target.digest))) return;
        const referrers = await run.client.referrers(target.primary, target.digest, { signal: run.signal });
        if (referrers.length === 0) return;
        holdings.set(target, { tags: holdings.get(target)?.tags ?? [], referrers });
      } catch (error) {
        run.signal.throwIfAborted();
        run.counts.failed += target.mirrors.length;
        run.failures.push({ repository: key(target.primary), digest: target.digest, reason: reasonOf(error), message: `reading the referrers of ${key(target.primary)}@${target.digest} failed: ${describeError(error)}` });
      }
    });
    const children: ReplicationTarget[] = [];
    for (const [name, list] of byRepo) children.push(...await signedChildren(run, list[0]!.primary, listed.get(name) as TagListing, list, holdings));
    run.counts.digests = targets.length + children.length;
    const signed = [...targets, ...children].filter((t) => holdings.has(t));
    run.counts.signed = signed.length;
    run.counts.unsigned = run.counts.digests - signed.length;
    return { value: { signed, holdings }, message: `${repos.length} primary repositories listed: ${signed.length} of ${run.counts.digests} digests carry signatures or attestations` };
  });
}

/** ListMirrors: one listing per mirror repository that has a signed digest to receive. */
async function listMirrors(run: Run, signed: ReplicationTarget[]): Promise<Map<string, TagListing | Error>> {
  const repos = uniqueRepos(signed.flatMap((t) => t.mirrors));
  return step(run, 'ListMirrors', repos.length, async (tick) => {
    const listed = await listAll(run, repos, tick);
    const failed = [...listed.values()].filter((v) => v instanceof Error).length;
    return { value: listed, message: `${repos.length} mirror repositories listed${failed ? `, ${failed} failed` : ''}` };
  });
}

function record(run: Run, target: ReplicationTarget, mirror: Repository, result: Awaited<ReturnType<typeof replicatePair>>): void {
  const c = run.counts;
  c.mirrors += 1;
  if (result.state === 'inSync') { c.inSync += 1; return; }
  if (result.state === 'repaired') {
    c.repaired += 1;
    c.artifacts += result.artifacts.length;
    run.changes.push({ repository: key(mirror), digest: target.digest, artifacts: result.artifacts });
  } else if (result.state === 'notPromoted') c.notPromoted += 1;
  else {
    c[result.state] += 1;
    if (result.artifacts.length > 0) {
      c.artifacts += result.artifacts.length;
      run.changes.push({ repository: key(mirror), digest: target.digest, artifacts: result.artifacts });
    }
    run.failures.push({ repository: key(mirror), digest: target.digest, reason: result.reason ?? 'SignaturesNotReplicated', message: result.detail ?? '' });
  }
  run.emit({
    type: 'pair', mirror, digest: target.digest, state: result.state, artifacts: result.artifacts,
    ...(result.reason && { reason: result.reason }), ...(result.detail && { detail: result.detail }),
  });
}

/** Copy: each signed digest to each of its mirrors, the primary read once per digest. */
async function copy(run: Run, signed: ReplicationTarget[], holdings: Map<ReplicationTarget, Holdings>, mirrorTags: Map<string, TagListing | Error>): Promise<void> {
  const ctx: PairContext = {
    client: run.client, writer: new MirrorWriter(run.client, run.signal), apiHosts: run.apiHosts,
    check: run.options.check, dryRun: run.options.dryRun, signal: run.signal,
  };
  const failedRepos = new Set<string>();
  await step(run, 'Copy', signed.length, async (tick) => {
    await forEachLimit(signed, run.options.concurrency, async (target) => {
      const reader = new PrimaryReader(run.client, target.primary, run.signal);
      await forEachLimit(target.mirrors, mirrorsAtOnce, async (mirror) => {
        const tags = mirrorTags.get(key(mirror));
        if (tags === undefined || tags instanceof Error) {
          // Counted once per pair; the repository's failure is recorded once.
          if (tags && !failedRepos.has(key(mirror))) {
            failedRepos.add(key(mirror));
            repoFailed(run, mirror, tags, 0);
          }
          run.counts.mirrors += 1;
          run.counts.failed += 1;
          return;
        }
        record(run, target, mirror, await replicatePair(ctx, target, holdings.get(target)!, reader, mirror, tags));
      });
      tick();
    });
    const c = run.counts;
    return { value: undefined, message: `${c.mirrors} mirror copies: ${c.inSync} in sync, ${c.repaired} ${run.options.dryRun ? 'to repair' : 'repaired'}, ${c.notPromoted} not promoted there, ${c.diverged} diverged, ${c.failed} failed` };
  });
}

/** Replicates what the primary holds for `targets` to their mirrors. */
export async function replicateTargets(targets: readonly ReplicationTarget[], client: RegistryClient, options: ReplicationOptions = {}, problems: readonly CoverageProblem[] = []): Promise<ReplicationReport> {
  const started = performance.now();
  const requestsBefore = client.stats.count();
  const signal = options.signal ?? new AbortController().signal;
  const run: Run = {
    client, signal,
    options: { formats: ['legacy', 'bundle'], check: 'Presence', dryRun: false, listConcurrency: 16, concurrency: 16, ...options },
    counts: zeroCounts(), failures: problems.map((p) => ({ repository: p.manifest, digest: '', reason: p.reason, message: p.message })),
    changes: [], steps: [],
    apiHosts: new ReferrersApiHosts(options.referrersApi ?? ((repo, digest) => servesReferrersApi(client, repo, digest, signal))),
    emit: (event) => options.onEvent?.(event),
  };
  for (const [name, value] of [['listConcurrency', run.options.listConcurrency], ['concurrency', run.options.concurrency]] as const) {
    if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`${name} must be a whole number of at least 1, got ${value}`);
  }
  run.counts.digests = targets.length;
  if (targets.length > 0) {
    const { signed, holdings } = await listPrimary(run, targets);
    signal.throwIfAborted();
    const mirrorTags = await listMirrors(run, signed);
    signal.throwIfAborted();
    await copy(run, signed, holdings, mirrorTags);
  }
  return finish({
    dryRun: run.options.dryRun, counts: run.counts, steps: run.steps, failures: run.failures, changes: run.changes, problems,
    requests: client.stats.count() - requestsBefore, durationMs: Math.round(performance.now() - started),
  });
}

/** A PromotionManifest as the replication sees it: its name and labels for selection, its promotion model. */
export interface ManifestInput {
  name: string;
  labels?: Record<string, string>;
  spec: PromotionSpec;
  /**
   * Why this manifest, if covered, cannot be used (its spec refused, its credentials missing):
   * it is reported, its digests are left out, and the other manifests go on.
   */
  problem?: { reason: Reason; message: string };
}

/**
 * The entry point of a SignatureReplication: the manifests of its namespace (`manifests`), of
 * which it covers those its spec names or selects, replicated from its primary to their mirrors.
 */
export async function runReplication(spec: SignatureReplicationSpec, manifests: readonly ManifestInput[], client: RegistryClient, options: Omit<ReplicationOptions, 'formats' | 'check'> = {}): Promise<ReplicationReport> {
  const { selected, problems: selection } = selectManifests(spec, manifests);
  const unusable = selected.flatMap((m) => (m.problem ? [{ manifest: m.name, ...m.problem }] : []));
  const { targets, problems } = buildTargets(selected.filter((m) => !m.problem).map((m) => ({ name: m.name, spec: m.spec })), spec.primary);
  return replicateTargets(targets, client, { ...options, formats: spec.formats, check: spec.check }, [...selection, ...unusable, ...problems]);
}

