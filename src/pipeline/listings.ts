// The destination tag lists Plan read, kept on the run for whoever needs them after Plan (Sign
// and Attest decide from them what is missing; a replication mode can too). Compact: cosign's
// attachment tags (`sha256-<hex>`, `.sig`, `.att`) are folded into bits per digest, the
// ordinary tags kept as listed, so a registry.k8s.io-sized run's lists stay tens of MiB.
import { formatRepository, type Repository } from '../api/reference.ts';
import type { ReadFailure } from './types.ts';

/** Bits of `RepositoryListing.attached`: which attachment tags of a digest a list shows. */
export const AttachedTag = {
  /** `sha256-<hex>`: the referrers index of a registry without the referrers API. */
  referrers: 1,
  /** `sha256-<hex>.sig`: cosign's legacy signatures. */
  sig: 2,
  /** `sha256-<hex>.att`: cosign's legacy attestations. */
  att: 4,
} as const;

export interface RepositoryListing {
  /** Every listed tag that is not an attachment tag. */
  readonly tags: readonly string[];
  /** digest -> AttachedTag bits, for each digest the list has an attachment tag of. */
  readonly attached: ReadonlyMap<string, number>;
}

const attachmentTag = /^sha256-([0-9a-f]{64})(\.sig|\.att)?$/;

/**
 * Splits a tag list into ordinary tags and attachment bits. `intern` and `internTag` may return
 * an equal string already held (the run's own digests and tags), so a list adds no copy of them.
 */
export function splitListing(tags: readonly string[], intern: (digest: string) => string = (d) => d, internTag: (tag: string) => string = (t) => t): RepositoryListing {
  const ordinary: string[] = [];
  const attached = new Map<string, number>();
  for (const tag of tags) {
    // Attachment tags are 71 characters or more; a cheap test spares the regular expression.
    const match = tag.length >= 71 && tag.startsWith('sha256-') ? attachmentTag.exec(tag) : null;
    if (!match) {
      ordinary.push(internTag(tag));
      continue;
    }
    const digest = intern(`sha256:${match[1]}`);
    const bit = match[2] === '.sig' ? AttachedTag.sig : match[2] === '.att' ? AttachedTag.att : AttachedTag.referrers;
    attached.set(digest, (attached.get(digest) ?? 0) | bit);
  }
  return { tags: ordinary, attached };
}

/** The destination repositories' lists of one run, by repository. */
export class Listings {
  readonly #byRepository = new Map<string, RepositoryListing | ReadFailure>();

  set(repository: string, listing: RepositoryListing | ReadFailure): void {
    this.#byRepository.set(repository, listing);
  }

  /** The list of `repo` as Plan read it; undefined when it was not read or could not be. */
  get(repo: Repository | string): RepositoryListing | undefined {
    const found = this.#byRepository.get(typeof repo === 'string' ? repo : formatRepository(repo));
    return found && 'tags' in found ? found : undefined;
  }

  /** Why the list of `repo` could not be read. */
  failure(repo: Repository | string): ReadFailure | undefined {
    const found = this.#byRepository.get(typeof repo === 'string' ? repo : formatRepository(repo));
    return found && 'reason' in found ? found : undefined;
  }

  /** AttachedTag bits of `digest` in `repo`: 0 when the list shows none, undefined when there is no list. */
  attached(repo: Repository | string, digest: string): number | undefined {
    const listing = this.get(repo);
    return listing && (listing.attached.get(digest) ?? 0);
  }

  get size(): number {
    return this.#byRepository.size;
  }
}
