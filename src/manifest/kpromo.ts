// kpromo's manifest formats, read as they are: the plain manifest (registries + images in one
// file) and the two halves of a thin manifest (promoter-manifest.yaml + images.yaml).
//
// Read as kpromo's parser (yaml.v2, strict) reads them, with three differences on purpose:
// - what kpromo does not check and then fails on at promotion time (a 63-hex digest, a `ha256:`
//   typo, a tag that is not a tag, an image without a name) refuses that dmap entry or image
//   here, located, and the rest of the project goes on;
// - a problem inside one image entry (an unknown or repeated field, a wrong type) refuses that
//   image, not the whole project as kpromo's strict decoding does;
// - a registry named both source and destination, or two source registries, refuse the project.
// Plain scalars are read from their source text, as yaml.v2 does for string fields: `- 1.0` is
// the tag "1.0".
import { digestRegExp, imageNameRegExp, registryNameRegExp, tagRegExp } from '../api/patterns.ts';
import { formatPath, ManifestError, type ManifestErrorReason, type ValuePath } from './errors.ts';
import type { EntryOrigins, ImageSpec, PromotionSpec, RegistrySpec } from './model.ts';
import { reviewImages, reviewRegistries, type Locator } from './rules.ts';
import { describeNode, describeValue } from './issues.ts';
import { YamlSource } from './source.ts';
import { isNullScalar, parseYaml, type YMap, type YNode } from './yaml.ts';

/** A manifest as read: `spec` undefined when it is refused as a whole. */
export interface ParsedManifest {
  spec: PromotionSpec | undefined;
  /** Where each accepted dmap entry was written, for conflicts found across manifests. */
  origins: EntryOrigins;
  /** Problems that refuse the manifest (scope `manifest`) or one entry of it (scope `entry`). */
  errors: ManifestError[];
  warnings: ManifestError[];
}

const registryFields = ['name', 'src', 'service-account'];
const imageFields = ['name', 'dmap'];

const patternHelp = {
  digest: 'a digest: sha256: followed by 64 lowercase hex digits',
  tag: 'a tag: a letter, digit or _ then up to 127 letters, digits, _, . or -',
  registry: 'a registry: lowercase host[:port] (port 1-65535) and optional /path prefix, e.g. gcr.io/k8s-staging-bom',
  image: 'an image name: lowercase path components separated by /, e.g. bom or sig-storage/csi-attacher',
};

/** Reads one file's nodes, reporting at the nodes themselves; `shown` prefixes the paths in messages. */
class Walker {
  readonly file: string;
  readonly errors: ManifestError[] = [];
  readonly warnings: ManifestError[] = [];

  constructor(file: string) {
    this.file = file;
  }

  problem(reason: ManifestErrorReason, at: { line: number; column: number }, path: ValuePath, message: string): ManifestError {
    const where = formatPath(path);
    return new ManifestError(reason, this.file, at.line, at.column, where === '' ? message : `${where}: ${message}`);
  }

  /** A problem that refuses the whole manifest. */
  refuse(reason: ManifestErrorReason, at: { line: number; column: number }, path: ValuePath, message: string): void {
    this.errors.push(this.problem(reason, at, path, message));
  }

  /** The keys of a mapping, checked: unknown keys and duplicates reported through `report`. */
  fields(map: YMap, path: ValuePath, known: readonly string[], report: (e: ManifestError) => void): Map<string, number> {
    const index = new Map<string, number>();
    map.keys.forEach((key, i) => {
      const first = index.get(key.text);
      if (first !== undefined) {
        report(this.problem('DuplicateKey', key, [...path, key.text],
          `duplicate key "${key.text}" (first at line ${map.keys[first]!.line}); a key may appear once in a mapping — remove or merge one of them`));
      } else if (!known.includes(key.text)) {
        report(this.problem('UnknownField', key, [...path, key.text],
          `unknown field "${key.text}"; allowed here: ${known.join(', ')} — check the spelling or remove it`));
      } else {
        index.set(key.text, i);
      }
    });
    return index;
  }

  /** A string field; undefined (reported) when it is not a scalar. */
  string(node: YNode, path: ValuePath, report: (e: ManifestError) => void): string | undefined | null {
    if (node.kind !== 'scalar') {
      report(this.problem('WrongType', node, path, `expected a string, got ${describeNode(node)}`));
      return undefined;
    }
    return isNullScalar(node) ? null : node.text;
  }
}

