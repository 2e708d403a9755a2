// A problem in a manifest, located like a compiler error so editors and CI logs can jump to it.

/** Stable reasons; they end up in conditions and events, so renaming one is a breaking change. */
export type ManifestErrorReason =
  | 'YamlSyntax' | 'DuplicateKey' | 'UnknownField' | 'MissingField' | 'WrongType' | 'EmptyValue' | 'TooMany'
  | 'InvalidDigest' | 'InvalidTag' | 'InvalidName' | 'InvalidValue'
  | 'NoSourceRegistry' | 'MultipleSourceRegistries' | 'NoDestinationRegistry' | 'DuplicateRegistry' | 'DuplicateImage'
  | 'EmptyDmap' | 'TagConflict'
  | 'MissingImagesFile' | 'MissingManifestFile' | 'NotAManifest' | 'UnreadableFile'
  // Issue 13: kpromo's acceptance rules and per-project isolation.
  | 'NoImages' | 'DuplicateTag' | 'OverlappingEdges' | 'SourceIsDestination' | 'NoManifests'
  // Issue 12: hostile input.
  | 'FileTooLarge' | 'NotARegularFile' | 'OutsideDirectory';

/** Where a value sits in a document, e.g. ['registries', 1, 'src']. */
export type ValuePath = readonly (string | number)[];

/**
 * What a problem costs: `manifest` refuses the whole manifest (or project); `entry` refuses one
 * dmap entry (an image's digest, or an image), the rest of the manifest goes on; `warning` refuses
 * nothing and is worth telling the manifest's owner.
 */
export type ProblemScope = 'manifest' | 'entry' | 'warning';

/** The refused dmap entry of an `entry` problem: `digest` absent when the whole image is refused. */
export interface RefusedEntry { image: string; digest?: string }

export class ManifestError extends Error {
  override name = 'ManifestError';
  readonly reason: ManifestErrorReason;
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** The problem without its location: `registries[1].src: ...`. */
  readonly detail: string;
  scope: ProblemScope = 'manifest';
  entry?: RefusedEntry;

  constructor(reason: ManifestErrorReason, file: string, line: number, column: number, detail: string) {
    super(`${file}:${line}:${column}: ${detail}`);
    this.reason = reason;
    this.file = file;
    this.line = line;
    this.column = column;
    this.detail = detail;
  }

  get isWarning(): boolean {
    return this.scope === 'warning';
  }

  /** This problem as a warning: the input is accepted. */
  asWarning(): this {
    this.scope = 'warning';
    return this;
  }

  /** This problem refuses one entry (an image, or one digest of it), not the whole manifest. */
  refusing(entry: RefusedEntry): this {
    this.scope = 'entry';
    this.entry = entry;
    return this;
  }

  /** As compilers print it: `file:line:col: detail`, with `warning: ` before a warning's detail. */
  format(): string {
    return this.isWarning ? `${this.file}:${this.line}:${this.column}: warning: ${this.detail}` : this.message;
  }

  toJSON(): object {
    return {
      severity: this.isWarning ? 'warning' : 'error', scope: this.scope, reason: this.reason,
      file: this.file, line: this.line, column: this.column, message: this.detail,
      ...(this.entry && { entry: this.entry }),
    };
  }
}

/** `registries[1].src`, `images[0].dmap["sha256:..."][2]`. */
export function formatPath(path: ValuePath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Orders errors as a reader scans files: by file, then position. */
export function sortErrors(errors: ManifestError[]): ManifestError[] {
  return [...errors].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column);
}
