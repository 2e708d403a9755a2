// Plan: read what the registries hold and classify every edge.
//
// Reads are pipelined per registry host: each host has its own queue and its own budget of
// reads at once (planConcurrency), under its own limiter, and nothing waits for another host.
// A destination repository's tag list is read first; the tags the edges name that it lists are
// then resolved from the list itself (Google's lists carry digests), from the inventory of an
// earlier run (while the verification interval lasts), or by a HEAD. Staging is read only for
// digests some destination lacks, as soon as one is found lacking, so a steady state costs no
// staging read at all. A host that cannot be reached costs only its own edges: once one of its
// reads has given up on the connection, the rest of its reads fail at once with that reason.
//
// The data is compact for registry.k8s.io's ~400,000 edges: repositories and sources are
// interned to indices, per-edge facts live in typed arrays, queues hold indices rather than
// closures, and each edge is classified once at the end.
import { formatReference, formatRepository, type Repository } from '../../api/reference.ts';
import type { Reason } from '../../api/reasons.ts';
import { RegistryError, type HostLimiter, type TagList } from '../../registry/index.ts';
import { attachmentKey, attachmentsComplete, attestationsFromMarks } from '../attachments.ts';
import { Listings, splitListing } from '../listings.ts';
import { describeFailureGroups, failureGroups } from '../outcome.ts';
import { EdgeOutcome, type Edge, type Phase, type ReadFailure, type RunContext, type TagConflict } from '../types.ts';

export type { ReadFailure };

const defaultVerifyIntervalMs = 24 * 3600_000;

/** A destination repository of the run and what Plan learnt of it. */
interface DestinationRepository {
  readonly repo: Repository;
  readonly key: string;
  /** Indices of the edges into this repository. */
  readonly edges: number[];
  listed: boolean;
  failure?: ReadFailure;
  /**
   * Named tags that exist -> their digest. Unused when the inventory keeps them (PlanReads
   * .byInventory): one store of a registry.k8s.io-sized plan's 560,000 tags, not two.
   */
  readonly tags: Map<string, string>;
  tagFailures?: Map<string, ReadFailure>;
  /** Untagged digests: present or not, or why reading failed. */
  untagged?: Map<string, boolean | ReadFailure>;
  /** Reads still to make here: a tag (string) or the index of an untagged edge (number). */
  pending: (string | number)[];
  next: number;
}

/** One host's reads waiting to go: indices into the plan's tables. */
interface HostQueue {
  readonly host: string;
  /** The host's limiter (undefined for a client without one, in unit tests). */
  readonly limiter: HostLimiter | undefined;
  listings: number[];
  listingsNext: number;
  sources: number[];
  sourcesNext: number;
  /** Destination repositories with pending tag or digest reads, in the order they became ready. */
  repos: number[];
  reposNext: number;
  active: number;
  /** Set once a read here gave up on reaching the host: the rest fail with it, unsent. */
  down?: ReadFailure;
}

/** Reads of a host kept waiting in its limiter at most, beyond those in flight. */
const readsAhead = 2;

const SourceState = { unread: 0, queued: 1, present: 2, absent: 3, failed: 4 } as const;

/** Reasons that say the host itself cannot be reached, as opposed to one repository's trouble. */
const hostDown = new Set<Reason>(['ConnectionFailed', 'Timeout']);

function failureOf(error: unknown): ReadFailure {
  return error instanceof RegistryError ? { reason: error.reason, message: error.message } : { reason: 'PlanFailed', message: (error as Error).message };
}

