// Errors of the trust work carry a stable CamelCase reason for conditions and events, and a
// message a person can act on.
export type TrustErrorReason =
  | 'InvalidKey'
  | 'WrongKeyPassword'
  | 'SecretUnavailable'
  | 'SigningFailed'
  | 'InvalidTrustedRoot'
  | 'TrustedRootNotFound'
  | 'InvalidIdentityToken'
  | 'IdentityTokenUnavailable'
  | 'KeylessNeedsTrustedRoot'
  | 'InvalidSigningConfig';

export class TrustError extends Error {
  readonly reason: TrustErrorReason;
  constructor(reason: TrustErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TrustError';
    this.reason = reason;
  }
}

/**
 * What is wrong with a document that failed JSON.parse or a protobuf schema, in words that never
 * quote it: V8's SyntaxError repeats the text ("Unexpected token ..., "<text>" is not valid
 * JSON") and the sigstore schemas name the value they refuse, and the document may be a
 * Secret's. Only the place (line and column) and the schema's own names are kept.
 */
export function contentFreeProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof SyntaxError) {
    const at = /line (\d+) column (\d+)/.exec(message);
    if (at) return `not valid JSON at line ${at[1]} column ${at[2]}`;
    const position = /at position (\d+)/.exec(message);
    if (position) return `not valid JSON at character ${Number(position[1]) + 1}`;
    return /end of JSON input/.test(message) ? 'not valid JSON: it ends too early' : 'not valid JSON';
  }
  const enumName = /for enum (\w+)$/.exec(message);
  if (enumName) return `a ${enumName[1]} field has a value the sigstore schema does not define`;
  return 'a field does not have the type the sigstore schema defines';
}