function readRegistries(w: Walker, node: YNode | undefined, path: ValuePath, at: { line: number; column: number }): RegistrySpec[] | undefined {
  const refuse = (e: ManifestError) => w.errors.push(e);
  if (node === undefined || isNullScalar(node)) {
    w.refuse(node ? 'EmptyValue' : 'MissingField', node ?? at, path, node
      ? 'needs the source and destination registries; add them'
      : `required field "${String(path.at(-1))}" is missing; add the source and destination registries`);
    return undefined;
  }
  if (node.kind !== 'seq') {
    w.refuse('WrongType', node, path, `expected a list, got ${describeNode(node)}`);
    return undefined;
  }
  const before = w.errors.length;
  const out: RegistrySpec[] = [];
  node.items.forEach((item, i) => {
    const itemPath = [...path, i];
    if (item.kind !== 'map') return w.refuse('WrongType', item, itemPath, `expected a mapping with name and src, got ${describeNode(item)}`);
    const fields = w.fields(item, itemPath, registryFields, refuse);
    const nameAt = fields.get('name');
    let name: string | undefined;
    if (nameAt === undefined) w.refuse('MissingField', item, [...itemPath, 'name'], 'required field "name" is missing; add it');
    else {
      const value = w.string(item.values[nameAt]!, [...itemPath, 'name'], refuse);
      const where = item.values[nameAt]!.kind === 'scalar' && !isNullScalar(item.values[nameAt]) ? item.values[nameAt]! : item.keys[nameAt]!;
      if (value === null || value === '') w.refuse('EmptyValue', where, [...itemPath, 'name'], 'must not be empty; fill it in');
      else if (value !== undefined && (value.length > 255 || !registryNameRegExp.test(value))) {
        w.refuse('InvalidName', where, [...itemPath, 'name'], `${describeValue(value)} is not ${patternHelp.registry}`);
      } else if (value !== undefined) name = value;
    }
    let src = false;
    const srcAt = fields.get('src');
    if (srcAt !== undefined) {
      const value = item.values[srcAt]!;
      const read = readBool(value);
      if (read === undefined) w.refuse('WrongType', value, [...itemPath, 'src'], `expected true or false, got ${describeNode(value)}`);
      else src = read;
    }
    let serviceAccount: string | undefined;
    const saAt = fields.get('service-account');
    if (saAt !== undefined) serviceAccount = w.string(item.values[saAt]!, [...itemPath, 'service-account'], refuse) ?? undefined;
    if (name !== undefined) out.push({ name, src, ...(serviceAccount ? { serviceAccount } : {}) });
  });
  return w.errors.length > before ? undefined : out;
}

/** YAML booleans; kpromo's yaml.v2 also reads yes/no/on/off, which Hoist refuses as ambiguous. */
function readBool(node: YNode): boolean | undefined {
  if (node.kind !== 'scalar' || node.quoted) return undefined;
  if (isNullScalar(node)) return false;
  if (/^(true|True|TRUE)$/.test(node.text)) return true;
  if (/^(false|False|FALSE)$/.test(node.text)) return false;
  return undefined;
}

/**
 * The images of a manifest, as entries aligned with the file (undefined where an entry is
 * refused). Problems inside one image refuse that image or one digest of it.
 */
function readImages(w: Walker, node: YNode | undefined, path: ValuePath, at: { line: number; column: number }): (ImageSpec | undefined)[] | undefined {
  if (node === undefined || isNullScalar(node) || (node.kind === 'seq' && node.items.length === 0)) {
    w.warnings.push(w.problem('NoImages', node ?? at, path,
      `no images${node && !isNullScalar(node) ? ' (an empty list)' : ''}; nothing is promoted from this manifest until images are added`).asWarning());
    return [];
  }
  if (node.kind !== 'seq') {
    w.refuse('WrongType', node, path, `expected a list of images (name and dmap), got ${describeNode(node)}`);
    return undefined;
  }
  return node.items.map((item, i) => readImage(w, item, [...path, i]));
}

