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
  digest: string;
  /** Epoch milliseconds when it was read or written. */
  at: number;
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

  constructor(options: InventoryOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 2_000_000;
    this.#maxIndexes = options.maxIndexes ?? 100_000;
    this.#now = options.now ?? Date.now;
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
    const fact = repo.tags.get(tag);
    if (fact) {
      fact.digest = digest;
      fact.at = at;
    } else repo.tags.set(tag, { digest, at });
    this.#grew(repo, repo.tags.size - before);
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

  /** Everything, in a compact plain form (see inventory-file.ts). */
  export(): InventoryData {
    const digests = new Map<string, number>();
    const keys = new Map<string, number>();
    const index = (table: Map<string, number>, value: string) => {
      let i = table.get(value);
      if (i === undefined) table.set(value, i = table.size);
      return i;
    };
    const repos: InventoryData['repos'] = {};
    for (const [name, repo] of this.#repos) {
      const entry: InventoryData['repos'][string] = { tags: [] };
      for (const [tag, fact] of repo.tags) entry.tags.push([tag, index(digests, fact.digest), fact.at]);
      if (repo.present) entry.present = [...repo.present].map(([d, at]) => [index(digests, d), at]);
      if (repo.marks) {
        entry.marks = [...repo.marks].map(([d, m]) => [index(digests, d), index(keys, m.key), m.at, m.attestation === undefined ? -1 : index(digests, m.attestation), m.index ? 1 : 0]);
      }
      repos[name] = entry;
    }
    const children: InventoryData['children'] = [...this.#children].map(([d, c]) => [index(digests, d), c.map((x) => index(digests, x))]);
    return {
      version: 1, digests: [...digests.keys()], keys: [...keys.keys()], repos, children,
      referrersApi: Object.fromEntries(this.#referrersApi),
    };
  }

  /** Adds what `data` holds; throws InventoryDataError when it is not an inventory. */
  import(data: unknown): void {
    const d = checkData(data);
    const digest = (i: unknown) => {
      const value = typeof i === 'number' ? d.digests[i] : undefined;
      if (value === undefined) throw new InventoryDataError(`digest index ${String(i)} is out of range`);
      return value;
    };
    const key = (i: unknown) => {
      const value = typeof i === 'number' ? d.keys[i] : undefined;
      if (value === undefined) throw new InventoryDataError(`key index ${String(i)} is out of range`);
      return value;
    };
    for (const [name, entry] of Object.entries(d.repos)) {
      if (!Array.isArray(entry?.tags)) throw new InventoryDataError(`repository ${name.slice(0, 80)} has no tag list`);
      for (const t of entry.tags) {
        if (!Array.isArray(t) || typeof t[0] !== 'string' || !isTime(t[2])) throw new InventoryDataError(`a tag of ${name.slice(0, 80)} is malformed`);
        this.setTag(name, t[0], digest(t[1]), t[2]);
      }
      for (const p of entry.present ?? []) {
        if (!Array.isArray(p) || !isTime(p[1])) throw new InventoryDataError(`a digest of ${name.slice(0, 80)} is malformed`);
        this.setSeen(name, digest(p[0]), p[1]);
      }
      for (const m of entry.marks ?? []) {
        if (!Array.isArray(m) || !isTime(m[2])) throw new InventoryDataError(`a mark of ${name.slice(0, 80)} is malformed`);
        this.setMark(name, digest(m[0]), { key: key(m[1]), at: m[2], ...(m[3] !== -1 && { attestation: digest(m[3]) }), ...(m[4] === 1 && { index: true }) });
      }
    }
    for (const c of d.children) {
      if (!Array.isArray(c) || !Array.isArray(c[1])) throw new InventoryDataError('an index entry is malformed');
      this.setChildren(digest(c[0]), c[1].map(digest));
    }
    for (const [host, serves] of Object.entries(d.referrersApi)) if (typeof serves === 'boolean') this.setReferrersApi(host, serves);
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

/** The inventory as plain data: digests and keys by index, to keep a k8s.io-sized one small. */
export interface InventoryData {
  version: 1;
  digests: string[];
  keys: string[];
  repos: Record<string, {
    /** [tag, digest index, at] */
    tags: [string, number, number][];
    /** [digest index, at] */
    present?: [number, number][];
    /** [digest index, key index, at, attestation digest index or -1, 1 for an index] */
    marks?: [number, number, number, number, number][];
  }>;
  /** [index digest index, [child digest index...]] */
  children: [number, number[]][];
  referrersApi: Record<string, boolean>;
}

export class InventoryDataError extends Error {}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function checkData(data: unknown): InventoryData {
  const d = data as Partial<InventoryData> | null;
  if (typeof d !== 'object' || d === null || d.version !== 1) throw new InventoryDataError('not a version 1 inventory');
  if (!Array.isArray(d.digests) || !d.digests.every((x) => typeof x === 'string' && digestPattern.test(x))) throw new InventoryDataError('its digests are not all sha256 digests');
  if (!Array.isArray(d.keys) || !d.keys.every((x) => typeof x === 'string')) throw new InventoryDataError('its keys are not strings');
  if (typeof d.repos !== 'object' || d.repos === null || !Array.isArray(d.children)) throw new InventoryDataError('it has no repositories');
  if (typeof d.referrersApi !== 'object' || d.referrersApi === null) throw new InventoryDataError('it has no host list');
  return d as InventoryData;
}
