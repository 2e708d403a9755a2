// Whether a registry serves the OCI referrers API. The distribution spec forbids a registry that
// serves it to answer 404 there, so one GET tells; registries without it (CNCF distribution 2.8)
// keep referrers in a `sha256-<hex>` tag index that a tag listing shows. Asked once per host.
import { repositoryScope } from '../registry/auth.ts';
import { digestPattern, MediaType, RegistryError, type RegistryClient, type Repository } from '../registry/index.ts';
import { imageNameRegExp } from '../api/patterns.ts';
import { headerValue } from '../registry/transport.ts';

export async function servesReferrersApi(client: RegistryClient, repo: Repository, digest: string, signal?: AbortSignal): Promise<boolean> {
  if (!imageNameRegExp.test(repo.name) || !digestPattern.test(digest)) {
    throw new RegistryError('InvalidReference', repo.host, `${repo.host}: ${repo.name.slice(0, 80)}@${digest.slice(0, 80)} is not a repository and digest; refusing to use it in a URL`);
  }
  const res = await client.transport.request({
    host: repo.host, method: 'GET', path: `/v2/${repo.name}/referrers/${digest}`, headers: { accept: MediaType.ociIndex },
    scope: [repositoryScope(repo.name, 'pull')], expect: [200, 400, 404, 405, 406],
    what: `referrers API check on ${repo.name}`, deadline: Date.now() + 5 * 60_000, ...(signal && { signal }),
  });
  await res.body.dump();
  return res.status === 200 && (headerValue(res.headers, 'content-type') ?? '').startsWith(MediaType.ociIndex);
}

/** One answer per host, asked with the first repository and digest that needs it. */
export class ReferrersApiHosts {
  readonly #answers = new Map<string, Promise<boolean>>();
  readonly #ask: (repo: Repository, digest: string) => Promise<boolean>;

  constructor(ask: (repo: Repository, digest: string) => Promise<boolean>) {
    this.#ask = ask;
  }

  serves(repo: Repository, digest: string): Promise<boolean> {
    let answer = this.#answers.get(repo.host);
    if (!answer) {
      answer = this.#ask(repo, digest);
      // A failed check is asked again by the next repository rather than remembered.
      answer.catch(() => this.#answers.delete(repo.host));
      this.#answers.set(repo.host, answer);
    }
    return answer;
  }

  /** The hosts asked so far that answered. */
  async known(): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    for (const [host, answer] of this.#answers) {
      try {
        out.set(host, await answer);
      } catch {
        // not known
      }
    }
    return out;
  }
}