function readImage(w: Walker, item: YNode, path: ValuePath): ImageSpec | undefined {
  if (item.kind !== 'map') {
    w.errors.push(w.problem('WrongType', item, path, `expected an image (a mapping with name and dmap), got ${describeNode(item)}; this entry is skipped`).refusing({ image: '' }));
    return undefined;
  }
  // Until the name is known the entry is refused as an unnamed image.
  const problems: ManifestError[] = [];
  const fields = w.fields(item, path, imageFields, (e) => problems.push(e));
  let name: string | undefined;
  const nameAt = fields.get('name');
  if (nameAt === undefined) {
    problems.push(w.problem('MissingField', item, [...path, 'name'], 'required field "name" is missing; add it'));
  } else {
    const value = w.string(item.values[nameAt]!, [...path, 'name'], (e) => problems.push(e));
    const where = isNullScalar(item.values[nameAt]) ? item.keys[nameAt]! : item.values[nameAt]!;
    if (value === null || value === '') problems.push(w.problem('EmptyValue', where, [...path, 'name'], 'must not be empty; fill it in'));
    else if (value !== undefined && (value.length > 255 || !imageNameRegExp.test(value))) {
      problems.push(w.problem('InvalidName', where, [...path, 'name'], `${describeValue(value)} is not ${patternHelp.image}`));
    } else if (value !== undefined) name = value;
  }
  const dmapAt = fields.get('dmap');
  const dmapNode = dmapAt === undefined ? undefined : item.values[dmapAt]!;
  let dmap: Record<string, string[]> | undefined;
  if (dmapNode !== undefined && !isNullScalar(dmapNode) && dmapNode.kind !== 'map') {
    problems.push(w.problem('WrongType', dmapNode, [...path, 'dmap'], `expected a mapping of digests to tag lists, got ${describeNode(dmapNode)}`));
  }
  const image = name ?? '';
  if (problems.length > 0) {
    for (const p of problems) w.errors.push(p.refusing({ image }));
    return undefined;
  }
  if (dmapNode === undefined || isNullScalar(dmapNode) || (dmapNode.kind === 'map' && dmapNode.keys.length === 0)) {
    w.warnings.push(w.problem('EmptyDmap', dmapNode && !isNullScalar(dmapNode) ? dmapNode : item.keys[dmapAt ?? nameAt!]!, [...path, 'dmap'],
      `image "${image}" has no digests, so nothing is promoted for it; list a digest in its dmap or remove the image`).asWarning());
    dmap = {};
  } else {
    dmap = readDmap(w, dmapNode as YMap, [...path, 'dmap'], image);
  }
  return { name: image, dmap };
}

function readDmap(w: Walker, node: YMap, path: ValuePath, image: string): Record<string, string[]> {
  const dmap: Record<string, string[]> = {};
  const refused = new Set<string>();
  const firstLine = new Map<string, number>();
  node.keys.forEach((key, i) => {
    const digest = key.text;
    const entryPath = [...path, digest];
    const refuse = (reason: ManifestErrorReason, at: YNode, p: ValuePath, message: string) =>
      w.errors.push(w.problem(reason, at, p, message).refusing({ image, digest }));
    const first = firstLine.get(digest);
    if (first !== undefined) {
      refuse('DuplicateKey', key, entryPath, `duplicate key "${digest}" (first at line ${first}); the digest is listed twice, so neither entry is promoted — merge them`);
      refused.add(digest);
      delete dmap[digest];
      return;
    }
    firstLine.set(digest, key.line);
    if (!digestRegExp.test(digest)) {
      refuse('InvalidDigest', key, entryPath, `${describeValue(digest)} is not ${patternHelp.digest}; this entry is skipped — fix or remove it`);
      refused.add(digest);
      return;
    }
    const tags = readTags(node.values[i]!, entryPath, (reason, at, p, message) => refuse(reason, at, p, message));
    if (tags !== undefined && !refused.has(digest)) dmap[digest] = tags;
  });
  return dmap;
}

function readTags(node: YNode, path: ValuePath, refuse: (reason: ManifestErrorReason, at: YNode, p: ValuePath, message: string) => void): string[] | undefined {
  // `"sha256:...":` with no value is a digest promoted without tags, as kpromo reads it.
  if (isNullScalar(node)) return [];
  if (node.kind !== 'seq') {
    refuse('WrongType', node, path, `expected a list of tags, got ${describeNode(node)}; this entry is skipped`);
    return undefined;
  }
  const tags: string[] = [];
  let ok = true;
  node.items.forEach((item, k) => {
    if (item.kind !== 'scalar') {
      refuse('WrongType', item, [...path, k], `expected a tag, got ${describeNode(item)}; this entry is skipped`);
      ok = false;
    } else if (isNullScalar(item) || !tagRegExp.test(item.text)) {
      refuse('InvalidTag', item, [...path, k], `${isNullScalar(item) ? 'an empty value' : describeValue(item.text)} is not ${patternHelp.tag}; this entry is skipped`);
      ok = false;
    } else {
      tags.push(item.text);
    }
  });
  return ok ? tags : undefined;
}

/** Locates model paths (`registries[...]`, `images[...]`) in the files they came from. */
function locator(registries: YamlSource, images: YamlSource, imagesBase: ValuePath, shownBase: ValuePath): Locator {
  const find = (path: ValuePath): { source: YamlSource; inFile: ValuePath; shown: ValuePath } => (path[0] === 'images'
    ? { source: images, inFile: [...imagesBase, ...path.slice(1)], shown: [...shownBase, ...path.slice(1)] }
    : { source: registries, inFile: path, shown: path });
  return {
    report: (reason, path, message, at) => {
      const { source, inFile, shown } = find(path);
      const { line, column } = source.position(inFile, at);
      const where = formatPath(shown);
      return new ManifestError(reason, source.file, line, column, where === '' ? message : `${where}: ${message}`);
    },
    line: (path, at) => {
      const { source, inFile } = find(path);
      return source.position(inFile, at).line;
    },
    origin: (path, at) => {
      const { source, inFile } = find(path);
      return { file: source.file, ...source.position(inFile, at) };
    },
  };
}

