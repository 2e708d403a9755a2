// Digests: every byte that crosses the client is hashed and compared with the digest it was
// asked for, so nothing is ever stored or trusted under the wrong name.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Content that is not what its digest or descriptor says: corrupt, never to be retried into place. */
export class DigestMismatchError extends Error {
  override name = 'DigestMismatchError';
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, message: string) {
    super(message);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A pass-through stream that hashes what flows and fails at the end when the digest or the
 * size differs: the stream errors instead of ending, so an upload fed by it is aborted.
 */
export class VerifyingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  readonly #expected: string;
  readonly #size: number | undefined;
  readonly #what: string;
  bytes = 0;

  constructor(expected: string, size: number | undefined, what: string) {
    super();
    if (!expected.startsWith('sha256:')) throw new Error(`${what}: unsupported digest algorithm in ${expected}`);
    this.#expected = expected;
    this.#size = size;
    this.#what = what;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.#size !== undefined && this.bytes > this.#size) {
      callback(new DigestMismatchError(`${this.#size} bytes`, `more`, `${this.#what}: more than the ${this.#size} bytes its descriptor declares`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = `sha256:${this.#hash.digest('hex')}`;
    if (actual !== this.#expected) callback(new DigestMismatchError(this.#expected, actual, `${this.#what}: content hashes to ${actual}, expected ${this.#expected}`));
    else if (this.#size !== undefined && this.bytes !== this.#size) {
      callback(new DigestMismatchError(`${this.#size} bytes`, `${this.bytes} bytes`, `${this.#what}: ${this.bytes} bytes, its descriptor declares ${this.#size}`));
    } else callback();
  }
}
