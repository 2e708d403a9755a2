// What the destination registries held when last looked at, kept from one run to the next so a
// rerun with nothing new costs one tag list per repository instead of a HEAD per tag:
// - tag -> digest, with when it was read (or written by us); a tag's digest is believed for a
//   verification interval, then read again;
// - untagged digests seen in a repository, likewise;
// - marks: "everything Sign and Attest want for this digest was in this repository", under a
//   key naming the signing settings, with the attestation's digest for the status;
// - an index's children (content-addressed: never stale) and whether a host serves the
//   referrers API.
//
// It is only ever consulted together with a fresh tag list of the same repository, read with the
// caller's own credentials: a tag no longer listed is forgotten (a deleted tag is caught on the
// next run), a tag newly listed is read, and only a tag listed both times keeps its digest. So
// the inventory never tells a run anything about a repository its credentials cannot list, and
// what it can get wrong is bounded: a tag moved to another digest within the verification
// interval reads as unchanged until the interval passes (docs/operations.md). Writes never rely
// on it: Promote reads every tag again right before writing it.
//
// Bounded: at most `maxEntries` facts; the repositories used longest ago are forgotten first.
import { digestPattern } from '../api/reference.ts';

export interface TagFact {
  readonly digest: string;
  /** Epoch milliseconds when it was read or written. */
  readonly at: number;
}

export interface AttachmentMark {
  /** The signing settings the mark was made under (signer, formats, attestation on or off). */
  key: string;
  at: number;
  /** Digest of our promotion attestation's manifest in that repository, for the status. */
  attestation?: string;
  /** The digest is an index: the marks covers its images too (their digests: Inventory.children). */
  index?: boolean;
}

interface RepositoryFacts {
  tags: Map<string, TagFact>;
  /** Untagged digests seen there: digest -> when. */
  present?: Map<string, number>;
  marks?: Map<string, AttachmentMark>;
  size: number;
}

export interface InventoryOptions {
  /** Facts kept at most (tags, digests and marks together); 0 keeps none. Default 2,000,000 (~250 MiB at most). */
  maxEntries?: number;
  /** Index children kept at most, by digest. Default 100,000. */
  maxIndexes?: number;
  now?: () => number;
}

export class Inventory {
  readonly #repos = new Map<string, RepositoryFacts>();
  readonly #children = new Map<string, readonly string[]>();
  readonly #referrersApi = new Map<string, boolean>();
  readonly #maxEntries: number;
  readonly #maxIndexes: number;
  readonly #now: () => number;
  #entries = 0;
  /** Facts of one time, shared by every tag they describe (one digest has many tags in many repositories). */
  #facts = new Map<string, TagFact>();
  #factsAt = Number.NaN;

