// YAML into a small located tree: every scalar keeps its source text and whether it was quoted,
// every node its line and column. Manifests are read from this tree, so a problem found anywhere
// later is reported at file:line:col, and an unquoted `1.0` is still the tag "1.0" (as kpromo's
// yaml.v2 reads it into a string), not the number 1.
//
// Two readers build the same tree. A fast one covers the YAML that manifests are written in
// (block mappings and sequences, one-line quoted or plain scalars, one-line flow sequences of
// scalars, `{}`, comments, `---`): it reads registry.k8s.io's whole tree in well under a second
// where the `yaml` package's full parser took seconds and hundreds of MB. Anything else (anchors,
// tags, block or multi-line scalars, nested flow collections, and every syntax error) goes to the
// `yaml` package, whose document is converted into the same tree; a test checks that both
// readers agree wherever the fast one answers.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import { ManifestError } from './errors.ts';

export interface YScalar {
  kind: 'scalar';
  /** The scalar's content: unescaped for quoted scalars, the source text for plain ones. */
  text: string;
  /** Quoted or block scalars are always strings; plain ones may read as null, a boolean or a number. */
  quoted: boolean;
  line: number;
  column: number;
}
export interface YSeq { kind: 'seq'; items: YNode[]; line: number; column: number }
export interface YMap { kind: 'map'; keys: YScalar[]; values: YNode[]; line: number; column: number }
export type YNode = YScalar | YSeq | YMap;

/** One document of a stream; `root` is undefined for a document with nothing but comments. */
export interface YDocument { root: YNode | undefined; line: number; column: number }

export interface ParsedYaml { documents: YDocument[]; errors: ManifestError[] }

/** Plain scalars that YAML reads as null, and which kpromo leaves as an empty value. */
export function isNullScalar(node: YNode | undefined): boolean {
  return node === undefined || (node.kind === 'scalar' && !node.quoted && (node.text === '' || node.text === '~' || node.text === 'null' || node.text === 'Null' || node.text === 'NULL'));
}

export function parseYaml(file: string, text: string): ParsedYaml {
  const fast = new FastReader(text).read();
  if (fast) return { documents: fast, errors: [] };
  return readWithYamlPackage(file, text);
}

/** For tests: the fast reader alone; undefined where it hands over to the `yaml` package. */
export function parseYamlFast(text: string): YDocument[] | undefined {
  return new FastReader(text).read();
}

/** For tests: the `yaml` package alone. */
export function parseYamlFull(file: string, text: string): ParsedYaml {
  return readWithYamlPackage(file, text);
}

// ---------------------------------------------------------------------------------------------
// The fast reader. It never reports an error: anything it does not fully understand throws
// `Unsupported` and the `yaml` package reads the text instead, reporting what is wrong.

class Unsupported extends Error {}
const unsupported = (): never => {
  throw new Unsupported();
};

const Ch = { Space: 32, Tab: 9, Hash: 35, Dash: 45, Colon: 58, Comma: 44, Quote: 34, Apostrophe: 39, OpenBracket: 91, CloseBracket: 93, OpenBrace: 123, CloseBrace: 125, Backslash: 92 } as const;

// Characters that cannot start a plain scalar (YAML 1.2 c-indicator), or that the fast reader
// leaves to the full parser: anchors, aliases, tags, block scalars, directives, reserved.
const notPlainStart = new Set([...'[]{},#&*!|>\'"%@`'].map((c) => c.charCodeAt(0)));

class FastReader {
  readonly #text: string;
  readonly #lines: string[];
  #i = 0;
  #loneCarriageReturn = false;

