// Errors of the trust work carry a stable CamelCase reason for conditions and events, and a
// message a person can act on.
export type TrustErrorReason =
  | 'InvalidKey'
  | 'WrongKeyPassword'
  | 'SecretUnavailable'
  | 'SigningFailed'
  | 'InvalidTrustedRoot'
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
