// What a replication covers: the PromotionManifests it names or selects, and from them one
// target per (primary repository, digest) with every mirror repository the digest is promoted
// to. The manifests are the one source of truth: a digest promoted before signing existed and
// a mirror added later are covered without anyone listing them again.
import type { Repository } from '../api/reference.ts';
import type { Reason } from '../api/reasons.ts';
import { coversManifest, type SignatureReplicationSpec } from '../api/signature-replication.ts';
import { Repositories, type PromotionSpec } from '../manifest/model.ts';
import type { ReplicationTarget } from './types.ts';

export type PrimaryChoice = SignatureReplicationSpec['primary'];

export interface CoveredManifest {
  /** For messages: the resource's name, or the file or project it came from. */
  name: string;
  spec: PromotionSpec;
}

export interface CoverageProblem {
  manifest: string;
  /**
   * PrimaryNotFound, PromotionManifestNotFound, NoManifestsCovered; or why a covered manifest
   * cannot be used (the controller's: an invalid spec, a registry not allowed, a missing Secret).
   */
  reason: Reason;
  message: string;
}

/**
 * The manifests a replication covers among those of its namespace (name and labels each), and
 * a problem for every name that names none.
 */
export function selectManifests<M extends { name?: string; labels?: Record<string, string> }>(
  spec: Pick<SignatureReplicationSpec, 'manifests'>, manifests: readonly M[],
): { selected: M[]; problems: CoverageProblem[] } {
  const selected = manifests.filter((m) => coversManifest(spec, m));
  const problems: CoverageProblem[] = [];
  const present = new Set(manifests.map((m) => m.name));
  for (const name of spec.manifests.names ?? []) {
    if (!present.has(name)) problems.push({ manifest: name, reason: 'PromotionManifestNotFound', message: `PromotionManifest ${name} does not exist in the namespace` });
  }
  if (selected.length === 0 && problems.length === 0) {
    problems.push({ manifest: '', reason: 'NoManifestsCovered', message: 'spec.manifests names or selects no PromotionManifest: nothing to replicate' });
  }
  return { selected, problems };
}

/** The registry of `spec` that is the primary, or why there is none. */
export function primaryRegistry(spec: PromotionSpec, primary: PrimaryChoice): { name: string } | { problem: string } {
  if (primary.source) {
    const source = spec.registries.find((r) => r.src);
    return source ? { name: source.name } : { problem: 'has no source registry (src: true)' };
  }
  const prefix = primary.registry!;
  const matches = spec.registries.filter((r) => !r.src && (r.name === prefix || r.name.startsWith(`${prefix}/`)));
  const exact = matches.find((r) => r.name === prefix);
  if (exact) return { name: exact.name };
  if (matches.length === 1) return { name: matches[0]!.name };
  return {
    problem: matches.length === 0
      ? `has no destination registry named ${prefix} or below it`
      : `has ${matches.length} destination registries below ${prefix} (${matches.map((m) => m.name).slice(0, 3).join(', ')}); name one of them`,
  };
}

/**
 * One target per (primary repository, digest), in a stable order (repository, then digest). A
 * digest two manifests both cover gets the union of their mirrors and tags. Repository objects
 * and mirror lists are shared, so 17,000 digests times 22 mirrors cost little memory.
 */
export function buildTargets(manifests: readonly CoveredManifest[], primary: PrimaryChoice): { targets: ReplicationTarget[]; problems: CoverageProblem[] } {
  const repositories = new Repositories();
  const byKey = new Map<string, { digest: string; primary: Repository; mirrors: Repository[]; tags: string[] }>();
  const problems: CoverageProblem[] = [];
  for (const manifest of manifests) {
    const found = primaryRegistry(manifest.spec, primary);
    if ('problem' in found) {
      problems.push({ manifest: manifest.name, reason: 'PrimaryNotFound', message: `${manifest.name} ${found.problem}` });
      continue;
    }
    const mirrorRegistries = manifest.spec.registries.filter((r) => !r.src && r.name !== found.name);
    for (const image of manifest.spec.images) {
      const primaryRepo = repositories.get(found.name, image.name);
      const mirrors = mirrorRegistries.map((r) => repositories.get(r.name, image.name));
      if (mirrors.length === 0) continue;
      for (const [digest, tags] of Object.entries(image.dmap)) {
        const key = `${primaryRepo.host}/${primaryRepo.name}@${digest}`;
        const known = byKey.get(key);
        if (!known) {
          byKey.set(key, { digest, primary: primaryRepo, mirrors, tags });
          continue;
        }
        if (known.mirrors !== mirrors) known.mirrors = [...new Set([...known.mirrors, ...mirrors])];
        if (known.tags !== tags) known.tags = [...new Set([...known.tags, ...tags])];
      }
    }
  }
  const targets = [...byKey.values()].sort((a, b) => {
    const ra = `${a.primary.host}/${a.primary.name}`;
    const rb = `${b.primary.host}/${b.primary.name}`;
    return ra < rb ? -1 : ra > rb ? 1 : a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
  });
  return { targets, problems };
}