  constructor(text: string) {
    this.#text = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    // \r only as part of \r\n; a lone \r is a line break YAML knows and this reader does not.
    const lines = this.#text.split('\n');
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k]!;
      const cr = line.indexOf('\r');
      if (cr >= 0) {
        if (cr !== line.length - 1) this.#loneCarriageReturn = true;
        else lines[k] = line.slice(0, -1);
      }
    }
    this.#lines = lines;
  }

  read(): YDocument[] | undefined {
    if (this.#loneCarriageReturn) return undefined;
    try {
      return this.#documents();
    } catch (error) {
      if (error instanceof Unsupported) return undefined;
      throw error;
    }
  }

  /** Index of the next line with content (not blank, not only a comment), or the line count. */
  #next(): number {
    const lines = this.#lines;
    while (this.#i < lines.length) {
      const line = lines[this.#i]!;
      let k = 0;
      while (k < line.length && (line.charCodeAt(k) === Ch.Space || line.charCodeAt(k) === Ch.Tab)) k++;
      if (k < line.length && line.charCodeAt(k) !== Ch.Hash) {
        // Tabs may not indent block content.
        for (let t = 0; t < k; t++) if (line.charCodeAt(t) === Ch.Tab) unsupported();
        return this.#i;
      }
      this.#i++;
    }
    return this.#i;
  }

  #indent(line: string): number {
    let k = 0;
    while (line.charCodeAt(k) === Ch.Space) k++;
    return k;
  }

  #isMarker(line: string, marker: '---' | '...'): boolean {
    if (!line.startsWith(marker)) return false;
    if (line.length === 3) return true;
    const c = line.charCodeAt(3);
    if (c !== Ch.Space && c !== Ch.Tab) return false;
    // Content after the marker (`--- !tag`, `--- |`) is for the full parser.
    if (!this.#restIsBlank(line, 4)) unsupported();
    return true;
  }

  #documents(): YDocument[] {
    const docs: YDocument[] = [];
    const lines = this.#lines;
    let explicitStart: { line: number } | undefined;
    let open = false; // a document has begun (by content or ---) and not yet ended
    for (;;) {
      const k = this.#next();
      if (k >= lines.length) break;
      const line = lines[k]!;
      if (line.charCodeAt(0) === 37 /* % */) unsupported();
      if (this.#isMarker(line, '---')) {
        if (open) docs.push({ root: undefined, line: explicitStart?.line ?? 1, column: 1 });
        explicitStart = { line: k + 1 };
        open = true;
        this.#i++;
        continue;
      }
      if (this.#isMarker(line, '...')) {
        if (!open) unsupported(); // the yaml package reads a lone `...` as an empty document
        if (open) docs.push({ root: undefined, line: explicitStart?.line ?? 1, column: 1 });
        open = false;
        explicitStart = undefined;
        this.#i++;
        continue;
      }
      const root = this.#block(0);
      if (!root) unsupported();
      docs.push({ root, line: explicitStart?.line ?? root!.line, column: 1 });
      open = false;
      explicitStart = undefined;
      // After a root node only a document marker may follow.
      const after = this.#next();
      if (after < lines.length && !this.#isMarker(lines[after]!, '---') && !this.#isMarker(lines[after]!, '...')) unsupported();
    }
    if (open) docs.push({ root: undefined, line: explicitStart?.line ?? 1, column: 1 });
    return docs;
  }

  /** A block node whose lines are indented at least `min`; undefined if the next line is less indented. */
  #block(min: number): YNode | undefined {
    const k = this.#next();
    if (k >= this.#lines.length) return undefined;
    const line = this.#lines[k]!;
    if (this.#isMarker(line, '---') || this.#isMarker(line, '...')) return undefined;
    const indent = this.#indent(line);
    if (indent < min) return undefined;
    if (this.#isSeqItem(line, indent)) return this.#seq(indent);
    if (this.#keyEnd(line, indent) >= 0) return this.#map(indent, indent);
    // A scalar or flow collection alone on its line(s).
    const { node, end } = this.#inline(line, indent, k);
    this.#endOfLine(line, end);
    this.#i = k + 1;
    this.#noContinuation(min - 1);
    return node;
  }

  #isSeqItem(line: string, at: number): boolean {
    if (line.charCodeAt(at) !== Ch.Dash) return false;
    const c = line.charCodeAt(at + 1);
    return Number.isNaN(c) || c === Ch.Space || c === Ch.Tab;
  }

  /** Lines after a complete value must be less indented than `parentIndent` + 1, or it continues (multi-line). */
  #noContinuation(parentIndent: number): void {
    const k = this.#next();
    if (k < this.#lines.length && this.#indent(this.#lines[k]!) > parentIndent) unsupported();
  }

  #seq(indent: number): YSeq {
    const lines = this.#lines;
    const k0 = this.#next();
    const seq: YSeq = { kind: 'seq', items: [], line: k0 + 1, column: indent + 1 };
    for (;;) {
      const k = this.#next();
      if (k >= lines.length) break;
      const line = lines[k]!;
      const here = this.#indent(line);
      if (here < indent) break;
      if (here > indent) unsupported();
      if (this.#isMarker(line, '---') || this.#isMarker(line, '...')) break;
      if (!this.#isSeqItem(line, indent)) break;
      let c = indent + 1;
      while (line.charCodeAt(c) === Ch.Space) c++;
      if (line.charCodeAt(c) === Ch.Tab) unsupported();
      if (c >= line.length || line.charCodeAt(c) === Ch.Hash) {
        // `-` alone: the item is the block below, or null.
        this.#i = k + 1;
        const item = this.#block(indent + 1);
        seq.items.push(item ?? { kind: 'scalar', text: '', quoted: false, line: k + 1, column: c + 1 });
        continue;
      }
      if (this.#isSeqItem(line, c)) unsupported(); // `- - a`: compact nested sequence
      if (this.#keyEnd(line, c) >= 0) {
        seq.items.push(this.#map(c, c));
        continue;
      }
      const { node, end } = this.#inline(line, c, k);
      this.#endOfLine(line, end);
      this.#i = k + 1;
      this.#noContinuation(indent);
      seq.items.push(node);
    }
    return seq;
  }

  /**
   * A block mapping whose keys sit at column `indent`; the first key may start further right
   * (`firstAt`), as in a sequence item `- name: x`.
   */
  #map(indent: number, firstAt: number): YMap {
    const lines = this.#lines;
    const k0 = this.#next();
    const map: YMap = { kind: 'map', keys: [], values: [], line: k0 + 1, column: firstAt + 1 };
    let first = true;
    for (;;) {
      const k = this.#next();
      if (k >= lines.length) break;
      const line = lines[k]!;
      let at: number;
      if (first) {
        at = firstAt;
      } else {
        const here = this.#indent(line);
        if (here < indent) break;
        if (here > indent) unsupported();
        if (this.#isMarker(line, '---') || this.#isMarker(line, '...')) break;
        if (this.#isSeqItem(line, here)) break; // a sequence at the parent's indentation
        at = here;
      }
      first = false;
      const colon = this.#keyEnd(line, at);
      if (colon < 0) unsupported();
      const key = this.#key(line, at, colon, k);
      map.keys.push(key);
      let v = colon + 1;
      while (line.charCodeAt(v) === Ch.Space) v++;
      if (line.charCodeAt(v) === Ch.Tab) unsupported();
      if (v >= line.length || line.charCodeAt(v) === Ch.Hash) {
        if (v < line.length && line.charCodeAt(v - 1) !== Ch.Space) unsupported();
        // The value is the block below: more indented, or a sequence at this indentation.
        this.#i = k + 1;
        const next = this.#next();
        const nextLine = this.#lines[next];
        let value: YNode | undefined;
        if (nextLine !== undefined && this.#indent(nextLine) === indent && this.#isSeqItem(nextLine, indent)) value = this.#seq(indent);
        else value = this.#block(indent + 1);
        // An empty value is placed at its key, whichever reader built the tree.
        map.values.push(value ?? { kind: 'scalar', text: '', quoted: false, line: key.line, column: key.column });
        continue;
      }
      const { node, end } = this.#inline(line, v, k);
      this.#endOfLine(line, end);
      this.#i = k + 1;
      this.#noContinuation(indent);
      map.values.push(node);
    }
    return map;
  }

  /**
   * Where the `:` of a `key: value` line starting at `at` is, or -1 if the line is not a
   * simple key. Quoted keys must close on the line; plain keys end at the first `: ` or a
   * final `:`.
   */
  #keyEnd(line: string, at: number): number {
    const c = line.charCodeAt(at);
    if (c === Ch.Quote || c === Ch.Apostrophe) {
      const end = c === Ch.Quote ? this.#doubleQuotedEnd(line, at) : this.#singleQuotedEnd(line, at);
      if (end < 0) return -1;
      let k = end;
      while (line.charCodeAt(k) === Ch.Space) k++;
      if (line.charCodeAt(k) !== Ch.Colon) return -1;
      const after = line.charCodeAt(k + 1);
      return Number.isNaN(after) || after === Ch.Space || after === Ch.Tab ? k : -1;
    }
    if (notPlainStart.has(c) || c === 63 /* ? */) return -1;
    if ((c === Ch.Dash || c === Ch.Colon) && (line.charCodeAt(at + 1) === Ch.Space || at + 1 >= line.length)) return -1;
    for (let k = at; k < line.length; k++) {
      const ch = line.charCodeAt(k);
      if (ch === Ch.Colon) {
        const after = line.charCodeAt(k + 1);
        if (Number.isNaN(after) || after === Ch.Space || after === Ch.Tab) return k;
      } else if (ch === Ch.Hash && (line.charCodeAt(k - 1) === Ch.Space || line.charCodeAt(k - 1) === Ch.Tab)) {
        return -1;
      }
    }
    return -1;
  }

  #key(line: string, at: number, colon: number, k: number): YScalar {
    const c = line.charCodeAt(at);
    if (c === Ch.Quote || c === Ch.Apostrophe) {
      const { node } = this.#quoted(line, at, k);
      return node;
    }
    const text = line.slice(at, colon).trimEnd();
    if (text === '') unsupported();
    return { kind: 'scalar', text, quoted: false, line: k + 1, column: at + 1 };
  }

  /** A value that fits on the rest of the line: a scalar or a one-line flow collection. */
  #inline(line: string, at: number, k: number): { node: YNode; end: number } {
    const c = line.charCodeAt(at);
    if (c === Ch.Quote || c === Ch.Apostrophe) return this.#quoted(line, at, k);
    if (c === Ch.OpenBracket) return this.#flowSeq(line, at, k);
    if (c === Ch.OpenBrace) {
      let e = at + 1;
      while (line.charCodeAt(e) === Ch.Space || line.charCodeAt(e) === Ch.Tab) e++;
      if (line.charCodeAt(e) !== Ch.CloseBrace) unsupported();
      return { node: { kind: 'map', keys: [], values: [], line: k + 1, column: at + 1 }, end: e + 1 };
    }
    if (notPlainStart.has(c) || ((c === Ch.Dash || c === 63 || c === Ch.Colon) && (line.charCodeAt(at + 1) === Ch.Space || at + 1 >= line.length))) unsupported();
    // A plain scalar runs to ` #` or the end of the line; `: ` inside it is a YAML error.
    let end = line.length;
    for (let e = at; e < line.length; e++) {
      const ch = line.charCodeAt(e);
      if (ch === Ch.Hash && (line.charCodeAt(e - 1) === Ch.Space || line.charCodeAt(e - 1) === Ch.Tab)) { end = e; break; }
      if (ch === Ch.Colon && (e + 1 >= line.length || line.charCodeAt(e + 1) === Ch.Space || line.charCodeAt(e + 1) === Ch.Tab)) unsupported();
    }
    const text = line.slice(at, end).trimEnd();
    return { node: { kind: 'scalar', text, quoted: false, line: k + 1, column: at + 1 }, end };
  }

  #flowSeq(line: string, at: number, k: number): { node: YSeq; end: number } {
    const seq: YSeq = { kind: 'seq', items: [], line: k + 1, column: at + 1 };
    let e = at + 1;
    const skip = () => { while (line.charCodeAt(e) === Ch.Space || line.charCodeAt(e) === Ch.Tab) e++; };
    skip();
    if (line.charCodeAt(e) === Ch.CloseBracket) return { node: seq, end: e + 1 };
    for (;;) {
      skip();
      const c = line.charCodeAt(e);
      if (Number.isNaN(c)) unsupported(); // continues on the next line
      if (c === Ch.Quote || c === Ch.Apostrophe) {
        const { node, end } = this.#quoted(line, e, k);
        seq.items.push(node);
        e = end;
      } else {
        // `-`, `?` and `:` start a plain scalar only before a character that is safe in flow context.
        if (notPlainStart.has(c) || ((c === Ch.Dash || c === 63 || c === Ch.Colon) && !flowSafe(line.charCodeAt(e + 1)))) unsupported();
        const start = e;
        while (e < line.length) {
          const ch = line.charCodeAt(e);
          if (ch === Ch.Comma || ch === Ch.CloseBracket || ch === Ch.OpenBracket || ch === Ch.OpenBrace || ch === Ch.CloseBrace) break;
          // `a: b` inside a flow sequence is a single-pair mapping; a comment ends the line.
          if (ch === Ch.Colon || (ch === Ch.Hash && line.charCodeAt(e - 1) === Ch.Space)) unsupported();
          e++;
        }
        const text = line.slice(start, e).trimEnd();
        if (text === '') unsupported();
        seq.items.push({ kind: 'scalar', text, quoted: false, line: k + 1, column: start + 1 });
      }
      skip();
      const sep = line.charCodeAt(e);
      if (sep === Ch.CloseBracket) return { node: seq, end: e + 1 };
      if (sep !== Ch.Comma) unsupported();
      e++;
      skip();
      if (line.charCodeAt(e) === Ch.CloseBracket) return { node: seq, end: e + 1 }; // trailing comma
    }
  }

  /** Index just after the closing quote, or -1 if the scalar does not close on this line. */
  #doubleQuotedEnd(line: string, at: number): number {
    for (let e = at + 1; e < line.length; e++) {
      const ch = line.charCodeAt(e);
      if (ch === Ch.Backslash) e++;
      else if (ch === Ch.Quote) return e + 1;
    }
    return -1;
  }

  #singleQuotedEnd(line: string, at: number): number {
    for (let e = at + 1; e < line.length; e++) {
      if (line.charCodeAt(e) === Ch.Apostrophe) {
        if (line.charCodeAt(e + 1) === Ch.Apostrophe) e++;
        else return e + 1;
      }
    }
    return -1;
  }

  #quoted(line: string, at: number, k: number): { node: YScalar; end: number } {
    const double = line.charCodeAt(at) === Ch.Quote;
    const end = double ? this.#doubleQuotedEnd(line, at) : this.#singleQuotedEnd(line, at);
    if (end < 0) unsupported();
    const body = line.slice(at + 1, end - 1);
    const text = double ? unescapeDouble(body) : body.replaceAll("''", "'");
    return { node: { kind: 'scalar', text, quoted: true, line: k + 1, column: at + 1 }, end };
  }

  /** Only blanks or a comment (after a blank) may follow a value on its line. */
  #endOfLine(line: string, end: number): void {
    let e = end;
    while (line.charCodeAt(e) === Ch.Space || line.charCodeAt(e) === Ch.Tab) e++;
    if (e >= line.length) return;
    if (line.charCodeAt(e) === Ch.Hash && e > end) return;
    unsupported();
  }

  #restIsBlank(line: string, from: number): boolean {
    let e = from;
    while (line.charCodeAt(e) === Ch.Space || line.charCodeAt(e) === Ch.Tab) e++;
    return e >= line.length || line.charCodeAt(e) === Ch.Hash;
  }
}

