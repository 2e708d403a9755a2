// The payload of a legacy cosign signature (`.sig` tag layer): "simple signing" JSON naming the
// image digest. Only the digest is binding; cosign writes the repository as docker-reference.
export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';

export interface SimpleSigningPayload {
  critical: { identity: { 'docker-reference': string }; image: { 'docker-manifest-digest': string }; type: string };
  optional: Record<string, unknown> | null;
}

export function simpleSigningPayload(dockerReference: string, digest: string, optional: Record<string, string> | null = null): Buffer {
  const payload: SimpleSigningPayload = {
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: SIMPLE_SIGNING_TYPE },
    optional,
  };
  return Buffer.from(JSON.stringify(payload));
}

/** The digest a simple-signing payload vouches for, or why it vouches for none. */
export function simpleSigningDigest(payload: Buffer): { digest: string } | { error: string } {
  let doc: Partial<SimpleSigningPayload>;
  try {
    doc = JSON.parse(payload.toString('utf8')) as Partial<SimpleSigningPayload>;
  } catch {
    return { error: 'payload is not JSON' };
  }
  if (doc.critical?.type?.toLowerCase() !== SIMPLE_SIGNING_TYPE) return { error: `payload type is ${String(doc.critical?.type)}, not "${SIMPLE_SIGNING_TYPE}"` };
  const digest = doc.critical.image?.['docker-manifest-digest'];
  if (typeof digest !== 'string') return { error: 'payload names no docker-manifest-digest' };
  return { digest };
}
