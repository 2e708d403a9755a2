// A parsed YAML document that remembers where every value came from, so any problem found
// later (by zod or by the rules) can be reported at file:line:col.
import { formatPath, ManifestError, type ManifestErrorReason, type ValuePath } from './errors.ts';
import { isNullScalar, parseYaml, type YDocument, type YMap, type YNode } from './yaml.ts';

/** Maps with more keys than this get an index on their first lookup (a dmap of thousands of digests). */
const indexFrom = 16;
const keyIndexes = new WeakMap<YMap, Map<string, number>>();

/** Index of the first `key` in `map`, or -1. */
export function keyIndex(map: YMap, key: string): number {
  if (map.keys.length <= indexFrom) return map.keys.findIndex((k) => k.text === key);
  let index = keyIndexes.get(map);
  if (!index) {
    index = new Map();
    for (let i = map.keys.length - 1; i >= 0; i--) index.set(map.keys[i]!.text, i);
    keyIndexes.set(map, index);
  }
  return index.get(key) ?? -1;
}

export class YamlSource {
  readonly file: string;
  readonly doc: YDocument;

  constructor(file: string, doc: YDocument) {
    this.file = file;
    this.doc = doc;
  }

  get root(): YNode | undefined {
    return this.doc.root;
  }

  /** The position of the value at `path`, or of its key; the nearest existing ancestor if it is missing. */
  position(path: ValuePath, at: 'key' | 'value' = 'value'): { line: number; column: number } {
    let node = this.doc.root;
    let pos = { line: node?.line ?? this.doc.line, column: node?.column ?? this.doc.column };
    for (const segment of path) {
      if (!node) break;
      let next: YNode | undefined;
      let key: YNode | undefined;
      if (node.kind === 'map') {
        const i = keyIndex(node, String(segment));
        if (i >= 0) {
          key = node.keys[i];
          next = node.values[i];
        }
      } else if (node.kind === 'seq' && typeof segment === 'number') {
        next = node.items[segment];
      }
      if (!next) break;
      // An empty value sits where its key is; pointing past the colon helps nobody.
      const target = at === 'key' || (key && isNullScalar(next)) ? key ?? next : next;
      pos = { line: target.line, column: target.column };
      node = next;
    }
    return pos;
  }

  error(reason: ManifestErrorReason, path: ValuePath, message: string, at: 'key' | 'value' = 'value'): ManifestError {
    const { line, column } = this.position(path, at);
    const where = formatPath(path);
    return new ManifestError(reason, this.file, line, column, where === '' ? message : `${where}: ${message}`);
  }

  /** The document as plain data, scalars read as YAML 1.2 reads them (as kubectl sends them). */
  toData(): unknown {
    return this.doc.root ? toData(this.doc.root) : null;
  }
}

const intPattern = /^[-+]?(0|[1-9][0-9]*)$/;
const floatPattern = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** A plain scalar's YAML 1.2 core-schema value. */
export function plainValue(text: string): unknown {
  if (text === '' || text === '~' || text === 'null' || text === 'Null' || text === 'NULL') return null;
  if (text === 'true' || text === 'True' || text === 'TRUE') return true;
  if (text === 'false' || text === 'False' || text === 'FALSE') return false;
  if (intPattern.test(text) || floatPattern.test(text)) return Number(text);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^0o[0-7]+$/.test(text)) return Number.parseInt(text.slice(2), 8);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(text)) return Number.NaN;
  return text;
}

function toData(node: YNode): unknown {
  switch (node.kind) {
    case 'scalar': return node.quoted ? node.text : plainValue(node.text);
    case 'seq': return node.items.map(toData);
    case 'map': {
      const out: Record<string, unknown> = {};
      node.keys.forEach((key, i) => {
        // A key like __proto__ must become data, not change the object's prototype.
        Object.defineProperty(out, key.text, { value: toData(node.values[i]!), enumerable: true, writable: true, configurable: true });
      });
      return out;
    }
  }
}

/**
 * Duplicate keys, each located at the second key and naming the first: linear in the size of the
 * document (the `yaml` package's own check is quadratic in the keys of one mapping).
 */
export function duplicateKeys(file: string, root: YNode | undefined, base: ValuePath = []): ManifestError[] {
  const errors: ManifestError[] = [];
  const walk = (node: YNode, path: (string | number)[]) => {
    if (node.kind === 'map') {
      const seen = new Map<string, number>();
      node.keys.forEach((key, i) => {
        const first = seen.get(key.text);
        if (first === undefined) seen.set(key.text, key.line);
        else {
          errors.push(new ManifestError('DuplicateKey', file, key.line, key.column,
            `${formatPath([...path, key.text])}: duplicate key "${key.text}" (first at line ${first}); a key may appear once in a mapping — remove or merge one of them`));
        }
        walk(node.values[i]!, [...path, key.text]);
      });
    } else if (node.kind === 'seq') {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  if (root) walk(root, [...base]);
  return errors;
}

/** Parses a YAML stream into one source per document, or the syntax errors. */
export function parseYamlStream(file: string, text: string): { sources: YamlSource[]; syntaxErrors: ManifestError[] } {
  const { documents, errors } = parseYaml(file, text);
  if (errors.length > 0) return { sources: [], syntaxErrors: errors };
  return { sources: documents.map((doc) => new YamlSource(file, doc)), syntaxErrors: [] };
}
