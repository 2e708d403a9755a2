// The identity Fulcio will certify for an OIDC token, worked out from the token's own claims
// so a keyless signer can recognise the signatures it made before without being told who it is.
// The claims are read, not verified: Fulcio verifies the token; a wrong guess here only means
// an earlier signature is not recognised and the digest is signed again.
import { TrustError } from './errors.ts';

export interface KeylessIdentity {
  issuer: string;
  subject: string;
}

interface Claims {
  iss?: unknown;
  sub?: unknown;
  email?: unknown;
  email_verified?: unknown;
  'kubernetes.io'?: { namespace?: unknown; serviceaccount?: { name?: unknown } };
}

function claimsOf(token: string): Claims {
  const payload = token.trim().split('.')[1];
  if (!payload) throw new Error('not a JWT (header.payload.signature)');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    // Not JSON.parse's message: it quotes the text, which is the token's own payload.
    throw new Error('the payload is not JSON');
  }
  if (typeof claims !== 'object' || claims === null) throw new Error('the payload is not a JSON object');
  return claims as Claims;
}

/**
 * Issuer and certificate subject for `token`, as Fulcio's issuer types derive them: a
 * Kubernetes ServiceAccount token becomes https://kubernetes.io/namespaces/NS/serviceaccounts/SA
 * (not its `sub`, system:serviceaccount:NS:SA), an email token its email, any other its `sub`.
 */
export function identityFromToken(token: string, source: string): KeylessIdentity {
  let claims: Claims;
  try {
    claims = claimsOf(token);
  } catch (error) {
    throw new TrustError('InvalidIdentityToken', `the OIDC token at ${source} cannot be read as a JWT (${(error as Error).message}); it must be an ID token such as a projected ServiceAccount token`);
  }
  const issuer = typeof claims.iss === 'string' ? claims.iss : undefined;
  const k8s = claims['kubernetes.io'];
  const namespace = k8s?.namespace;
  const serviceAccount = k8s?.serviceaccount?.name;
  const serviceAccountSubject = typeof namespace === 'string' && typeof serviceAccount === 'string'
    ? `https://kubernetes.io/namespaces/${namespace}/serviceaccounts/${serviceAccount}` : undefined;
  const email = serviceAccountSubject === undefined && typeof claims.email === 'string' ? claims.email : undefined;
  const subject = serviceAccountSubject ?? email ?? (typeof claims.sub === 'string' ? claims.sub : undefined);
  // Fulcio (and @sigstore/sign) certify an email only when its issuer verified it.
  if (email !== undefined && claims.email_verified !== true && claims.email_verified !== 'true') {
    throw new TrustError('InvalidIdentityToken', `the OIDC token at ${source} names an email its issuer has not verified (email_verified is not true); Fulcio certifies only verified emails`);
  }
  if (!issuer || !subject) {
    throw new TrustError('InvalidIdentityToken', `the OIDC token at ${source} has no ${issuer ? 'subject (sub)' : 'issuer (iss)'} claim; Fulcio certifies only tokens that carry both`);
  }
  return { issuer, subject };
}
