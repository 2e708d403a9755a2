// PromotionManifest resources <-> the model: reading them back from YAML (for `hoist validate`
// and round trips) and writing them (for `hoist convert`).
import { apiVersion, kind, promotionManifestSchema, type PromotionManifestSpec } from '../api/promotion-manifest.ts';
import { ManifestError, type ValuePath } from './errors.ts';
import { fieldsAt, issuesToErrors } from './issues.ts';
import type { EntryOrigins, PromotionSpec } from './model.ts';
import { reviewImages, reviewRegistries, type Locator } from './rules.ts';
import { duplicateKeys, keyIndex, YamlSource } from './source.ts';
import { parseYaml, type YDocument } from './yaml.ts';

export interface ResourceManifest {
  name: string;
  namespace?: string;
  file: string;
  line: number;
  spec: PromotionSpec;
  /** The resource's own spec, for the sections the neutral model does not carry (trust, mode). */
  resourceSpec: PromotionManifestSpec;
  origins: EntryOrigins;
}

export interface ParsedResources {
  manifests: ResourceManifest[];
  /** Problems that refuse a resource (scope `manifest`) or one dmap entry of it (`entry`). */
  errors: ManifestError[];
  warnings: ManifestError[];
  /** The resources refused as a whole, by `<file>:<line>` and name where known. */
  refused: { source: string; name?: string }[];
}

export function isPromotionManifestData(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === kind;
}

/** Whether a document is a PromotionManifest (by its `kind`), without converting it. */
export function isPromotionManifestDocument(doc: YDocument): boolean {
  const root = doc.root;
  if (root?.kind !== 'map') return false;
  const i = keyIndex(root, 'kind');
  const value = i >= 0 ? root.values[i] : undefined;
  return value?.kind === 'scalar' && value.text === kind;
}

/** Whether a YAML stream holds PromotionManifest resources rather than a kpromo manifest. */
export function holdsPromotionManifests(text: string): boolean {
  return parseYaml('', text).documents.some(isPromotionManifestDocument);
}

/** A PromotionManifest's spec as the neutral model (registries, images and their credentials). */
export function specModel(spec: PromotionManifestSpec): PromotionSpec {
  return {
    registries: spec.registries.map((r) => ({ name: r.name, src: r.src, ...(r.credentials ? { secretName: r.credentials.secretRef.name } : {}) })),
    images: spec.images.map((i) => ({ name: i.name, dmap: i.dmap })),
  };
}

/** Reads every PromotionManifest in a YAML stream; other kinds are skipped. */
export function parsePromotionManifests(file: string, text: string): ParsedResources {
  const { documents, errors } = parseYaml(file, text);
  if (errors.length > 0) return { manifests: [], errors, warnings: [], refused: [{ source: file }] };
  return promotionManifestsIn(file, documents);
}

/** The PromotionManifests among parsed documents, each accepted or refused on its own. */
export function promotionManifestsIn(file: string, documents: readonly YDocument[]): ParsedResources {
  const out: ParsedResources = { manifests: [], errors: [], warnings: [], refused: [] };
  for (const doc of documents) {
    if (!isPromotionManifestDocument(doc)) continue;
    const source = new YamlSource(file, doc);
    const refuse = (problems: ManifestError[], name?: string) => {
      out.errors.push(...problems);
      out.refused.push({ source: `${file}:${doc.root!.line}`, ...(name ? { name } : {}) });
    };
    const data = source.toData();
    const name = (data as { metadata?: { name?: unknown } }).metadata?.name;
    const shownName = typeof name === 'string' ? name : undefined;
    const duplicates = duplicateKeys(file, doc.root);
    const result = promotionManifestSchema.safeParse(data, { reportInput: true });
    if (!result.success) {
      refuse([...duplicates, ...issuesToErrors(result.error.issues, source, (p) => fieldsAt(promotionManifestSchema, p))], shownName);
      continue;
    }
    if (duplicates.length > 0) {
      refuse(duplicates, shownName);
      continue;
    }
    const { metadata, spec: resourceSpec } = result.data;
    const locate = specLocator(source);
    const model = specModel(resourceSpec);
    const registries = reviewRegistries(model.registries, locate, true);
    const images = reviewImages(model.images, locate, true);
    const problems = [...registries.problems, ...images.problems];
    out.warnings.push(...problems.filter((p) => p.isWarning));
    const errors = problems.filter((p) => !p.isWarning);
    if (errors.some((p) => p.scope === 'manifest')) {
      refuse(errors, metadata.name);
      continue;
    }
    out.errors.push(...errors);
    out.manifests.push({
      name: metadata.name, ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
      file, line: doc.root!.line, spec: { registries: registries.value, images: images.value }, resourceSpec, origins: images.origins,
    });
  }
  return out;
}

function specLocator(source: YamlSource): Locator {
  const inSpec = (path: ValuePath): ValuePath => ['spec', ...path];
  return {
    report: (reason, path, message, at) => source.error(reason, inSpec(path), message, at),
    line: (path, at) => source.position(inSpec(path), at).line,
    origin: (path, at) => ({ file: source.file, ...source.position(inSpec(path), at) }),
  };
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

// YAML 1.1 reads these as booleans or null; kubectl's YAML reader is YAML 1.1.
const yaml11Words = /^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~)$/;

/** A tag or name as a YAML scalar: plain where no YAML reader can take it for anything but a string. */
function scalar(text: string, plain: RegExp): string {
  return plain.test(text) && !yaml11Words.test(text) ? text : JSON.stringify(text);
}
const plainTag = /^[A-Za-z_][\w.-]*$/;
const plainName = /^[a-z][a-z0-9._/-]*$/;

/**
 * YAML for one resource made by toPromotionManifest, written directly (registry.k8s.io's tree
 * converts to megabytes): tag lists in flow style as kpromo files write them, strings quoted
 * wherever YAML 1.1 (kubectl) or 1.2 would read them as anything but a string.
 */
export function renderPromotionManifest(resource: object, comment?: string): string {
  const r = resource as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec: { registries: { name: string; src?: boolean; credentials?: { secretRef: { name: string } } }[]; images: { name: string; dmap: Record<string, string[]> }[] } };
  const lines: string[] = [];
  if (comment) lines.push(`# ${comment}`);
  lines.push(`apiVersion: ${r.apiVersion}`, `kind: ${r.kind}`, 'metadata:', `  name: ${r.metadata.name}`);
  if (r.metadata.namespace) lines.push(`  namespace: ${r.metadata.namespace}`);
  lines.push('spec:', '  registries:');
  for (const registry of r.spec.registries) {
    lines.push(`    - name: ${scalar(registry.name, plainName)}`);
    if (registry.src) lines.push('      src: true');
    if (registry.credentials) lines.push('      credentials:', '        secretRef:', `          name: ${scalar(registry.credentials.secretRef.name, plainName)}`);
  }
  if (r.spec.images.length === 0) lines.push('  images: []');
  else lines.push('  images:');
  for (const image of r.spec.images) {
    lines.push(`    - name: ${scalar(image.name, plainName)}`, '      dmap:');
    for (const digest of Object.keys(image.dmap)) {
      const tags = image.dmap[digest]!;
      lines.push(`        ${digest}: ${tags.length === 0 ? '[]' : `[ ${tags.map((t) => scalar(t, plainTag)).join(', ')} ]`}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A DNS-1123 label from a kpromo project directory name, or undefined if nothing is left. */
export function resourceName(project: string): string | undefined {
  const name = project.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').slice(0, 63).replace(/^-+|-+$/g, '');
  return name === '' ? undefined : name;
}