/** The whole plan's state: interned tables, per-edge facts, per-host queues. */
class PlanReads {
  readonly #ctx: RunContext;
  readonly #edges: readonly Edge[];
  readonly repos: DestinationRepository[] = [];
  readonly #repoIndex = new Map<string, number>();
  readonly #repoOfObject = new Map<Repository, number>();
  /** Per edge: its destination repository's index, and its source's. */
  readonly edgeRepo: Uint32Array;
  readonly edgeSource: Uint32Array;
  /** Per source (staging repository + digest). */
  readonly sourceEdge: number[] = [];
  sourceState: Uint8Array;
  readonly sourceFailures = new Map<number, ReadFailure>();
  readonly #sourceIndex = new Map<string, number>();
  /** The run's digest strings, so facts read from registries share them instead of holding copies. */
  readonly #digests = new Map<string, string>();
  readonly #hosts = new Map<string, HostQueue>();
  readonly #verifyMs: number;
  readonly #now: number;
  /**
   * The inventory holds every tag fact this plan reads or trusts, and has room to spare for all
   * of them (twice over: a controller's runs share it), so it forgets none of this run's
   * repositories before Plan is done (it forgets those listed longest ago first), and Plan reads
   * them back from it instead of keeping a copy.
   */
  readonly byInventory: boolean;
  #active = 0;
  #reads = 0;
  #listed = 0;
  #progressAt = performance.now();
  #done: (() => void) | undefined;
  #fail: ((error: unknown) => void) | undefined;

  constructor(ctx: RunContext) {
    this.#ctx = ctx;
    this.#edges = ctx.edges;
    this.#verifyMs = ctx.options.verifyIntervalMs ?? defaultVerifyIntervalMs;
    this.#now = ctx.client.inventory.now();
    const n = ctx.edges.length;
    this.edgeRepo = new Uint32Array(n);
    this.edgeSource = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const { src, dst, digest } = ctx.edges[i]!;
      this.#digests.set(digest, digest);
      this.edgeRepo[i] = this.#destination(dst);
      this.repos[this.edgeRepo[i]!]!.edges.push(i);
      const sourceKey = `${src.host}/${src.name}@${digest}`;
      let s = this.#sourceIndex.get(sourceKey);
      if (s === undefined) {
        this.#sourceIndex.set(sourceKey, s = this.sourceEdge.length);
        this.sourceEdge.push(i);
      }
      this.edgeSource[i] = s;
    }
    this.#sourceIndex.clear();
    this.sourceState = new Uint8Array(this.sourceEdge.length);
    let facts = 0;
    for (const repo of this.repos) {
      const named = new Set<string>();
      for (const e of repo.edges) for (const tag of ctx.edges[e]!.tags) named.add(tag);
      facts += named.size + repo.edges.length;
    }
    this.byInventory = ctx.client.inventory.capacity - ctx.client.inventory.size >= 2 * facts;
    this.repos.forEach((r, i) => this.#host(r.repo.host).listings.push(i));
  }

