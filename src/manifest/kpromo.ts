// kpromo's manifest formats, read as they are: the plain manifest (registries + images in one
// file) and the two halves of a thin manifest (promoter-manifest.yaml + images.yaml).
import { z } from 'zod';
import { DIGEST_PATTERN, IMAGE_NAME_PATTERN, REGISTRY_NAME_PATTERN, TAG_PATTERN } from '../api/patterns.ts';
import { ManifestError, type ValuePath } from './errors.ts';
import { fieldsAt, issuesToErrors } from './issues.ts';
import type { ImageSpec, PromotionSpec, RegistrySpec } from './model.ts';
import { checkSpec, type Report } from './rules.ts';
import { parseYamlStream, type YamlSource } from './source.ts';

// `abort` on min(1): an empty name gets one message, not a second one from the pattern.
const registry = z.strictObject({
  name: z.string().min(1, { abort: true }).regex(new RegExp(REGISTRY_NAME_PATTERN)),
  src: z.boolean().optional(),
  'service-account': z.string().min(1).optional(),
});

const image = z.strictObject({
  name: z.string().min(1, { abort: true }).regex(new RegExp(IMAGE_NAME_PATTERN)),
  dmap: z.record(z.string().regex(new RegExp(DIGEST_PATTERN)), z.array(z.string().regex(new RegExp(TAG_PATTERN)))),
});

const registries = z.array(registry).min(1);
const images = z.array(image).min(1);

export const plainManifestSchema = z.strictObject({ registries, images });
// `imagesPath` is legacy: kpromo always reads images/<project>/images.yaml.
export const thinManifestSchema = z.strictObject({ registries, imagesPath: z.string().optional() });
export const imagesFileSchema = images;

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: ManifestError[] };

type Data<S extends z.ZodType> = z.output<S>;

/**
 * Parses one YAML document of `file` against `schema`, with every problem located. Duplicate
 * keys do not stop the schema check, so one run reports everything that is wrong.
 */
function readDocument<S extends z.ZodType>(file: string, text: string, schema: S): { source?: YamlSource; data?: Data<S>; errors: ManifestError[] } {
  const { sources, syntaxErrors, duplicateKeys } = parseYamlStream(file, text);
  const [source, extra] = sources;
  if (!source) return { errors: [new ManifestError('NotAManifest', file, 1, 1, 'the file is empty; a manifest needs registries and images')] };
  if (extra) {
    const { line, column } = extra.lineColumn(extra.doc.range?.[0] ?? 0);
    syntaxErrors.push(new ManifestError('YamlSyntax', file, line, column, 'a second YAML document; a manifest file holds one document — remove the ---'));
  }
  if (syntaxErrors.length > 0) return { errors: syntaxErrors };
  const { data, errors: dataErrors } = source.toData();
  if (dataErrors.length > 0) return { errors: dataErrors };
  const result = schema.safeParse(data, { reportInput: true });
  if (!result.success) return { errors: [...duplicateKeys, ...issuesToErrors(result.error.issues, source, (p) => fieldsAt(schema, p))] };
  // With a duplicate key the model holds whichever value came last; rules on it would only
  // report consequences of that guess.
  if (duplicateKeys.length > 0) return { errors: duplicateKeys };
  return { source, data: result.data, errors: [] };
}

function toRegistries(data: Data<typeof registries>): RegistrySpec[] {
  return data.map((r) => ({
    name: r.name, src: r.src ?? false, ...(r['service-account'] ? { serviceAccount: r['service-account'] } : {}),
  }));
}

function toImages(data: Data<typeof images>): ImageSpec[] {
  return data.map((i) => ({ name: i.name, dmap: i.dmap }));
}

/** Line of a model path, for "first at line N" hints. */
const lineOf = (report: Report) => (path: ValuePath) => report('InvalidValue', path, '').line;

export function parsePlainManifest(file: string, text: string): Parsed<PromotionSpec> {
  const { source, data, errors } = readDocument(file, text, plainManifestSchema);
  if (!source || !data) return { ok: false, errors };
  const spec = { registries: toRegistries(data.registries), images: toImages(data.images) };
  const report: Report = (reason, path, message, at) => source.error(reason, path, message, at);
  const problems = checkSpec(spec, report, lineOf(report));
  return problems.length > 0 ? { ok: false, errors: problems } : { ok: true, value: spec };
}

/** A thin manifest: registries from the manifest file, images from the project's images file. */
export function parseThinManifest(
  manifest: { file: string; text: string },
  imagesFile: { file: string; text: string },
): Parsed<PromotionSpec> {
  const head = readDocument(manifest.file, manifest.text, thinManifestSchema);
  const body = readDocument(imagesFile.file, imagesFile.text, imagesFileSchema);
  if (!head.source || !head.data || !body.source || !body.data) return { ok: false, errors: [...head.errors, ...body.errors] };
  const spec = { registries: toRegistries(head.data.registries), images: toImages(body.data) };
  const [registrySource, imageSource] = [head.source, body.source];
  // Model paths `images[i]...` live at `[i]...` in the images file.
  const report: Report = (reason, path, message, at) => (path[0] === 'images'
    ? imageSource.error(reason, path.slice(1), message, at)
    : registrySource.error(reason, path, message, at));
  const problems = checkSpec(spec, report, lineOf(report));
  return problems.length > 0 ? { ok: false, errors: problems } : { ok: true, value: spec };
}
