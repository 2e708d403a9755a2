// A problem in a manifest, located like a compiler error so editors and CI logs can jump to it.

/** Stable reasons; they end up in conditions and events, so renaming one is a breaking change. */
export type ManifestErrorReason =
  | 'YamlSyntax' | 'DuplicateKey' | 'UnknownField' | 'MissingField' | 'WrongType' | 'EmptyValue' | 'TooMany'
  | 'InvalidDigest' | 'InvalidTag' | 'InvalidName' | 'InvalidValue'
  | 'NoSourceRegistry' | 'MultipleSourceRegistries' | 'NoDestinationRegistry' | 'DuplicateRegistry' | 'DuplicateImage'
  | 'EmptyDmap' | 'TagConflict'
  | 'MissingImagesFile' | 'MissingManifestFile' | 'NotAManifest' | 'UnreadableFile';

/** Where a value sits in a document, e.g. ['registries', 1, 'src']. */
export type ValuePath = readonly (string | number)[];

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

  constructor(reason: ManifestErrorReason, file: string, line: number, column: number, detail: string) {
    super(`${file}:${line}:${column}: ${detail}`);
    this.reason = reason;
    this.file = file;
    this.line = line;
    this.column = column;
    this.detail = detail;
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
  return [...errors].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}