  #destination(dst: Repository): number {
    const known = this.#repoOfObject.get(dst);
    if (known !== undefined) return known;
    const key = formatRepository(dst);
    let index = this.#repoIndex.get(key);
    if (index === undefined) {
      this.#repoIndex.set(key, index = this.repos.length);
      this.repos.push({ repo: dst, key, edges: [], listed: false, tags: new Map(), pending: [], next: 0 });
    }
    this.#repoOfObject.set(dst, index);
    return index;
  }

  #host(host: string): HostQueue {
    let queue = this.#hosts.get(host);
    if (!queue) {
      queue = { host, limiter: this.#ctx.client.transport?.limiters.for(host), listings: [], listingsNext: 0, sources: [], sourcesNext: 0, repos: [], reposNext: 0, active: 0 };
      this.#hosts.set(host, queue);
    }
    return queue;
  }

  /** The run's own string for `digest` when it has one. */
  intern = (digest: string): string => this.#digests.get(digest) ?? digest;

  /** The digest of named `tag` in `repo` as read or trusted by this plan; undefined: it does not exist. */
  tagDigest(repo: DestinationRepository, tag: string): string | undefined {
    return this.byInventory ? this.#ctx.client.inventory.tag(repo.key, tag)?.digest : repo.tags.get(tag);
  }

  #fresh(at: number): boolean {
    return this.#now - at < this.#verifyMs;
  }

  /** Runs every read, each host at its own pace; resolves when none is left. */
  run(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#done = resolve;
      this.#fail = reject;
      for (const queue of this.#hosts.values()) this.#pump(queue);
      this.#settle();
    });
  }

  /** Reads the sources of lacking edges not read yet (a tag gone between its list and its HEAD). */
  async catchUp(lacking: (edge: number) => boolean): Promise<void> {
    let more = false;
    for (let e = 0; e < this.#edges.length; e++) {
      if (this.sourceState[this.edgeSource[e]!] === SourceState.unread && lacking(e)) {
        this.#needSource(e);
        more = true;
      }
    }
    if (more) await this.run();
  }

  #settle(): void {
    if (this.#active > 0) return;
    for (const q of this.#hosts.values()) if (this.#hasWork(q)) return;
    this.#done?.();
  }

  #hasWork(q: HostQueue): boolean {
    return q.listingsNext < q.listings.length || q.sourcesNext < q.sources.length || q.reposNext < q.repos.length;
  }

  #pump(q: HostQueue): void {
    // Reads are made when the host's limiter is about to let them go, not queued there by the
    // hundred: a read waiting for a token holds its objects long enough to reach the old
    // generation, and a registry.k8s.io-sized plan's heap then grows with garbage.
    while (q.active < this.#ctx.options.planConcurrency && (q.active === 0 || (q.limiter?.waiting ?? 0) < readsAhead)) {
      const read = this.#take(q);
      if (!read) return;
      q.active += 1;
      this.#active += 1;
      read().then(() => {
        q.active -= 1;
        this.#active -= 1;
        this.#reads += 1;
        this.#progress();
        this.#pump(q);
        this.#settle();
      }, (error: unknown) => this.#fail?.(error));
    }
  }

  #progress(): void {
    const now = performance.now();
    if (now - this.#progressAt < 500) return;
    this.#progressAt = now;
    this.#ctx.emit({ type: 'planProgress', reads: this.#reads, repositories: this.repos.length, listed: this.#listed });
  }

  /** The next read of a host: its lists first (they make the other reads), then staging, then tags. */
  #take(q: HostQueue): (() => Promise<void>) | undefined {
    if (q.listingsNext < q.listings.length) {
      const r = q.listings[q.listingsNext++]!;
      return () => this.#guard(q, () => this.#list(r), (why) => this.#unlisted(r, why));
    }
    if (q.sourcesNext < q.sources.length) {
      const s = q.sources[q.sourcesNext++]!;
      return () => this.#guard(q, () => this.#readSource(s), (why) => {
        this.sourceState[s] = SourceState.failed;
        this.sourceFailures.set(s, why);
      });
    }
    while (q.reposNext < q.repos.length) {
      const r = q.repos[q.reposNext]!;
      const repo = this.repos[r]!;
      if (repo.next >= repo.pending.length) {
        q.reposNext += 1;
        repo.pending = [];
        repo.next = 0;
        continue;
      }
      const item = repo.pending[repo.next++]!;
      return typeof item === 'string'
        ? () => this.#guard(q, () => this.#readTag(repo, item), (why) => (repo.tagFailures ??= new Map()).set(item, why))
        : () => this.#guard(q, () => this.#readUntagged(repo, item), (why) => (repo.untagged ??= new Map()).set(this.#edges[item]!.digest, why));
    }
    // Drained queues give their memory back.
    if (q.listingsNext === q.listings.length) {
      q.listings = [];
      q.listingsNext = 0;
    }
    if (q.reposNext === q.repos.length) {
      q.repos = [];
      q.reposNext = 0;
    }
    return undefined;
  }

  /** A read whose failure is recorded rather than thrown (unless the run is aborted); a host found down fails the rest unsent. */
  async #guard(q: HostQueue, read: () => Promise<void>, onError: (why: ReadFailure) => void): Promise<void> {
    if (q.down) return onError(q.down);
    try {
      await read();
    } catch (error) {
      this.#ctx.signal.throwIfAborted();
      const why = failureOf(error);
      if (hostDown.has(why.reason) && !q.down) q.down = { reason: why.reason, message: `${why.message}; the other reads of ${q.host} were not sent` };
      onError(why);
    }
  }

  #unlisted(r: number, why: ReadFailure): void {
    const repo = this.repos[r]!;
    repo.failure = why;
    this.#ctx.listings.set(repo.key, why);
  }

  async #list(r: number): Promise<void> {
    const repo = this.repos[r]!;
    const list = await this.#ctx.client.readTagListOrEmpty(repo.repo, { signal: this.#ctx.signal });
    this.#listed += 1;
    this.#onListed(r, list);
  }

  /** A repository's list is in: resolve what it can answer, queue the reads it cannot, ask staging about what is missing. */
  #onListed(r: number, list: TagList): void {
    const repo = this.repos[r]!;
    const inventory = this.#ctx.client.inventory;
    repo.listed = true;
    const listed = new Set(list.tags);
    // The list keeps the edges' own tag strings where it can, not a second copy of each.
    const named = new Map<string, string>();
    for (const e of repo.edges) for (const tag of this.#edges[e]!.tags) named.set(tag, tag);
    this.#ctx.listings.set(repo.key, splitListing(list.tags, this.intern, (tag) => named.get(tag) ?? tag));
    inventory.listed(repo.key, (tag) => listed.has(tag));
    // Digests and tags queued or resolved already: each is read once per repository.
    const queued = new Set<string>();
    for (const e of repo.edges) {
      const { digest, tags } = this.#edges[e]!;
      let lacking = false;
      if (tags.length === 0) {
        // A list shows no untagged manifest (an empty list does not mean an empty repository).
        const seen = inventory.seen(repo.key, digest);
        if (seen !== undefined && this.#fresh(seen)) (repo.untagged ??= new Map()).set(digest, true);
        else if (!queued.has(digest)) {
          queued.add(digest);
          repo.pending.push(e);
        }
      }
      for (const tag of tags) {
        if (!listed.has(tag)) {
          lacking = true;
          continue;
        }
        if (queued.has(tag)) continue;
        queued.add(tag);
        const fromList = list.digests?.get(tag);
        if (fromList !== undefined) {
          if (!this.byInventory) repo.tags.set(tag, this.intern(fromList));
          inventory.setTag(repo.key, tag, this.intern(fromList), this.#now);
          continue;
        }
        const fact = inventory.tag(repo.key, tag);
        if (fact !== undefined && this.#fresh(fact.at)) {
          if (!this.byInventory) repo.tags.set(tag, fact.digest);
        } else repo.pending.push(tag);
      }
      if (lacking) this.#needSource(e);
    }
    if (repo.pending.length > 0) {
      const q = this.#host(repo.repo.host);
      q.repos.push(r);
      this.#pump(q);
    }
  }

  async #readTag(repo: DestinationRepository, tag: string): Promise<void> {
    const head = await this.#ctx.client.headManifest(repo.repo, tag, { signal: this.#ctx.signal });
    const inventory = this.#ctx.client.inventory;
    if (head === undefined) {
      // Listed a moment ago, gone now: missing (the sources of its edges are read at the end).
      inventory.deleteTag(repo.key, tag);
      return;
    }
    const digest = this.intern(head.digest);
    if (!this.byInventory) repo.tags.set(tag, digest);
    inventory.setTag(repo.key, tag, digest, this.#now);
  }

  async #readUntagged(repo: DestinationRepository, e: number): Promise<void> {
    const { digest } = this.#edges[e]!;
    const present = (await this.#ctx.client.headManifest(repo.repo, digest, { signal: this.#ctx.signal })) !== undefined;
    (repo.untagged ??= new Map()).set(digest, present);
    if (present) this.#ctx.client.inventory.setSeen(repo.key, digest, this.#now);
    else {
      this.#ctx.client.inventory.deleteSeen(repo.key, digest);
      this.#needSource(e);
    }
  }

  /** Staging is asked about the edge's digest, once, as soon as some destination lacks it. */
  #needSource(e: number): void {
    const s = this.edgeSource[e]!;
    if (this.sourceState[s] !== SourceState.unread) return;
    this.sourceState[s] = SourceState.queued;
    const q = this.#host(this.#edges[e]!.src.host);
    q.sources.push(s);
    this.#pump(q);
  }

  async #readSource(s: number): Promise<void> {
    const { src, digest } = this.#edges[this.sourceEdge[s]!]!;
    const present = (await this.#ctx.client.headManifest(src, digest, { signal: this.#ctx.signal })) !== undefined;
    this.sourceState[s] = present ? SourceState.present : SourceState.absent;
  }
}