  constructor(options: InventoryOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 2_000_000;
    this.#maxIndexes = options.maxIndexes ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** Facts it holds at most. */
  get capacity(): number {
    return this.#maxEntries;
  }

  /** Facts held now (tags, digests and marks). */
  get size(): number {
    return this.#entries;
  }

  now(): number {
    return this.#now();
  }

  /** What `tag` in `repository` (`host/name`) pointed at when last read or written. */
  tag(repository: string, tag: string): TagFact | undefined {
    return this.#repos.get(repository)?.tags.get(tag);
  }

  setTag(repository: string, tag: string, digest: string, at = this.#now()): void {
    if (this.#maxEntries === 0) return;
    const repo = this.#repo(repository);
    const before = repo.tags.size;
    repo.tags.set(tag, this.#fact(digest, at));
    this.#grew(repo, repo.tags.size - before);
  }

  #fact(digest: string, at: number): TagFact {
    if (at !== this.#factsAt) {
      this.#facts = new Map();
      this.#factsAt = at;
    }
    let fact = this.#facts.get(digest);
    if (!fact) this.#facts.set(digest, fact = Object.freeze({ digest, at }));
    return fact;
  }

  deleteTag(repository: string, tag: string): void {
    const repo = this.#repos.get(repository);
    if (repo?.tags.delete(tag)) this.#grew(repo, -1);
  }

  /**
   * After a tag list of `repository`: tags it no longer lists are forgotten (marks stay: their
   * attachment tags are checked against the list by whoever reads them). Also makes the
   * repository the most recently used, the last to be forgotten.
   */
  listed(repository: string, isListed: (tag: string) => boolean): void {
    const repo = this.#repos.get(repository);
    if (!repo) return;
    this.#repos.delete(repository);
    this.#repos.set(repository, repo);
    let removed = 0;
    for (const tag of repo.tags.keys()) {
      if (!isListed(tag)) {
        repo.tags.delete(tag);
        removed += 1;
      }
    }
    this.#grew(repo, -removed);
  }

  /** When an untagged `digest` was last seen in `repository`. */
  seen(repository: string, digest: string): number | undefined {
    return this.#repos.get(repository)?.present?.get(digest);
  }

  setSeen(repository: string, digest: string, at = this.#now()): void {
    if (this.#maxEntries === 0) return;
    const repo = this.#repo(repository);
    repo.present ??= new Map();
    const had = repo.present.has(digest);
    repo.present.set(digest, at);
    if (!had) this.#grew(repo, 1);
  }

  deleteSeen(repository: string, digest: string): void {
    const repo = this.#repos.get(repository);
    if (repo?.present?.delete(digest)) this.#grew(repo, -1);
  }

  mark(repository: string, digest: string): AttachmentMark | undefined {
    return this.#repos.get(repository)?.marks?.get(digest);
  }

  setMark(repository: string, digest: string, mark: AttachmentMark): void {
    if (this.#maxEntries === 0) return;
    const repo = this.#repo(repository);
    repo.marks ??= new Map();
    const had = repo.marks.has(digest);
    repo.marks.set(digest, mark);
    if (!had) this.#grew(repo, 1);
  }

  deleteMark(repository: string, digest: string): void {
    const repo = this.#repos.get(repository);
    if (repo?.marks?.delete(digest)) this.#grew(repo, -1);
  }

  /** The children of an index, if known. Content-addressed: never stale. */
  children(digest: string): readonly string[] | undefined {
    return this.#children.get(digest);
  }

  setChildren(digest: string, children: readonly string[]): void {
    if (!digestPattern.test(digest) || !children.every((c) => digestPattern.test(c))) return;
    this.#children.delete(digest);
    this.#children.set(digest, Object.freeze([...children]));
    if (this.#children.size > this.#maxIndexes) this.#children.delete(this.#children.keys().next().value!);
  }

  /** Whether `host` serves the OCI referrers API, as far as seen. */
  referrersApi(host: string): boolean | undefined {
    return this.#referrersApi.get(host);
  }

  setReferrersApi(host: string, serves: boolean): void {
    this.#referrersApi.set(host, serves);
  }

  /**
   * Everything as lines of JSON (see inventory-file.ts): a header with the digests and keys the
   * rest names by index, then one line per repository, so a registry.k8s.io-sized inventory is
   * written and read a repository at a time, never as one document.
   */
  *lines(): Generator<string> {
    const digests = new Map<string, number>();
    const keys = new Map<string, number>();
    const index = (table: Map<string, number>, value: string) => {
      let i = table.get(value);
      if (i === undefined) table.set(value, i = table.size);
      return i;
    };
    for (const repo of this.#repos.values()) {
      for (const fact of repo.tags.values()) index(digests, fact.digest);
      for (const d of repo.present?.keys() ?? []) index(digests, d);
      for (const [d, m] of repo.marks ?? []) {
        index(digests, d);
        index(keys, m.key);
        if (m.attestation !== undefined) index(digests, m.attestation);
      }
    }
    const children: InventoryHeader['children'] = [...this.#children].map(([d, c]) => [index(digests, d), c.map((x) => index(digests, x))]);
    const header: InventoryHeader = { version: 2, digests: [...digests.keys()], keys: [...keys.keys()], children, referrersApi: Object.fromEntries(this.#referrersApi) };
    yield JSON.stringify(header);
    for (const [name, repo] of this.#repos) {
      const line: InventoryLine = { r: name, t: [...repo.tags].map(([tag, fact]) => [tag, digests.get(fact.digest)!, fact.at]) };
      if (repo.present) line.p = [...repo.present].map(([d, at]) => [digests.get(d)!, at]);
      if (repo.marks) line.m = [...repo.marks].map(([d, m]) => [digests.get(d)!, keys.get(m.key)!, m.at, m.attestation === undefined ? -1 : digests.get(m.attestation)!, m.index ? 1 : 0]);
      yield JSON.stringify(line);
    }
  }

  /** Adds what `lines` hold (from lines()); throws InventoryDataError when they are not an inventory. */
  import(lines: Iterable<string>): void {
    let header: InventoryHeader | undefined;
    for (const text of lines) {
      if (text === '') continue;
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch {
        throw new InventoryDataError('a line is not JSON');
      }
      if (header === undefined) {
        header = checkHeader(data);
        for (const c of header.children) {
          if (!Array.isArray(c) || !Array.isArray(c[1])) throw new InventoryDataError('an index entry is malformed');
          this.setChildren(entryOf(header.digests, c[0], 'digest'), c[1].map((x) => entryOf(header!.digests, x, 'digest')));
        }
        for (const [host, serves] of Object.entries(header.referrersApi)) if (typeof serves === 'boolean') this.setReferrersApi(host, serves);
      } else this.#importLine(header, data);
    }
    if (header === undefined) throw new InventoryDataError('it is empty');
  }

  #importLine(header: InventoryHeader, data: unknown): void {
    const line = data as Partial<InventoryLine> | null;
    if (typeof line?.r !== 'string' || !Array.isArray(line.t)) throw new InventoryDataError('a repository line is malformed');
    const name = line.r;
    const digest = (i: unknown) => entryOf(header.digests, i, 'digest');
    for (const t of line.t) {
      if (!Array.isArray(t) || typeof t[0] !== 'string' || !isTime(t[2])) throw new InventoryDataError(`a tag of ${name.slice(0, 80)} is malformed`);
      this.setTag(name, t[0], digest(t[1]), t[2]);
    }
    for (const p of line.p ?? []) {
      if (!Array.isArray(p) || !isTime(p[1])) throw new InventoryDataError(`a digest of ${name.slice(0, 80)} is malformed`);
      this.setSeen(name, digest(p[0]), p[1]);
    }
    for (const m of line.m ?? []) {
      if (!Array.isArray(m) || !isTime(m[2])) throw new InventoryDataError(`a mark of ${name.slice(0, 80)} is malformed`);
      this.setMark(name, digest(m[0]), { key: entryOf(header.keys, m[1], 'key'), at: m[2], ...(m[3] !== -1 && { attestation: digest(m[3]) }), ...(m[4] === 1 && { index: true }) });
    }
  }

  #repo(repository: string): RepositoryFacts {
    let repo = this.#repos.get(repository);
    if (!repo) this.#repos.set(repository, repo = { tags: new Map(), size: 0 });
    return repo;
  }

  #grew(repo: RepositoryFacts, by: number): void {
    repo.size += by;
    this.#entries += by;
    if (by <= 0) return;
    for (const [name, oldest] of this.#repos) {
      if (this.#entries <= this.#maxEntries || oldest === repo) break;
      this.#repos.delete(name);
      this.#entries -= oldest.size;
    }
  }
}

/** The first line of an inventory's lines: the digests and keys the other lines name by index. */
interface InventoryHeader {
  version: 2;
  digests: string[];
  keys: string[];
  /** [index digest index, [child digest index...]] */
  children: [number, number[]][];
  referrersApi: Record<string, boolean>;
}

/** One repository's line. */
interface InventoryLine {
  r: string;
  /** [tag, digest index, at] */
  t: [string, number, number][];
  /** [digest index, at] */
  p?: [number, number][];
  /** [digest index, key index, at, attestation digest index or -1, 1 for an index] */
  m?: [number, number, number, number, number][];
}

export class InventoryDataError extends Error {}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function entryOf(table: string[], i: unknown, what: string): string {
  const value = typeof i === 'number' ? table[i] : undefined;
  if (value === undefined) throw new InventoryDataError(`${what} index ${String(i)} is out of range`);
  return value;
}

function checkHeader(data: unknown): InventoryHeader {
  const d = data as Partial<InventoryHeader> | null;
  if (typeof d !== 'object' || d === null || d.version !== 2) throw new InventoryDataError('not a version 2 inventory');
  if (!Array.isArray(d.digests) || !d.digests.every((x) => typeof x === 'string' && digestPattern.test(x))) throw new InventoryDataError('its digests are not all sha256 digests');
  if (!Array.isArray(d.keys) || !d.keys.every((x) => typeof x === 'string')) throw new InventoryDataError('its keys are not strings');
  if (!Array.isArray(d.children)) throw new InventoryDataError('it has no index list');
  if (typeof d.referrersApi !== 'object' || d.referrersApi === null) throw new InventoryDataError('it has no host list');
  return d as InventoryHeader;
}