const simpleEscapes: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
  ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\u0085', _: '\u00a0', L: '\u2028', P: '\u2029',
};

function flowSafe(c: number): boolean {
  return !Number.isNaN(c) && c !== Ch.Space && c !== Ch.Tab && c !== Ch.Comma && c !== Ch.OpenBracket && c !== Ch.CloseBracket && c !== Ch.OpenBrace && c !== Ch.CloseBrace;
}

function unescapeDouble(body: string): string {
  if (!body.includes('\\')) return body;
  let out = '';
  for (let e = 0; e < body.length; e++) {
    const ch = body[e]!;
    if (ch !== '\\') { out += ch; continue; }
    const next = body[++e];
    if (next === undefined) unsupported();
    const simple = simpleEscapes[next!];
    if (simple !== undefined) { out += simple; continue; }
    const width = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    const hex = body.slice(e + 1, e + 1 + width);
    if (width === 0 || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== width) unsupported();
    const code = Number.parseInt(hex, 16);
    if (code > 0x10ffff) unsupported();
    out += String.fromCodePoint(code);
    e += width;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The `yaml` package, for everything else. Its duplicate-key check is quadratic in the number of
// keys (issue 12): it is off, and duplicates are found on the tree in linear time.

/** An alias may not make a document more than this many times larger than it is written. */
const maxAliasExpansion = 100;

function readWithYamlPackage(file: string, text: string): ParsedYaml {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  if (!Array.isArray(docs)) return { documents: [], errors: [] }; // an empty stream
  const errors: ManifestError[] = [];
  const documents: YDocument[] = [];
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  for (const doc of docs) {
    for (const problem of doc.errors) {
      const { line, column } = at(problem.pos[0]);
      errors.push(new ManifestError('YamlSyntax', file, line, column, `${firstLine(problem.message)}; fix the YAML syntax`));
    }
    if (doc.errors.length > 0) continue;
    const converted = convertDocument(file, doc, at);
    if (converted instanceof ManifestError) errors.push(converted);
    else documents.push(converted);
  }
  return { documents, errors: errors.length > 0 ? errors : [] };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function convertDocument(file: string, doc: Document, at: (offset: number) => { line: number; column: number }): YDocument | ManifestError {
  const anchors = new Map<YamlNode, YNode>();
  let written = 0;
  const start = at(doc.range?.[0] ?? 0);
  const convert = (node: unknown, fallback: { line: number; column: number }): YNode => {
    if (node === null || node === undefined) return { kind: 'scalar', text: '', quoted: false, ...fallback };
    if (isAlias(node)) {
      const target = node.resolve(doc);
      const converted = target ? anchors.get(target) : undefined;
      if (!converted) throw aliasError(file, at((node as YamlNode).range?.[0] ?? 0), `alias *${node.source} does not name an earlier anchor`);
      return converted;
    }
    const pos = (node as YamlNode).range ? at((node as YamlNode).range![0]) : fallback;
    written++;
    let out: YNode;
    if (isScalar(node)) {
      const quoted = node.type !== 'PLAIN' || node.tag === 'tag:yaml.org,2002:str';
      const text = node.type === 'PLAIN' && typeof node.source === 'string' ? node.source : node.value === null ? '' : String(node.value);
      out = { kind: 'scalar', text, quoted, ...pos };
    } else if (isSeq(node)) {
      const seq: YSeq = { kind: 'seq', items: [], ...pos };
      out = seq;
      for (const item of node.items) seq.items.push(convert(item, pos));
    } else if (isMap(node)) {
      const map: YMap = { kind: 'map', keys: [], values: [], ...pos };
      out = map;
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = convert(pair.key, pos);
        if (key.kind !== 'scalar') throw aliasError(file, key, 'a mapping key must be a single value, not a list or mapping');
        map.keys.push(key);
        const value = convert(pair.value, { line: key.line, column: key.column });
        // An empty value is placed at its key, whichever reader built the tree.
        map.values.push(value.kind === 'scalar' && !value.quoted && value.text === '' ? { ...value, line: key.line, column: key.column } : value);
      }
    } else {
      throw aliasError(file, pos, 'unsupported YAML node');
    }
    // Registered once complete: an alias inside its own anchor's node is refused, not a cycle.
    if ((node as YamlNode & { anchor?: string }).anchor) anchors.set(node as YamlNode, out);
    return out;
  };
  try {
    let root = doc.contents === null ? undefined : convert(doc.contents, start);
    // A document with no content at all reads as an empty plain scalar; it is an empty document.
    if (root?.kind === 'scalar' && !root.quoted && root.text === '' && isScalar(doc.contents) && !doc.contents.source) root = undefined;
    if (root && anchors.size > 0) {
      const size = expandedSize(root);
      if (size > maxAliasExpansion * Math.max(written, 10)) {
        return aliasError(file, root, `aliases expand this document to ${size} values from ${written} written; a manifest may not use aliases to grow more than ${maxAliasExpansion}-fold`);
      }
    }
    return { root, ...start };
  } catch (error) {
    if (error instanceof ManifestError) return error;
    throw error;
  }
}

function aliasError(file: string, pos: { line: number; column: number }, detail: string): ManifestError {
  return new ManifestError('YamlSyntax', file, pos.line, pos.column, detail);
}

/** The number of nodes the tree stands for once aliases are expanded, counted without expanding. */
function expandedSize(root: YNode): number {
  const memo = new Map<YNode, number>();
  const size = (node: YNode): number => {
    const known = memo.get(node);
    if (known !== undefined) return known;
    let n = 1;
    if (node.kind === 'seq') for (const item of node.items) n += size(item);
    else if (node.kind === 'map') for (let i = 0; i < node.keys.length; i++) n += 1 + size(node.values[i]!);
    memo.set(node, n);
    return n;
  };
  return size(root);
}
