// SLSA provenance predicates (v1 and v0.2): who built the artifact and from which source, and
// whether that satisfies a policy of accepted builder ids and source repositories.
export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
export const SLSA_V02 = 'https://slsa.dev/provenance/v0.2';
export const slsaPredicateTypes = [SLSA_V1, SLSA_V02];

export interface ProvenanceFacts {
  builderId?: string;
  /** Every repository the predicate names as a source, normalised. */
  sources: string[];
}

export interface ProvenancePolicy {
  builderIds: string[];
  sourceRepositories?: string[];
}

/** `git+https://github.com/o/r.git@refs/tags/v1` -> `https://github.com/o/r`, so sources compare as repositories. */
export function normaliseRepository(uri: string): string {
  let value = uri.trim().replace(/^git\+/, '');
  // An `@ref` after the path is a revision; an `@` before the first slash is userinfo and stays.
  const start = value.indexOf('://') + 3;
  const slash = value.indexOf('/', start);
  const at = slash >= 0 ? value.indexOf('@', slash) : -1;
  if (at >= 0) value = value.slice(0, at);
  value = value.replace(/#.*$/, '').replace(/\/+$/, '').replace(/\.git$/, '');
  return value.toLowerCase();
}

const strings = (...values: unknown[]) => values.filter((v): v is string => typeof v === 'string' && v.length > 0);

interface SlsaV1 {
  buildDefinition?: { externalParameters?: Record<string, unknown>; resolvedDependencies?: { uri?: string }[] };
  runDetails?: { builder?: { id?: string } };
}

interface SlsaV02 {
  builder?: { id?: string };
  invocation?: { configSource?: { uri?: string } };
  materials?: { uri?: string }[];
}

export function provenanceFacts(predicateType: string, predicate: unknown): ProvenanceFacts | undefined {
  if (predicate === null || typeof predicate !== 'object') return undefined;
  if (predicateType === SLSA_V1) {
    const p = predicate as SlsaV1;
    const ext = p.buildDefinition?.externalParameters ?? {};
    const workflow = ext.workflow as { repository?: unknown } | undefined;
    const sources = strings(ext.source, ext.repository, ext.sourceRepository, ext.repo, workflow?.repository,
      ...(p.buildDefinition?.resolvedDependencies ?? []).map((d) => d.uri));
    return { ...(p.runDetails?.builder?.id && { builderId: p.runDetails.builder.id }), sources: [...new Set(sources.map(normaliseRepository))] };
  }
  if (predicateType === SLSA_V02) {
    const p = predicate as SlsaV02;
    const sources = strings(p.invocation?.configSource?.uri, ...(p.materials ?? []).map((m) => m.uri));
    return { ...(p.builder?.id && { builderId: p.builder.id }), sources: [...new Set(sources.map(normaliseRepository))] };
  }
  return undefined;
}

/**
 * A builder id matches exactly, or, when the policy entry names no ref, any ref of it
 * (`.../builder.yml` accepts `.../builder.yml@refs/tags/v2`), as slsa-verifier does.
 */
export function builderMatches(accepted: string, builderId: string): boolean {
  if (accepted === builderId) return true;
  return !accepted.includes('@') && builderId.startsWith(`${accepted}@`);
}

/** Why the provenance does not satisfy the policy, or undefined when it does. */
export function provenanceMismatch(facts: ProvenanceFacts, policy: ProvenancePolicy): string | undefined {
  if (!facts.builderId) return 'provenance names no builder id';
  if (!policy.builderIds.some((id) => builderMatches(id, facts.builderId!))) {
    return `builder ${facts.builderId} is not one of the accepted builder ids (${policy.builderIds.join(', ')})`;
  }
  const wanted = (policy.sourceRepositories ?? []).map(normaliseRepository);
  if (wanted.length > 0 && !facts.sources.some((s) => wanted.includes(s))) {
    return `built from ${facts.sources.join(', ') || 'no named source'}, not from ${policy.sourceRepositories!.join(', ')}`;
  }
  return undefined;
}