/** The one document of a manifest file; a second document refuses the file (kpromo would ignore it). */
function oneDocument(w: Walker, text: string): YamlSource | undefined | null {
  const { documents, errors } = parseYaml(w.file, text);
  if (errors.length > 0) {
    w.errors.push(...errors);
    return null;
  }
  const [doc, extra] = documents;
  if (extra) {
    w.refuse('YamlSyntax', { line: extra.line, column: 1 }, [], 'a second YAML document; a manifest file holds one document — remove the ---');
    return null;
  }
  return doc?.root ? new YamlSource(w.file, doc) : undefined;
}

function finish(spec: { registries?: RegistrySpec[]; images?: (ImageSpec | undefined)[] }, locate: Locator, walkers: Walker[]): ParsedManifest {
  const errors = walkers.flatMap((w) => w.errors);
  const warnings = walkers.flatMap((w) => w.warnings);
  const refused = errors.some((e) => e.scope === 'manifest');
  if (refused || !spec.registries || !spec.images) return { spec: undefined, origins: new Map(), errors, warnings };
  const registries = reviewRegistries(spec.registries, locate);
  const images = reviewImages(spec.images, locate);
  for (const p of [...registries.problems, ...images.problems]) (p.isWarning ? warnings : errors).push(p);
  const ok = !registries.problems.some((p) => p.scope === 'manifest');
  return { spec: ok ? { registries: registries.value, images: images.value } : undefined, origins: images.origins, errors, warnings };
}

export function parsePlainManifest(file: string, text: string): ParsedManifest {
  const w = new Walker(file);
  const source = oneDocument(w, text);
  if (source === undefined) w.refuse('NotAManifest', { line: 1, column: 1 }, [], 'the file is empty; a manifest needs registries and images');
  const root = source?.root;
  let registries: RegistrySpec[] | undefined;
  let images: (ImageSpec | undefined)[] | undefined;
  if (root && root.kind !== 'map') w.refuse('WrongType', root, [], `expected a manifest (a mapping with registries and images), got ${describeNode(root)}`);
  else if (root) {
    const fields = w.fields(root, [], ['registries', 'images'], (e) => w.errors.push(e));
    const regAt = fields.get('registries');
    const imgAt = fields.get('images');
    registries = readRegistries(w, regAt === undefined ? undefined : root.values[regAt], ['registries'], { line: 1, column: 1 });
    images = readImages(w, imgAt === undefined ? undefined : root.values[imgAt], ['images'], imgAt === undefined ? root : root.keys[imgAt]!);
  }
  const locate = source ? locator(source, source, ['images'], ['images']) : locator(emptySource(file), emptySource(file), [], []);
  return finish({ registries, images }, locate, [w]);
}

/** A thin manifest: registries from the manifest file, images from the project's images file. */
export function parseThinManifest(manifest: { file: string; text: string }, imagesFile: { file: string; text: string }): ParsedManifest {
  const head = new Walker(manifest.file);
  const body = new Walker(imagesFile.file);
  const headSource = oneDocument(head, manifest.text);
  const bodySource = oneDocument(body, imagesFile.text);
  let registries: RegistrySpec[] | undefined;
  if (headSource === undefined) head.refuse('NotAManifest', { line: 1, column: 1 }, [], 'the file is empty; a thin manifest needs its registries (the source with src: true and the destinations)');
  else if (headSource) {
    const root = headSource.root;
    if (!root || root.kind !== 'map') head.refuse('WrongType', root ?? { line: 1, column: 1 }, [], `expected a thin manifest (a mapping with registries), got ${root ? describeNode(root) : 'nothing'}`);
    else {
      // `imagesPath` is legacy: kpromo always reads images/<project>/images.yaml.
      const fields = head.fields(root, [], ['registries', 'imagesPath'], (e) => head.errors.push(e));
      const regAt = fields.get('registries');
      registries = readRegistries(head, regAt === undefined ? undefined : root.values[regAt], ['registries'], { line: 1, column: 1 });
    }
  }
  let images: (ImageSpec | undefined)[] | undefined;
  // An images.yaml with nothing but comments holds no images (kpromo accepts it).
  if (bodySource !== null) images = readImages(body, bodySource?.root, [], { line: 1, column: 1 });
  const hs = headSource ?? emptySource(manifest.file);
  const bs = bodySource ?? emptySource(imagesFile.file);
  return finish({ registries, images }, locator(hs, bs, [], []), [head, body]);
}

function emptySource(file: string): YamlSource {
  return new YamlSource(file, { root: undefined, line: 1, column: 1 });
}
