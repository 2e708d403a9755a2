// PromotionManifest resources <-> the model: reading them back from YAML (for `hoist validate`
// and round trips) and writing them (for `hoist convert`).
import { Document, isMap, isSeq, parseAllDocuments } from 'yaml';
import { apiVersion, kind, promotionManifestSchema, type PromotionManifestSpec } from '../api/promotion-manifest.ts';
import type { ManifestError, ValuePath } from './errors.ts';
import { fieldsAt, issuesToErrors } from './issues.ts';
import type { PromotionSpec } from './model.ts';
import { checkSpec, type Report } from './rules.ts';
import { parseYamlStream } from './source.ts';

export interface ResourceManifest {
  name: string;
  namespace?: string;
  file: string;
  line: number;
  spec: PromotionSpec;
  /** The resource's own spec, for the sections the neutral model does not carry (trust, mode). */
  resourceSpec: PromotionManifestSpec;
}

export function isPromotionManifestData(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === kind;
}

/** Whether a YAML stream holds PromotionManifest resources rather than a kpromo manifest. */
export function holdsPromotionManifests(text: string): boolean {
  const docs = parseAllDocuments(text);
  return Array.isArray(docs) && docs.some((doc) => isMap(doc.contents) && (doc.contents.get('kind') as unknown) === kind);
}

/** A PromotionManifest's spec as the neutral model (registries, images and their credentials). */
export function specModel(spec: PromotionManifestSpec): PromotionSpec {
  return {
    registries: spec.registries.map((r) => ({ name: r.name, src: r.src, ...(r.credentials ? { secretName: r.credentials.secretRef.name } : {}) })),
    images: spec.images.map((i) => ({ name: i.name, dmap: i.dmap })),
  };
}

/** Reads every PromotionManifest in a YAML stream; other kinds are skipped. */
export function parsePromotionManifests(file: string, text: string): { manifests: ResourceManifest[]; errors: ManifestError[] } {
  const { sources, syntaxErrors, duplicateKeys } = parseYamlStream(file, text);
  if (syntaxErrors.length > 0) return { manifests: [], errors: syntaxErrors };
  const manifests: ResourceManifest[] = [];
  const errors: ManifestError[] = [...duplicateKeys];
  for (const source of sources) {
    const { data, errors: dataErrors } = source.toData();
    errors.push(...dataErrors);
    if (!isPromotionManifestData(data)) continue;
    const result = promotionManifestSchema.safeParse(data, { reportInput: true });
    if (!result.success) {
      errors.push(...issuesToErrors(result.error.issues, source, (p) => fieldsAt(promotionManifestSchema, p)));
      continue;
    }
    const { metadata, spec: resourceSpec } = result.data;
    const spec = specModel(resourceSpec);
    const report: Report = (reason, path, message, at) => source.error(reason, ['spec', ...path], message, at);
    const problems = checkSpec(spec, report, (path: ValuePath) => source.position(['spec', ...path]).line);
    if (problems.length > 0) {
      errors.push(...problems);
      continue;
    }
    manifests.push({
      name: metadata.name, ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
      file, line: source.position([]).line, spec, resourceSpec,
    });
  }
  return { manifests, errors };
}

/**
 * A PromotionManifest for `spec`, in a stable order: the source registry first, then the
 * destinations as given; digests sorted; images and tags as given.
 */
export function toPromotionManifest(name: string, spec: PromotionSpec, namespace?: string): object {
  const registries = [...spec.registries.filter((r) => r.src), ...spec.registries.filter((r) => !r.src)];
  return {
    apiVersion,
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    spec: {
      registries: registries.map((r) => ({
        name: r.name,
        ...(r.src ? { src: true } : {}),
        ...(r.secretName ? { credentials: { secretRef: { name: r.secretName } } } : {}),
      })),
      images: spec.images.map((image) => ({
        name: image.name,
        dmap: Object.fromEntries(Object.keys(image.dmap).sort().map((digest) => [digest, [...image.dmap[digest]!]])),
      })),
    },
  };
}

/** YAML for one resource, tag lists in flow style as kpromo files write them. */
export function renderPromotionManifest(resource: object, comment?: string): string {
  const doc = new Document(resource);
  const images = doc.getIn(['spec', 'images'], true);
  if (isSeq(images)) {
    images.items.forEach((_, i) => {
      const dmap = doc.getIn(['spec', 'images', i, 'dmap'], true) as { items?: { value: unknown }[] } | undefined;
      for (const pair of dmap?.items ?? []) if (isSeq(pair.value)) pair.value.flow = true;
    });
  }
  if (comment) doc.commentBefore = ` ${comment}`;
  return doc.toString({ lineWidth: 0 });
}

/** A DNS-1123 label from a kpromo project directory name, or undefined if nothing is left. */
export function resourceName(project: string): string | undefined {
  const name = project.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').slice(0, 63).replace(/^-+|-+$/g, '');
  return name === '' ? undefined : name;
}
