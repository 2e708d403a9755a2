// Turns a run's TrustOptions into what verification and signing use: the accepted signers
// (public keys from Secrets, keyless identities and their Fulcio roots) and our own signer.
// Loaded once per run; Secrets are read through the caller's readSecret.
import { readFile } from 'node:fs/promises';
import type { SignatureFormat, TrustOptions } from './options.ts';
import { parseCertificate } from './certificate.ts';
import { TrustError, contentFreeProblem } from './errors.ts';
import { loadPrivateKey, loadPublicKey } from './keys.ts';
import type { SignerPolicy } from './policy.ts';
import { keySigner, keylessSigner, type ArtifactSigner } from './signer.ts';
import { isTrustedRoot, readTrustedRootFile, resolveTrustedRoot, type TrustedRoot } from './trusted-root.ts';
import { identityFromToken } from './token-identity.ts';

async function secret(trust: TrustOptions, name: string, key: string): Promise<Buffer> {
  if (!trust.readSecret) throw new TrustError('SecretUnavailable', `Secret ${name} is named in the spec but this run has no way to read Secrets`);
  try {
    return await trust.readSecret(name, key);
  } catch (error) {
    throw new TrustError('SecretUnavailable', `cannot read key ${key} of Secret ${name}: ${(error as Error).message}`);
  }
}

/**
 * Whether a readSecret failure means the Secret has no such key (the controller's
 * SecretKeyNotFound, or a missing file: ENOENT), as opposed to a real failure (403, 500, I/O).
 */
export function isMissingSecretKey(error: unknown): boolean {
  const missing = (e: unknown) => {
    const { reason, code } = (e ?? {}) as { reason?: unknown; code?: unknown };
    return reason === 'SecretKeyNotFound' || code === 'ENOENT';
  };
  return missing(error) || missing((error as { cause?: unknown } | undefined)?.cause);
}

/** An optional key of a Secret: undefined only when the key is absent; other failures throw. */
async function optionalSecret(trust: TrustOptions, name: string, key: string): Promise<Buffer | undefined> {
  if (!trust.readSecret) throw new TrustError('SecretUnavailable', `Secret ${name} is named in the spec but this run has no way to read Secrets`);
  try {
    return await trust.readSecret(name, key);
  } catch (error) {
    if (isMissingSecretKey(error)) return undefined;
    throw new TrustError('SecretUnavailable', `cannot read key ${key} of Secret ${name}: ${(error as Error).message}`);
  }
}

/** Fulcio CA chains from a sigstore trusted_root.json (TrustedRoot, object or JSON text). */
export function certificateAuthorities(trustedRoot: unknown): SignerPolicy['certificateAuthorities'] {
  if (trustedRoot === undefined || trustedRoot === null) return [];
  if (isTrustedRoot(trustedRoot)) return trustedRoot.certificateAuthorities;
  let root: TrustedRootJson;
  try {
    root = (typeof trustedRoot === 'string' ? JSON.parse(trustedRoot) : trustedRoot) as TrustedRootJson;
    return (root.certificateAuthorities ?? []).map((ca) => (ca.certChain?.certificates ?? [])
      .map((c) => parseCertificate(Buffer.from(c.rawBytes ?? '', 'base64'))));
  } catch (error) {
    throw new TrustError('InvalidTrustedRoot', `the trusted root is not a sigstore trusted_root.json (${contentFreeProblem(error)})`);
  }
}

interface TrustedRootJson {
  certificateAuthorities?: { certChain?: { certificates?: { rawBytes?: string }[] } }[];
}

/**
 * Reads a trusted_root.json once (flags name it; the controller reads it at start), checked as
 * sigstore-go checks one and holding at least one Fulcio CA, so a wrong file fails at once
 * rather than at the first verification. Returns the JSON object for TrustOptions.
 */
