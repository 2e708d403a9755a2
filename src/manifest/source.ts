// A parsed YAML document that remembers where every value came from, so any problem found
// later (by zod or by the rules) can be reported at file:line:col.
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { formatPath, ManifestError, type ManifestErrorReason, type ValuePath } from './errors.ts';

export class YamlSource {
  readonly file: string;
  readonly doc: Document;
  readonly #lines: LineCounter;

  constructor(file: string, doc: Document, lines: LineCounter) {
    this.file = file;
    this.doc = doc;
    this.#lines = lines;
  }

  /** The position of the value at `path`, or of its key; the nearest existing ancestor if it is missing. */
  position(path: ValuePath, at: 'key' | 'value' = 'value'): { line: number; column: number } {
    let node: unknown = this.doc.contents;
    let offset = node && (node as Node).range ? (node as Node).range![0] : 0;
    for (const segment of path) {
      let next: { key?: unknown; value: unknown } | undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(segment));
        if (pair) next = { key: pair.key, value: pair.value };
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (item !== undefined) next = { value: item };
      }
      if (!next) break;
      const keyOffset = rangeStart(next.key);
      const valueOffset = rangeStart(next.value);
      offset = (at === 'key' ? keyOffset ?? valueOffset : valueOffset ?? keyOffset) ?? offset;
      node = next.value;
    }
    return this.lineColumn(offset);
  }

  lineColumn(offset: number): { line: number; column: number } {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  error(reason: ManifestErrorReason, path: ValuePath, message: string, at: 'key' | 'value' = 'value'): ManifestError {
    const { line, column } = this.position(path, at);
    const where = formatPath(path);
    return new ManifestError(reason, this.file, line, column, where === '' ? message : `${where}: ${message}`);
  }

  /**
   * The document as plain data. Aliases are expanded with yaml's alias limit, so a "billion
   * laughs" file becomes an error instead of running out of memory.
   */
  toData(): { data: unknown; errors: ManifestError[] } {
    try {
      return { data: this.doc.toJS({ maxAliasCount: 100 }), errors: [] };
    } catch (error) {
      return { data: undefined, errors: [this.error('YamlSyntax', [], `cannot read the document: ${(error as Error).message}`)] };
    }
  }
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/**
 * Parses a YAML stream. Duplicate keys are found here rather than by the yaml package so the
 * message can name the key path and where the first one is; both keys stay in the document
 * so the rest of it is still checked.
 */
export function parseYamlStream(file: string, text: string): { sources: YamlSource[]; syntaxErrors: ManifestError[]; duplicateKeys: ManifestError[] } {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  if (!Array.isArray(docs)) return { sources: [], syntaxErrors: [], duplicateKeys: [] }; // empty stream
  const sources: YamlSource[] = [];
  const syntaxErrors: ManifestError[] = [];
  const duplicates: ManifestError[] = [];
  for (const doc of docs) {
    const source = new YamlSource(file, doc, lines);
    for (const problem of doc.errors) {
      const { line, col } = lines.linePos(problem.pos[0]);
      syntaxErrors.push(new ManifestError('YamlSyntax', file, line, col, `${firstLine(problem.message)}; fix the YAML syntax`));
    }
    if (doc.errors.length === 0) duplicates.push(...duplicateKeys(source, doc.contents, []));
    sources.push(source);
  }
  return { sources, syntaxErrors, duplicateKeys: duplicates };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function duplicateKeys(source: YamlSource, node: unknown, path: (string | number)[]): ManifestError[] {
  const errors: ManifestError[] = [];
  if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      const key = keyText(pair.key);
      const first = seen.get(key);
      if (first !== undefined) {
        // Located at this key; position() would find the first one.
        const here = source.lineColumn(rangeStart(pair.key) ?? 0);
        const firstAt = source.lineColumn(first).line;
        errors.push(new ManifestError('DuplicateKey', source.file, here.line, here.column,
          `${formatPath([...path, key])}: duplicate key "${key}" (first at line ${firstAt}); a key may appear once in a mapping — remove or merge one of them`));
      } else {
        seen.set(key, rangeStart(pair.key) ?? 0);
      }
      errors.push(...duplicateKeys(source, pair.value, [...path, key]));
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => errors.push(...duplicateKeys(source, item, [...path, index])));
  }
  return errors;
}
