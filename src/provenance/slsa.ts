// SLSA provenance predicates (v1 and v0.2): who built the artifact and from which source, and
// whether that satisfies a policy of accepted builder ids and source repositories.
export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
export const SLSA_V02 = 'https://slsa.dev/provenance/v0.2';
export const slsaPredicateTypes = [SLSA_V1, SLSA_V02];

export interface ProvenanceFacts {
  builderId?: string;
  /**
   * The repository the builder says it built from, normalised: only fields the builder itself
   * defines (never resolvedDependencies/materials, which list everything the build fetched).
   * Absent when the predicate names none: the source is unknown.
   */
  source?: string;
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

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim().length > 0 ? value : undefined);
const field = (value: unknown, key: string): unknown =>
  (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined);

interface SlsaV1 {
  buildDefinition?: { externalParameters?: unknown };
  runDetails?: { builder?: { id?: unknown } };
}

interface SlsaV02 {
  builder?: { id?: unknown };
  invocation?: { configSource?: { uri?: unknown } };
}

/**
 * The source a v1 predicate's builder defines, in slsa-verifier's order: the GitHub Actions
 * build type's `workflow.repository`, then `source` (a URI, or `{uri}` as the container-based
 * build type writes it), then the config source (`configSource.uri`, Cloud Build's
 * `buildConfigSource.repository`). resolvedDependencies are deliberately not read: they list
 * whatever the build fetched, so naming a repository there says nothing about what was built.
 */
function v1Source(externalParameters: unknown): string | undefined {
  const source = field(externalParameters, 'source');
  return text(field(field(externalParameters, 'workflow'), 'repository'))
    ?? text(source) ?? text(field(source, 'uri'))
    ?? text(field(field(externalParameters, 'configSource'), 'uri'))
    ?? text(field(field(externalParameters, 'buildConfigSource'), 'repository'));
}

export function provenanceFacts(predicateType: string, predicate: unknown): ProvenanceFacts | undefined {
  if (predicate === null || typeof predicate !== 'object') return undefined;
  let builderId: string | undefined;
  let source: string | undefined;
  if (predicateType === SLSA_V1) {
    const p = predicate as SlsaV1;
    builderId = text(p.runDetails?.builder?.id);
    source = v1Source(p.buildDefinition?.externalParameters);
  } else if (predicateType === SLSA_V02) {
    // v0.2: invocation.configSource.uri, as slsa-verifier reads it; materials are not the source.
    const p = predicate as SlsaV02;
    builderId = text(p.builder?.id);
    source = text(p.invocation?.configSource?.uri);
  } else {
    return undefined;
  }
  return { ...(builderId && { builderId }), ...(source && { source: normaliseRepository(source) }) };
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
  if (wanted.length === 0) return undefined;
  if (!facts.source) {
    return `provenance names no source repository its builder defines (v1 buildDefinition.externalParameters `
      + `workflow.repository/source/configSource, v0.2 invocation.configSource.uri), so it cannot show it was built from ${policy.sourceRepositories!.join(', ')}`;
  }
  if (!wanted.includes(facts.source)) return `built from ${facts.source}, not from ${policy.sourceRepositories!.join(', ')}`;
  return undefined;
}