export async function loadTrustedRoot(file: string): Promise<object> {
  const root = await readTrustedRootFile(file);
  if (root.certificateAuthorities.length === 0) {
    throw new TrustError('InvalidTrustedRoot', `the trusted root ${file} names no Fulcio certificate authority (certificateAuthorities[].certChain.certificates); keyless signatures could not be verified against it`);
  }
  return root.json;
}

/**
 * The formats Sign and Attest write: TrustOptions.signatureFormats, else both, except that an
 * explicit legacySignatureTag: false keeps to bundles (the CLI's old opt-in flag).
 */
export function signatureFormats(trust: TrustOptions | undefined): SignatureFormat[] {
  const spec = (trust?.signing as { formats?: unknown } | undefined)?.formats;
  const formats = trust?.signatureFormats ?? (Array.isArray(spec) ? spec.filter((f): f is SignatureFormat => f === 'bundle' || f === 'legacy') : undefined);
  if (formats && formats.length > 0) return [...new Set(formats)];
  return trust?.legacySignatureTag === false ? ['bundle'] : ['bundle', 'legacy'];
}

/** The trusted root verification uses: TrustOptions.trustedRoot, keyless.trustedRoot, else the built-in public-good root. */
export function trustedRootOf(trust: TrustOptions): Promise<TrustedRoot> {
  return resolveTrustedRoot(trust.trustedRoot ?? trust.keyless?.trustedRoot, trust.trustedRoot !== undefined ? 'the configured trusted root' : 'the --trusted-root file');
}

/**
 * The operator's own trusted root (the controller's --trusted-root, the CLI's --trusted-root),
 * else the built-in public-good root. Our own signatures are recognised, and admission is
 * judged, against it only: a manifest's spec.verification.trustedRoot decides what staging
 * signatures verify (trustedRootOf), never which signatures count as the controller's, or a
 * tenant could name a root under which a forged signature passes for ours.
 */
export function ownTrustedRootOf(trust: TrustOptions): Promise<TrustedRoot> {
  return resolveTrustedRoot(trust.keyless?.trustedRoot, 'the --trusted-root file');
}

/** Whether Fulcio is the public-good instance, whose CAs the built-in trusted root holds. */
export const isPublicGoodFulcio = (url: string | undefined) => url !== undefined && /^https:\/\/fulcio\.sigstore\.dev\/?$/.test(url);