/** What the destination says of an edge: 'present', 'lacking', a tag move, or why it could not be read. */
type DestinationVerdict = 'present' | 'lacking' | { conflicts: TagConflict[] } | ReadFailure;

function destinationVerdict(edge: Edge, repo: DestinationRepository, tagDigest: (tag: string) => string | undefined): DestinationVerdict {
  if (repo.failure) return repo.failure;
  const { digest, tags } = edge;
  if (tags.length === 0) {
    const present = repo.untagged?.get(digest);
    if (typeof present === 'object') return present;
    return present === true ? 'present' : 'lacking';
  }
  let conflicts: TagConflict[] | undefined;
  let missing = false;
  for (const tag of tags) {
    const failed = repo.tagFailures?.get(tag);
    if (failed) return failed;
    const current = tagDigest(tag);
    if (current === undefined) missing = true;
    else if (current !== digest) (conflicts ??= []).push({ tag, digest: current });
  }
  if (conflicts) return { conflicts };
  return missing ? 'lacking' : 'present';
}

const tagged = (repo: Repository, tag: string) => formatReference({ ...repo, tag });

/** Sets an edge's state from its destination's verdict and, when it lacks something, its source's. */
function classifyEdge(outcome: EdgeOutcome, verdict: DestinationVerdict, source: number, failure: ReadFailure | undefined): void {
  const { src, dst, digest } = outcome.edge;
  if (verdict === 'present') {
    outcome.state = 'present';
    return;
  }
  if (typeof verdict === 'object' && 'conflicts' in verdict) {
    outcome.end('tagMove', 'TagMoveRefused', verdict.conflicts.map((c) => `${tagged(dst, c.tag)} is ${c.digest}`).join('; '), verdict.conflicts);
    return;
  }
  if (typeof verdict === 'object') {
    outcome.end('failed', verdict.reason, `reading the destination failed: ${verdict.message}`);
    return;
  }
  if (source === SourceState.failed && failure) outcome.end('failed', failure.reason, `reading the source failed: ${failure.message}`);
  else if (source !== SourceState.present) outcome.end('lost', 'DigestNotFound', `${formatReference({ ...src, digest })} does not exist`);
  else outcome.state = 'promote';
}

