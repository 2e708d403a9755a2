// Image references: `host[:port]/path[:tag][@digest]`, as docker, crane and kpromo write them.
// Only what a promoter needs: no implicit docker.io, since promotion manifests always name
// their registries in full. The one reference type from the manifest model to the status: it
// lives here, at the bottom, so manifest, registry, pipeline and controller all reach it.
import { digestRegExp as digestPattern, tagRegExp as tagPattern } from './patterns.ts';

export { digestPattern, tagPattern };

export interface Repository {
  /** host[:port], e.g. `registry.k8s.io` or `127.0.0.1:5000` */
  host: string;
  /** the repository path inside the registry, e.g. `kube-apiserver` or `team/app` */
  name: string;
}

export interface Reference extends Repository {
  tag?: string;
  digest?: string;
}

const componentPattern = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

export function parseReference(text: string): Reference {
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) throw new Error(`invalid image reference "${text}": digest must look like sha256:<64 hex>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) throw new Error(`invalid image reference "${text}": tag "${tag}" is not a valid tag`);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new Error(`invalid image reference "${text}": expected host/repository`);
  const repo = parseRepository(rest);
  return { ...repo, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

export function parseRepository(text: string): Repository {
  const slash = text.indexOf('/');
  if (slash <= 0) throw new Error(`invalid repository "${text}": expected host/path`);
  const host = text.slice(0, slash);
  const name = text.slice(slash + 1);
  if (!name.split('/').every((part) => componentPattern.test(part))) {
    throw new Error(`invalid repository "${text}": path components must be lowercase letters, digits and separators`);
  }
  return { host, name };
}

export function formatReference(ref: Reference): string {
  return `${ref.host}/${ref.name}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** `host/name`: a repository's identity, for map keys and messages (a tag or digest is ignored). */
export function formatRepository(repo: Repository): string {
  return `${repo.host}/${repo.name}`;
}