/** Spec fields the API may carry (spec.verification.signatures.insecureIgnoreTlog/insecureIgnoreSCT); read when present. */
function specFlag(trust: TrustOptions, name: 'insecureIgnoreTlog' | 'insecureIgnoreSCT'): boolean | undefined {
  const value = (trust.verification?.signatures as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'boolean' ? value : undefined;
}

async function tokenIdentity(tokenPath: string): Promise<{ issuer: string; subject: string }> {
  let token: string;
  try {
    token = await readFile(tokenPath, 'utf8');
  } catch (error) {
    throw new TrustError('IdentityTokenUnavailable', `cannot read the OIDC token at ${tokenPath} (${(error as Error).message}); mount a projected ServiceAccount token there`);
  }
  return identityFromToken(token, tokenPath);
}

/**
 * Why keyless signing cannot run as configured: without a trusted root holding a Fulcio CA the
 * signer cannot recognise the signatures and attestations it made before, so every run would
 * request a new certificate and push new ones. Undefined when keyless signing is not asked for
 * or has its root.
 */
export function keylessTrustedRootProblem(trust: TrustOptions): string | undefined {
  if (!trust.signing?.keyless) return undefined;
  // The public-good Fulcio's CAs are in the built-in root. A manifest's own root does not count:
  // our signatures are recognised against the operator's root only (ownTrustedRootOf).
  if (isPublicGoodFulcio(trust.keyless?.fulcioURL) && trust.keyless?.trustedRoot === undefined) return undefined;
  const roots = certificateAuthorities(trust.keyless?.trustedRoot);
  if (roots.length > 0 && roots.every((chain) => chain.length > 0)) return undefined;
  return 'spec.signing.keyless needs a sigstore trusted_root.json with the Fulcio roots: without it Hoist cannot recognise the '
    + 'signatures and attestations it made before, and every run would sign and attest again. Give the controller '
    + '--trusted-root FILE (chart: controller.trustedRoot), or run hoist promote with --trusted-root FILE';
}

const policies = new WeakMap<TrustOptions, Promise<SignerPolicy>>();
const signers = new WeakMap<TrustOptions, Promise<ArtifactSigner | undefined>>();

/** The signers spec.verification.signatures accepts. */
export function signerPolicy(trust: TrustOptions): Promise<SignerPolicy> {
  let policy = policies.get(trust);
  if (!policy) {
    policy = (async () => {
      const spec = trust.verification?.signatures;
      const keys = await Promise.all((spec?.keys ?? []).map(async ({ secretRef }) => ({
        name: secretRef.name, key: loadPublicKey(await secret(trust, secretRef.name, 'cosign.pub'), `cosign.pub of Secret ${secretRef.name}`),
      })));
      const identities = (spec?.identities ?? []).map((i) => ({ ...(i.issuer && { issuer: i.issuer }), ...(i.issuerRegExp && { issuerRegExp: i.issuerRegExp }), ...(i.subject && { subject: i.subject }), ...(i.subjectRegExp && { subjectRegExp: i.subjectRegExp }) }));
      const trustedRoot = await trustedRootOf(trust);
      const ignoreTlog = trust.insecureIgnoreTlog ?? specFlag(trust, 'insecureIgnoreTlog');
      const ignoreSCT = trust.insecureIgnoreSCT ?? specFlag(trust, 'insecureIgnoreSCT');
      return {
        keys, identities, certificateAuthorities: trustedRoot.certificateAuthorities, trustedRoot,
        ...(ignoreTlog && { ignoreTlog }), ...(ignoreSCT && { ignoreSCT }),
      };
    })();
    policies.set(trust, policy);
  }
  return policy;
}

/** Our signer from spec.signing, or undefined when the spec does not sign. */
export function artifactSigner(trust: TrustOptions): Promise<ArtifactSigner | undefined> {
  let signer = signers.get(trust);
  if (!signer) {
    signer = (async () => {
      const spec = trust.signing;
      if (spec?.key) {
        const name = spec.key.secretRef.name;
        const pem = await secret(trust, name, 'cosign.key');
        // No cosign.password key means an empty password; failing to read it (403, 500) is not that.
        const password = await optionalSecret(trust, name, 'cosign.password');
        return keySigner(await loadPrivateKey(pem, password, `cosign.key of Secret ${name}`), name, trust.signingServices, await ownTrustedRootOf(trust));
      }
      if (spec?.keyless) {
        const noRoot = keylessTrustedRootProblem(trust);
        if (noRoot) throw new TrustError('KeylessNeedsTrustedRoot', noRoot);
        const k = trust.keyless;
        if (!k?.fulcioURL || !k.tokenPath) {
          throw new TrustError('IdentityTokenUnavailable', 'keyless signing needs a Fulcio URL and an OIDC token file; set them in the run\'s keyless trust options (--fulcio-url, --keyless-token-path)');
        }
        // Without a configured identity, the token's claims say who Fulcio will certify: read once
        // per run, since a projected token rotates but keeps its issuer and ServiceAccount.
        const expectedIdentity = k.identity ?? await tokenIdentity(k.tokenPath);
        const own = await ownTrustedRootOf(trust);
        return keylessSigner({
          fulcioURL: k.fulcioURL, tokenPath: k.tokenPath, certificateAuthorities: own.certificateAuthorities, trustedRoot: own, expectedIdentity,
          ...(trust.signingServices && { services: trust.signingServices }),
        });
      }
      return undefined;
    })();
    signers.set(trust, signer);
  }
  return signer;
}