/**
 * Two edges that would give one destination tag to two digests (two manifests in one run, or
 * registry prefixes that name the same repository) would move that tag between them: both are
 * refused, and the manifests must be fixed. Checked one destination repository at a time, so
 * the memory it takes is that of the largest repository, not of the whole run.
 */
export function refuseSharedTags(outcomes: readonly EdgeOutcome[]): void {
  const byRepository = new Map<string, EdgeOutcome[]>();
  for (const outcome of outcomes) {
    if ((outcome.state !== 'promote' && outcome.state !== 'present') || outcome.edge.tags.length === 0) continue;
    const key = formatRepository(outcome.edge.dst);
    let group = byRepository.get(key);
    if (!group) byRepository.set(key, group = []);
    group.push(outcome);
  }
  for (const group of byRepository.values()) {
    if (!group.some((o) => o.state === 'promote')) continue;
    const digestsByTag = new Map<string, Set<string>>();
    for (const { edge } of group) {
      for (const tag of edge.tags) {
        let digests = digestsByTag.get(tag);
        if (!digests) digestsByTag.set(tag, digests = new Set());
        digests.add(edge.digest);
      }
    }
    for (const outcome of group) {
      if (outcome.state !== 'promote') continue;
      const shared = outcome.edge.tags.filter((tag) => digestsByTag.get(tag)!.size > 1);
      if (shared.length === 0) continue;
      const detail = shared.map((tag) => {
        const digests = [...digestsByTag.get(tag)!];
        return `${tagged(outcome.edge.dst, tag)} is given to ${digests.length} digests in this run (${digests.map((d) => d.slice(0, 19)).join(', ')}); fix the manifests so one digest owns it`;
      }).join('; ');
      outcome.end('tagMove', 'TagMoveRefused', detail);
    }
  }
}

function planMessage(ctx: RunContext): { message: string; toPromote: number } {
  const counts = new Map<string, number>();
  for (const { state } of ctx.outcomes) counts.set(state, (counts.get(state) ?? 0) + 1);
  const count = (state: string) => counts.get(state) ?? 0;
  const parts = [`${ctx.outcomes.length} edges: ${count('promote')} to promote, ${count('present')} already present`];
  if (count('lost')) parts.push(`${count('lost')} lost`);
  if (count('tagMove')) parts.push(`${count('tagMove')} tag moves refused`);
  if (count('failed')) parts.push(`${count('failed')} unreadable`);
  return { message: parts.join(', '), toPromote: count('promote') };
}

/** The named tags of a repository that exist, with their digests: what Promote need not read again. */
function knownTags(reads: PlanReads, repo: DestinationRepository, edges: readonly Edge[]): Map<string, string> {
  const known = new Map<string, string>();
  for (const e of repo.edges) {
    for (const tag of edges[e]!.tags) {
      const digest = reads.tagDigest(repo, tag);
      if (digest !== undefined) known.set(tag, digest);
    }
  }
  return known;
}

/** Reads everything and classifies every edge into ctx.outcomes; ctx.listings and ctx.destinationTags are filled. */
export async function plan(ctx: RunContext): Promise<void> {
  ctx.listings = new Listings();
  const reads = new PlanReads(ctx);
  await reads.run();
  const verdict = (e: number) => {
    const repo = reads.repos[reads.edgeRepo[e]!]!;
    return destinationVerdict(ctx.edges[e]!, repo, (tag) => reads.tagDigest(repo, tag));
  };
  await reads.catchUp((e) => verdict(e) === 'lacking');
  ctx.outcomes = new Array<EdgeOutcome>(ctx.edges.length);
  ctx.destinationTags = new Map();
  // Repository by repository, so each one's tag facts are let go as soon as its edges are
  // classified (Promote keeps those of repositories it writes to): the peak is the larger of
  // the facts and the outcomes, not their sum.
  for (const repo of reads.repos) {
    let promote = false;
    for (const e of repo.edges) {
      const outcome = new EdgeOutcome(ctx.edges[e]!);
      const s = reads.edgeSource[e]!;
      classifyEdge(outcome, verdict(e), reads.sourceState[s]!, reads.sourceFailures.get(s));
      ctx.outcomes[e] = outcome;
      promote ||= outcome.state === 'promote';
    }
    if (promote && repo.listed) ctx.destinationTags.set(repo.key, knownTags(reads, repo, ctx.edges));
    repo.tags.clear();
    repo.tagFailures = undefined;
    repo.untagged = undefined;
  }
}

/** In a Promote run: the present edges whose destination lacks (or may lack) what Sign and Attest add. */
async function findAttachmentsDue(ctx: RunContext): Promise<void> {
  ctx.attachmentsDue = new Set();
  if (ctx.options.mode !== 'Promote') return;
  ctx.attachmentKey = await attachmentKey(ctx.options.trust);
  for (const outcome of ctx.outcomes) {
    if (outcome.state === 'present' && !attachmentsComplete(ctx, outcome.edge.dst, outcome.edge.digest)) ctx.attachmentsDue.add(outcome);
  }
}

export const planPhase: Phase = {
  name: 'Plan',
  failure: 'PlanFailed',
  async run(ctx: RunContext) {
    await plan(ctx);
    refuseSharedTags(ctx.outcomes);
    await findAttachmentsDue(ctx);
    const { message, toPromote } = planMessage(ctx);
    ctx.emit({ type: 'planned', edges: ctx.outcomes.length, toPromote, outcomes: ctx.outcomes });
    // Every read failed: the phase did not succeed, whatever it classified.
    if (ctx.outcomes.length > 0 && ctx.outcomes.every((o) => o.state === 'failed')) {
      return { message: `no edge could be read: ${describeFailureGroups(failureGroups(ctx.outcomes))}`, stop: 'failed', reason: 'PlanFailed' };
    }
    if (toPromote === 0) {
      // The run may end here: the status still names our attestations, from the marks.
      if (ctx.options.mode === 'Promote') attestationsFromMarks(ctx);
      return { message: `${message}; nothing to promote`, stop: 'done' };
    }
    return { message };
  },
};
